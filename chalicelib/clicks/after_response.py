"""Publish the click after the response: the redirect holds its envelope, a flusher puts what is
held on the stream once the visitor has the answer, before the environment takes another request.

- ``HELD``: one per process. The redirect ``hold``s an encoded envelope (with the publisher that
  will put it); ``flush`` sends everything held in batched PutRecords, SQS for what Kinesis
  refuses (``StreamPublisher.publish_batch``), and never raises.
- ``answered()``: called when a request's answer is ready (app.py's middleware, every HTTP
  request of the API function, a redirect or not).
- Who flushes, by ``start()``:
  - on Lambda, ``RuntimeHook``: the runtime's own thread, right after it has posted the
    invocation's result and before it asks for the next invocation. At init the posts of the
    runtime's client (awslambdaric's, which Lambda's Python runtimes loop on) are wrapped
    (``hook_runtime_posts``); each post, once it returned, flushes. Lambda hands the caller the
    response when the runtime posts it and starts the next invocation (or freezes or shuts
    down the environment) only when the runtime asks for it, so the click is published after
    the visitor has the answer and before anything else can happen to the environment. No
    thread of ours runs beside the handler, and Lambda has no extension to wait for. Should the
    hooked posts never run (a runtime that posts some other way), the next answer finds the
    last one unposted: ``HELD`` closes (what it holds is published then) and the redirect
    publishes before its answer from then on.
  - on Lambda with no runtime client it knows, ``LambdaExtension``: an internal extension, a
    thread registered through the Extensions API for INVOKE (an internal extension cannot
    register for SHUTDOWN) that watches the runtime's thread until it waits for its next
    invocation, flushes, and only then asks for its next event (Lambda waits for every
    extension too). Should its loop end, it closes ``HELD``.
  - elsewhere (the local stack, a plain server), ``BackgroundFlusher``: a thread that flushes
    whenever something was answered; ``close()`` flushes what is left at shutdown.

What is at risk: a process killed between the answer and the end of the flush loses what it held,
which is the one invocation's click (docs/operations.md, "Publishing after the response").

Plain Python (threading, json); http.client (which loads ssl: ~30 ms) only where the extension
talks to the Runtime API, so `import app` pays nothing for it in any mode.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

AFTER_RESPONSE, SYNC = "after-response", "sync"
MODES = (AFTER_RESPONSE, SYNC)
EXTENSION_NAME = "rebound-after-response"
SWITCH_INTERVAL = 0.0005  # seconds (sys.setswitchinterval): see LambdaExtension.start
API_VERSION = "2020-01-01"


def mode(env: Any = None) -> str:
    """``REBOUND_PUBLISH_MODE`` (a stage setting): ``after-response`` or ``sync`` (the default
    when unset, as in the tests; a value that is neither is refused at init, not guessed)."""
    value = (os.environ if env is None else env).get("REBOUND_PUBLISH_MODE") or SYNC
    if value not in MODES:
        raise ValueError(f"REBOUND_PUBLISH_MODE must be one of {', '.join(MODES)}, not {value!r}")
    return value


class BatchPublisher(Protocol):
    def publish_batch(self, items: list[tuple[bytes, str]]) -> Counter[str]: ...


class Held:
    """The envelopes answered but not yet published, in the order they were answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time, so a flush sees all before it
        self._items: list[tuple[BatchPublisher, bytes | Callable[[], bytes], str]] = []
        self._later: list[Callable[[], Any]] = []  # what else waits for the flush (metrics)
        # False once the flusher has stopped (a flusher's start opens it again): nothing may be
        # held then, no one would publish it; hold refuses and later runs at once.
        self.open = True
        self._answered = threading.Condition(threading.Lock())
        self._answers = 0
        self.posts = 0  # results the runtime's hooked client posted
        self.answerer: int | None = None  # the thread that answered last (the runtime's)
        # Told where each flush's clicks went (app.py: the fallback and lost clicks' metrics).
        self.on_flush: Any = None
        # RuntimeHook (``flush_on_posts``): the runtime's thread flushes right after it posts.
        self.flush_on_post = False
        # Threads that answered and have not posted since (RuntimeHook's check): a runtime
        # thread answers, then posts, per invocation (per thread where invocations run at once).
        self._unposted: set[int] = set()

    def hold(self, publisher: BatchPublisher, data: bytes | Callable[[], bytes], key: str) -> bool:
        """``data``: the encoded envelope, or what makes it (called by the flush, after the
        response: the redirect's answer then waits for neither the record nor its JSON).
        False (nothing held) when no flusher runs: the caller publishes it itself."""
        with self._lock:
            if not self.open:
                return False
            self._items.append((publisher, data, key))
            return True

    def close(self) -> Counter[str]:
        """The flusher stops: hold nothing more, and publish what is held."""
        with self._lock:
            self.open = False
        return self.flush()

    def later(self, work: Callable[[], Any]) -> None:
        """Run ``work`` in the next flush, after the clicks are published: what the visitor's
        answer need not wait for (the request's metric line). Never raises there. When no
        flusher runs, at once."""
        with self._lock:
            if self.open:
                self._later.append(work)
                return
        try:
            work()
        except Exception as exc:
            log.warning("after-response work failed: %s", type(exc).__name__)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items) + len(self._later)

    def flush(self) -> Counter[str]:
        """Publish everything held (one PutRecords per publisher and 500 records). Never raises:
        what neither Kinesis nor SQS took is logged by click id, as in sync mode."""
        with self._flushing:
            with self._lock:
                items, self._items = self._items, []
                later, self._later = self._later, []
            where: Counter[str] = Counter()
            groups: dict[int, tuple[BatchPublisher, list[tuple[bytes, str]]]] = {}
            for publisher, data, key in items:
                if callable(data):
                    try:
                        data = data()
                    except Exception as exc:  # a bug in the record's making: this click only
                        log.error("click %s not recorded: %s", key, type(exc).__name__)
                        where["lost"] += 1
                        continue
                groups.setdefault(id(publisher), (publisher, []))[1].append((data, key))
            for publisher, batch in groups.values():
                try:
                    where.update(publisher.publish_batch(batch))
                except Exception as exc:  # publish_batch never raises; a bug still must not
                    log.error("%d clicks not published: %s", len(batch), type(exc).__name__)
                    where["lost"] += len(batch)
            if where and self.on_flush is not None:
                try:
                    self.on_flush(where)
                except Exception as exc:  # a metric is never worth a click
                    log.warning("after-response flush not counted: %s", type(exc).__name__)
            for work in later:
                try:
                    work()
                except Exception as exc:
                    log.warning("after-response work failed: %s", type(exc).__name__)
            return where

    def discard(self) -> int:
        """What a process that dies now loses (tests and the fault benchmark): the clicks held
        (and what waited to run after them)."""
        with self._lock:
            lost, self._items, self._later = len(self._items), [], []
        return lost

    # --- the answered signal ------------------------------------------------------------------

    def answered(self) -> None:
        thread = threading.get_ident()
        with self._answered:
            self._answers += 1
            self.answerer = thread
            self._answered.notify_all()
        if self.flush_on_post:
            if thread in self._unposted:  # its last answer was never followed by a post
                self._posts_do_not_flush()
            self._unposted.add(thread)

    def _posts_do_not_flush(self) -> None:
        """A runtime thread answered twice and its hooked posts ran for neither: it posts some other
        way. Publish what is held now (the last invocation's click and this one's, before this
        answer) and hold nothing more: the redirect publishes before its answer from here on."""
        log.warning(
            "after-response off: the runtime's posts do not flush; publishing before the answer"
        )
        self.flush_on_posts(False)
        self.close()

    def wait_answered(self, seen: int, timeout: float | None) -> int:
        """Block until more than ``seen`` requests were answered (or ``timeout``); returns the
        count of answers so far."""
        with self._answered:
            self._answered.wait_for(lambda: self._answers > seen, timeout)
            return self._answers

    # --- the runtime has handed Lambda the invocation's result ---------------------------------

    def flush_on_posts(self, enabled: bool) -> None:
        """Whether each post flushes (``RuntimeHook``); either way no answer is owed a post."""
        self._unposted.clear()
        self.flush_on_post = enabled

    def posted(self) -> None:
        """The runtime has posted an invocation's result (its hooked client, in its thread)."""
        with self._lock:
            self.posts += 1
        if self.flush_on_post:
            self._unposted.discard(threading.get_ident())
            self.flush()  # never raises: the runtime's loop goes on to its next invocation


