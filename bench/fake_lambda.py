"""A stand-in for Lambda's service side on 127.0.0.1: the Runtime API and the Extensions API of
one execution environment, and a runtime loop like the Python runtime's, for the after-response
tests and benchmark.

Like Lambda (docs/operations.md, "Publishing after the response"):

- an extension registers during init, before the runtime first asks for an invocation; an
  internal extension may not register for SHUTDOWN;
- the caller gets the response when the runtime posts it
  (``POST /2018-06-01/runtime/invocation/{id}/response``);
- the next invocation (or the shutdown) starts only when the runtime and every extension have
  asked for their next event.

``log`` records the order of what happened: ``("invoke", id)``, ``("response", id)`` (the
caller has it), ``("shutdown", "")``, and whatever a test notes with ``note``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RUNTIME = "/2018-06-01/runtime/invocation"
EXTENSION = "/2020-01-01/extension"
WAIT = 30.0  # a bound on every blocking wait: a test never hangs


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime or extension process that went away (killed by a test) resets its
        connections: not an error of the fake's. Anything else is printed as usual."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeLambda:
    def __init__(self, function_name: str = "rebound-local") -> None:
        self.function_name = function_name
        self.cond = threading.Condition()
        self.log: list[tuple[str, str]] = []
        self.extensions: dict[str, dict[str, Any]] = {}
        self.registrations: list[dict[str, Any]] = []  # what each register request asked
        self.runtime_ready = False
        self.init_done = False
        self.invocations: list[dict[str, Any]] = []
        self.taken = 0  # invocations the runtime took
        # ... and whose event it was sent: an extension is sent its INVOKE after that, so the
        # fake (one Python process, unlike Lambda's service) never makes the runtime's event
        # wait while it writes an extension's.
        self.delivered = 0
        self.responses: dict[str, bytes] = {}
        self.started_at: dict[str, float] = {}
        self.answered_at: dict[str, float] = {}
        self.shutting_down = False
        self.closed = False
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> FakeLambda:
        self.thread.start()
        return self

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def note(self, what: str, detail: str = "") -> None:
        with self.cond:
            self.log.append((what, detail))
            self.cond.notify_all()

    # --- the caller's side ------------------------------------------------------------------

    def _everyone_waiting(self) -> bool:
        """The runtime and every extension asked for the next event, each extension after it
        was sent every invocation so far: as Lambda, which starts the next invocation only once
        each extension has received this one and asked again. (Without the second condition, a
        runtime that answered and asked again before an extension's thread had even taken its
        INVOKE looked like an environment ready for the next invocation: seen on a loaded
        machine, the next invocation started before the previous click was flushed.)"""
        invoked = len(self.invocations)
        return self.runtime_ready and all(
            e["ready"] and e["seen"] >= invoked for e in self.extensions.values()
        )

    def invoke(self, event: dict[str, Any], timeout: float = WAIT) -> dict[str, Any]:
        """Start an invocation once the runtime and every extension asked for it; return the
        response when the runtime posts it."""
        with self.cond:
            if not self.cond.wait_for(self._everyone_waiting, timeout):
                raise TimeoutError(f"the environment is not ready: {self.state()}")
            request_id = str(uuid.uuid4())
            self.invocations.append({"id": request_id, "event": event})
            self.log.append(("invoke", request_id))
            self.started_at[request_id] = time.perf_counter()
            self.cond.notify_all()
            if not self.cond.wait_for(lambda: request_id in self.responses, timeout):
                raise TimeoutError(f"no response to {request_id}: {self.state()}")
            return json.loads(self.responses[request_id])

    def seconds_to_response(self, request_id: str | None = None) -> float:
        """From the invocation's start to the runtime's post of its response (the last one's)."""
        rid = request_id or self.invocations[-1]["id"]
        return self.answered_at[rid] - self.started_at[rid]

    def shutdown(self, timeout: float = WAIT) -> None:
        """Lambda's Shutdown phase: once everyone waits, the environment ends (an extension
        registered for SHUTDOWN would be told; an internal one cannot register for it)."""
        with self.cond:
            if not self.cond.wait_for(self._everyone_waiting, timeout):
                raise TimeoutError(f"the environment is not ready to shut down: {self.state()}")
            self.shutting_down = True
            self.log.append(("shutdown", ""))
            self.cond.notify_all()

    def wait_ready(self, timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(self._everyone_waiting, timeout)

    def state(self) -> dict[str, Any]:
        return {
            "runtime_ready": self.runtime_ready,
            "extensions": {e["name"]: e["ready"] for e in self.extensions.values()},
            "invocations": len(self.invocations),
            "responses": len(self.responses),
        }


def _handler(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one send, no Nagle: a keep-alive response split in two waits for
        # the client's delayed ACK (40 ms) and would swamp what is measured.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            body = self._body()
            if self.path == f"{EXTENSION}/register":
                self._register(body)
            elif self.path.startswith(RUNTIME + "/") and self.path.endswith(
                ("/response", "/error")
            ):
                # An error's body is the caller's response too (Lambda: FunctionError)
                request_id = self.path[len(RUNTIME) + 1 :].rpartition("/")[0]
                with fake.cond:
                    fake.responses[request_id] = body
                    fake.answered_at[request_id] = time.perf_counter()
                    fake.log.append(("response", request_id))
                    fake.cond.notify_all()
                self._reply(202, {"status": "OK"})
            else:
                self._reply(404, {"errorType": "NotFound"})

        def _register(self, body: bytes) -> None:
            name = self.headers.get("Lambda-Extension-Name") or ""
            try:
                events = json.loads(body or b"{}").get("events") or []
            except ValueError:
                events = None
            with fake.cond:
                fake.registrations.append({"name": name, "events": events})
                if fake.init_done:
                    return self._reply(403, {"errorType": "Extension.InitPhaseOver"})
                if not name or not isinstance(events, list):
                    return self._reply(400, {"errorType": "InvalidRequest"})
                if "SHUTDOWN" in events:  # an internal extension: the runtime process stops it
                    return self._reply(400, {"errorType": "Extension.InvalidEventType"})
                ident = str(uuid.uuid4())
                fake.extensions[ident] = {"name": name, "events": events, "ready": False, "seen": 0}
            self._reply(
                200,
                {"functionName": fake.function_name, "functionVersion": "$LATEST"},
                {"Lambda-Extension-Identifier": ident},
            )

        def do_GET(self) -> None:
            if self.path == f"{EXTENSION}/event/next":
                self._extension_next()
            elif self.path == f"{RUNTIME}/next":
                self._runtime_next()
            else:
                self._reply(404, {"errorType": "NotFound"})

        def _extension_next(self) -> None:
            ext = fake.extensions.get(self.headers.get("Lambda-Extension-Identifier") or "")
            if ext is None:
                return self._reply(403, {"errorType": "Extension.UnknownExtensionIdentifier"})
            with fake.cond:
                ext["ready"] = True
                fake.cond.notify_all()
                fake.cond.wait_for(
                    lambda: fake.closed or fake.shutting_down or fake.delivered > ext["seen"],
                    WAIT,
                )
                if fake.delivered > ext["seen"]:
                    invocation = fake.invocations[ext["seen"]]
                    ext["seen"] += 1
                    ext["ready"] = False
                    event = {
                        "eventType": "INVOKE",
                        "requestId": invocation["id"],
                        "deadlineMs": int((time.time() + 10) * 1000),
                        "invokedFunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{fake.function_name}",
                    }
                    return self._reply(200, event)
                if fake.shutting_down and "SHUTDOWN" in ext["events"]:
                    return self._reply(200, {"eventType": "SHUTDOWN", "shutdownReason": "spindown"})
            # Closed, or a shutdown this extension is not told of: the process ends under it.
            self._reply(500, {"errorType": "Runtime.ExitError"})

        def _runtime_next(self) -> None:
            with fake.cond:
                fake.init_done = True
                fake.runtime_ready = True
                fake.cond.notify_all()
                fake.cond.wait_for(
                    lambda: fake.closed or fake.shutting_down or len(fake.invocations) > fake.taken,
                    WAIT,
                )
                if len(fake.invocations) <= fake.taken:
                    return self._reply(500, {"errorType": "Runtime.ExitError"})
                invocation = fake.invocations[fake.taken]
                fake.taken += 1
                fake.runtime_ready = False
            self._reply(
                200,
                invocation["event"],
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation["id"],
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 10) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:123456789012:function:{fake.function_name}",
                },
            )
            with fake.cond:
                fake.delivered += 1
                fake.cond.notify_all()

    return Handler


class Context:
    """The Lambda context the runtime hands the handler."""

    def __init__(self, request_id: str, function_name: str) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "fake"
        self._deadline = time.time() + 10

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.time()) * 1000)