HELD = Held()


def answered() -> None:
    """The current request's answer is ready: what it held may be published."""
    HELD.answered()


def middleware(event: Any, get_response: Any) -> Any:
    """Chalice HTTP middleware: every request of the API function, whatever its route or
    outcome, signals ``answered`` once its answer is made."""
    try:
        return get_response(event)
    finally:
        HELD.answered()


# --- On Lambda: the runtime's thread, right after its post ----------------------------------------

# Where the Python runtime posts an invocation's result to the Runtime API: awslambdaric's client
# (Lambda's python3.12+ runtimes run their loop on it: bootstrap.run calls
# ``post_invocation_result`` or ``post_invocation_error`` once per invocation, then
# ``wait_next_invocation``). 4.2.2 (checked) defines them on a base class, older versions on the
# client itself; whichever class defines them is hooked. Looked up in ``sys.modules`` only: the runtime has loaded it
# before it imports the handler, and nothing here imports it (the local stack has none).
RUNTIME_CLIENTS = [
    "awslambdaric.lambda_runtime_client:BaseLambdaRuntimeClient",
    "awslambdaric.lambda_runtime_client:LambdaRuntimeClient",
]
RUNTIME_POSTS = ("post_invocation_result", "post_invocation_error")


def hook_runtime_posts(held: Held = HELD, clients: list[str] | None = None) -> bool:
    """Make the runtime's posts of a result call ``held.posted()`` once they return (or fail),
    in the runtime's thread: the moment the caller has its response and before the runtime asks
    for the next invocation. Whether a client was found (else ``start`` falls back to the
    internal extension)."""
    hooked = False
    for where in RUNTIME_CLIENTS if clients is None else clients:
        module_name, _, class_name = where.partition(":")
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if not isinstance(cls, type):
            continue
        for name in RUNTIME_POSTS:
            original = cls.__dict__.get(name)
            if not callable(original):
                continue
            if hasattr(original, "signals"):  # hooked before (a second init): signal ``held``
                original.signals = held
            else:
                setattr(cls, name, _signalling(original, held))
            hooked = True
    return hooked


def _signalling(post: Callable[..., Any], held: Held) -> Callable[..., Any]:
    def posting(*args: Any, **kwargs: Any) -> Any:
        try:
            return post(*args, **kwargs)
        finally:
            posting.signals.posted()  # type: ignore[attr-defined]

    posting.signals = held  # type: ignore[attr-defined]
    posting.__wrapped__ = post  # type: ignore[attr-defined]
    return posting


class RuntimeHook:
    """The flusher where the runtime's client is known (on Lambda, awslambdaric): each post of a
    result flushes, in the runtime's thread, before it asks for the next invocation. Lambda
    counts that time in the invocation (billed, under its timeout), not in the caller's wait:
    the Invoke phase ends when the runtime asks for its next event
    (docs/operations.md, "Publishing after the response")."""

    def __init__(self, held: Held = HELD):
        self.held = held

    def start(self) -> RuntimeHook:
        if not hook_runtime_posts(self.held):
            raise LookupError("no runtime client known")
        self.held.flush_on_posts(True)
        self.held.open = True
        return self

    def close(self) -> None:
        """Hold nothing more, publish what is held (a test's environment ending)."""
        self.held.flush_on_posts(False)
        self.held.close()


# --- On Lambda, no client known: an internal extension -------------------------------------------


class ExtensionsAPI:
    """The Lambda Extensions API at ``AWS_LAMBDA_RUNTIME_API`` (host:port), over plain HTTP."""

    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.identifier: str | None = None
        self._conn: Any = None  # the keep-alive connection of the next-event requests

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
        # No timeout: the next-event call blocks while the environment is frozen between
        # invocations, which may be minutes.
        import http.client  # on Lambda in after-response mode only: see the module docstring

        conn = http.client.HTTPConnection(self.host, self.port)
        try:
            conn.request(method, f"/{API_VERSION}/extension/{path}", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"extension {path}: HTTP {resp.status} {data[:200]!r}")
            return resp, data
        finally:
            conn.close()

    def register(self, name: str = EXTENSION_NAME) -> str:
        body = json.dumps({"events": ["INVOKE"]}).encode()
        resp, _ = self._request("POST", "register", body, {"Lambda-Extension-Name": name})
        identifier = resp.getheader("Lambda-Extension-Identifier")
        if not identifier:
            raise RuntimeError("extension register: no Lambda-Extension-Identifier")
        self.identifier = identifier
        return identifier

    def next_event(self) -> dict[str, Any]:
        """Ask for the next event and wait for it (``ask_next`` then ``read_next``)."""
        self.ask_next()
        return self.read_next()

    # The next event in two halves, so that the extension can ask for it, then wait for the
    # handler's answer without reading it: the event's bytes wait in the socket meanwhile, and
    # parsing them takes no interpreter time from the handler or from the post of its response.
    # One keep-alive connection for these (the register has its own).

    def ask_next(self) -> None:
        import http.client  # see _request

        assert self.identifier, "register first"
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port)
        try:
            self._conn.request(
                "GET",
                f"/{API_VERSION}/extension/event/next",
                headers={"Lambda-Extension-Identifier": self.identifier},
            )
        except Exception:
            self.close()
            raise

    def arrived(self) -> bool:
        """The asked-for event (or an error) is there to read: a look, no wait."""
        import select

        sock = self._conn.sock if self._conn is not None else None
        return sock is None or bool(select.select([sock], [], [], 0)[0])

    def read_next(self) -> dict[str, Any]:
        assert self._conn is not None, "ask_next first"
        try:
            resp = self._conn.getresponse()
            data = resp.read()
        except Exception:
            self.close()
            raise
        if resp.status != 200:
            self.close()
            raise RuntimeError(f"extension event/next: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data or b"{}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LambdaExtension:
    """The internal extension's loop, where no runtime client is known (``RuntimeHook`` is not
    possible): ask for an event; when the handler has answered and the runtime waits for its
    next invocation, read the event, flush, ask again. Registration happens in ``start``
    (init), before the runtime's first request for an invocation: Lambda refuses an extension
    that registers after that.

    Nothing of the extension runs while the handler works: it sleeps on the answered signal,
    then watches the runtime's thread (``wait_until_posted``); never on the socket where the
    INVOKE event arrives at the same moment as the runtime's. An invocation that does not
    signal in ``poll`` seconds (not an HTTP request) is found by a look at that socket and
    waited for until its deadline."""

    def __init__(self, api: ExtensionsAPI, held: Held = HELD, poll: float = 0.25):
        self.api = api
        self.held = held
        self.poll = poll
        self.thread: threading.Thread | None = None
        self.events: Counter[str] = Counter()
        self._stop = threading.Event()

    def close(self, timeout: float = 2) -> None:
        """Stop the loop (within ``poll``) and flush: a process that ends its environment itself
        (tests; on Lambda the process just ends)."""
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout)
        self.api.close()
        self.held.flush()

    def start(self) -> LambdaExtension:
        self.api.register()
        self.held.open = True
        # A runtime thread that needs the interpreter while the flush holds it gets it within
        # 0.5 ms, not the default 5: the bound on what a flush that started too early costs.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.thread = threading.Thread(target=self.run, name=EXTENSION_NAME, daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        try:
            self._loop()
        finally:
            # However the loop ended, nothing more is held: a click is published before its
            # answer from now on, never left where no one flushes it.
            self.held.close()

    def _loop(self) -> None:
        answers = self.held.wait_answered(-1, 0)  # requests answered before the first event
        failures = 0
        while True:
            try:
                self.api.ask_next()
                answers, event = self._next(answers)
                failures = 0
            except (ConnectionError, OSError) as exc:  # a keep-alive connection dropped: anew
                failures += 1
                self.held.flush()
                if failures < 3:
                    continue
                log.warning("extension: next event failed (%s); flushing and stopping", exc)
                return
            except Exception as exc:  # Lambda is gone (shutdown) or the API broke: stop asking
                log.warning("extension: next event failed (%s); flushing and stopping", exc)
                self.held.flush()
                return
            kind = str(event.get("eventType", "")).upper()
            self.events[kind] += 1
            if kind == "SHUTDOWN":
                self.held.flush()
                return
            self.held.flush()

    def _next(self, answers: int) -> tuple[int, dict[str, Any]]:
        """Wait for the invocation's answer and the post of the response, then read its event;
        (answers so far, the event)."""
        while True:
            seen = self.held.wait_answered(answers, self.poll)
            if self._stop.is_set():
                raise RuntimeError("closed")
            if seen > answers:  # answered: once the response is posted, read the event
                if self.held.answerer is not None:
                    wait_until_posted(self.held.answerer)
                return seen, self.api.read_next()
            if self.api.arrived():  # an event and no answer yet: a slow handler, or no HTTP
                event = self.api.read_next()
                if str(event.get("eventType", "")).upper() == "INVOKE":
                    seen = self.held.wait_answered(answers, _seconds_left(event))
                    if seen > answers and self.held.answerer is not None:
                        wait_until_posted(self.held.answerer)
                return seen, event