class RuntimeClient:
    """The runtime's side of the Runtime API, shaped like awslambdaric's client (Lambda's Python
    runtime): ``wait_next_invocation``, then ``post_invocation_result`` (or
    ``post_invocation_error``). The after-response extension hooks the posts of this class as
    it hooks awslambdaric's (``after_response.RUNTIME_CLIENTS``, to which this module adds it)."""

    def __init__(self, address: str) -> None:
        import http.client

        host, _, port = address.rpartition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=WAIT + 5)

    def wait_next_invocation(self) -> tuple[str, bytes] | None:
        """(request id, event) of the next invocation; None once Lambda stops answering."""
        try:
            self.conn.request("GET", f"{RUNTIME}/next")
            resp = self.conn.getresponse()
            body = resp.read()
        except OSError:
            return None
        if resp.status != 200:
            return None
        return resp.getheader("Lambda-Runtime-Aws-Request-Id") or "", body

    def post_invocation_result(self, invoke_id: str, result_data: bytes) -> None:
        self.conn.request(
            "POST",
            f"{RUNTIME}/{invoke_id}/response",
            body=result_data,
            headers={"Content-Type": "application/json"},
        )
        self.conn.getresponse().read()

    def post_invocation_error(self, invoke_id: str, error_data: bytes) -> None:
        self.conn.request("POST", f"{RUNTIME}/{invoke_id}/error", body=error_data)
        self.conn.getresponse().read()