# The runtime's thread waits for its next invocation in awslambdaric's wait_next_invocation;
# a plain-Python runtime (the fake one) reads with http.client: once for the post's answer,
# then again, from another line, for the next invocation.
NEXT = "wait_next_invocation"
READ = "readinto"
READ_SETTLE = 25  # looks (5 ms): a read that long is the next invocation's, not the post's


def wait_until_posted(
    ident: int, bound: float = 0.5, step: float = 0.0002, settle: int = 25
) -> bool:
    """Wait until the runtime's thread ``ident`` is done with the invocation: out of the handler,
    the response posted, and waiting for its next invocation (``NEXT``; a second read from
    another place than the first, or one read still over ``READ_SETTLE`` looks), or standing
    still over ``settle`` looks outside a read (a blocking call in C). Flushing earlier would take the interpreter (and a core) from the
    runtime while it still sends the post, or from Lambda's side while it hands the caller the
    response. Two looks at a still frame were not enough: a runtime thread that waits for the
    interpreter, or for a core on a busy machine, also stands still. Bounded: a runtime that is
    never seen waiting is flushed after anyway."""
    deadline = time.monotonic() + bound
    last: tuple[int, int] | None = None
    first_read: tuple[int, ...] | None = None
    same = 0
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(ident)
        if frame is None:
            return True
        if not _in_handler(frame):
            name = frame.f_code.co_name
            if name == NEXT:
                return True
            if name == READ:
                where = _lines(frame)
                if first_read is None:
                    first_read = where
                elif where != first_read:
                    return True
                mark = (id(frame), frame.f_lasti)
                same = same + 1 if mark == last else 0
                if same >= READ_SETTLE:  # the next invocation's read, its first look missed
                    return True
                last = mark
            else:
                mark = (id(frame), frame.f_lasti)
                same = same + 1 if mark == last else 0
                if same >= settle:
                    return True
                last = mark
        time.sleep(step)
    return False