class UnhookedRuntimeClient(RuntimeClient):
    """The same client with posts of its own: an environment whose runtime nothing hooks (the
    benchmark's sides other than after-response, in the same process as the one it hooks). The
    hook wraps the posts in ``RuntimeClient``'s own namespace only, after this class took them
    (nothing is hooked before this module is imported)."""

    post_invocation_result = RuntimeClient.post_invocation_result
    post_invocation_error = RuntimeClient.post_invocation_error


def _runtime_clients() -> None:
    from chalicelib.clicks import after_response

    where = f"{__name__}:{RuntimeClient.__name__}"
    if where not in after_response.RUNTIME_CLIENTS:
        after_response.RUNTIME_CLIENTS.append(where)


_runtime_clients()


class Runtime:
    """The runtime's loop, as the Python runtime runs it in its main thread: ask the Runtime API
    for an invocation, call the handler, post its result; again, until Lambda stops answering."""

    def __init__(
        self,
        address: str,
        handler: Callable[[Any, Any], Any],
        function_name: str,
        client: type[RuntimeClient] = RuntimeClient,
    ):
        self.client = client(address)
        self.handler = handler
        self.function_name = function_name
        self.thread = threading.Thread(target=self.run, name="fake-runtime", daemon=True)

    def start(self) -> Runtime:
        self.thread.start()
        return self

    def run(self) -> None:
        while (invocation := self.client.wait_next_invocation()) is not None:
            request_id, body = invocation
            try:
                result = self.handler(json.loads(body), Context(request_id, self.function_name))
            except Exception as exc:
                error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
                self.client.post_invocation_error(request_id, json.dumps(error).encode())
                continue
            self.client.post_invocation_result(request_id, json.dumps(result).encode())


def fresh_app(env: dict[str, str], name: str = "app_in_fake_lambda") -> Any:
    """app.py imported anew, as a new execution environment's init does, with ``env`` set for
    the import (the stage's variables, ``AWS_LAMBDA_RUNTIME_API``): an after-response stage
    registers its extension with the fake here."""
    import importlib.util
    import os
    from pathlib import Path

    from chalicelib.clicks import after_response

    if env.get("REBOUND_PUBLISH_MODE") == after_response.AFTER_RESPONSE:
        # One extension a process: the last environment's ends here, as its process would.
        after_response.HELD.discard()
        after_response.stop()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parent.parent / "app.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.redirect_handler()  # its clients made now: the timed part is the request
        return module
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