def _lines(frame: Any) -> tuple[int, ...]:
    """Where a read was called from: the line of each frame of the stack."""
    lines = []
    while frame is not None:
        lines.append(frame.f_lineno)
        frame = frame.f_back
    return tuple(lines)


def _in_handler(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code is middleware.__code__:
            return True
        frame = frame.f_back
    return False


def _seconds_left(event: dict[str, Any]) -> float | None:
    """Until the invocation's deadline (then Lambda ends it anyway): a bound on the wait for an
    answer that never comes (a handler that hangs)."""
    deadline = event.get("deadlineMs")
    if not isinstance(deadline, int | float):
        return None
    return max(0.0, deadline / 1000 - time.time())


# --- Elsewhere: a background thread --------------------------------------------------------------


class BackgroundFlusher:
    """Flushes whenever a request was answered (the local stack, tests): the server's thread
    answers, this one publishes; ``close()`` flushes what is left and stops."""

    def __init__(self, held: Held = HELD):
        self.held = held
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="rebound-flusher", daemon=True)

    def start(self) -> BackgroundFlusher:
        self.held.open = True
        self.thread.start()
        return self

    def run(self) -> None:
        try:
            answers = self.held.wait_answered(-1, 0)
            while not self._stop.is_set():
                answers = self.held.wait_answered(answers, 0.5)
                if len(self.held):
                    self.held.flush()
        finally:
            self.held.close()

    def close(self, timeout: float = 10) -> None:
        self._stop.set()
        self.held.answered()  # wake it
        self.thread.join(timeout)
        self.held.flush()


_started: RuntimeHook | LambdaExtension | BackgroundFlusher | None = None


def start(env: Any = None) -> RuntimeHook | LambdaExtension | BackgroundFlusher | None:
    """The flusher for this process, once. Where Lambda's runtime API is: the runtime's thread
    after each post (``RuntimeHook``), or, with no runtime client known, the internal extension;
    elsewhere a background thread. None when the extension could not register: the caller
    publishes before the response then (nothing would flush what it held)."""
    global _started
    if _started is None:
        address = (os.environ if env is None else env).get("AWS_LAMBDA_RUNTIME_API")
        try:
            if address:
                try:
                    _started = RuntimeHook().start()
                except LookupError:
                    _started = LambdaExtension(ExtensionsAPI(address)).start()
            else:
                _started = BackgroundFlusher().start()
        except Exception as exc:
            log.error("publishing after the response is off: %s", exc)
            return None
    return _started


def stop() -> None:
    """Flush what is held and stop the flusher (the local stack at Ctrl-C; a test's fake Lambda
    before the next environment's init)."""
    global _started
    if _started is not None:
        _started.close()
        _started = None
    else:
        HELD.flush()
