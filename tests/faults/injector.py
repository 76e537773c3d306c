"""A fault injector on every AWS call (botocore) and every platform request (urllib).

Two patches, active only inside ``Injector.active(path)``:

- ``botocore.client.BaseClient._make_api_call``: every boto3 client, whoever made it (the
  cached clients of ``chalicelib/aws/clients.py`` included), and *above* botocore's own retries:
  an injected fault is what the code sees once botocore has given up.
- ``urllib.request.OpenerDirector.open``: the platform sender (``chalicelib/platforms/http.py``
  sends through an urllib opener; botocore does not use urllib.request, so nothing else is
  caught).

A call site is (path, service, operation, the innermost project frame ``module:function``);
calls from outside the project (the harness itself, moto) are neither counted nor faulted.

Faults (one per run, at the k-th call of one site):

- ``throttle``: the service's throttling error (HTTP 429 for a platform); nothing happened.
- ``timeout``: AWS: the request reached the service *and took effect*, then the answer timed
  out (``ReadTimeoutError``), the worst case of a timeout: the caller cannot know. Platform:
  the request never got an answer (``TimeoutError``), nothing was delivered.
- ``500``: the service's internal error, HTTP 500; nothing happened.
- ``crash``: the call really happens, then ``ProcessDied`` is raised: the process dies before
  its next line. From then on every call of that invocation raises ``ProcessDied`` too (a dead
  process makes no more calls, whichever thread it was in).
"""

from __future__ import annotations

import email.message
import io
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import botocore.client
from botocore.exceptions import ClientError, ReadTimeoutError

FAULTS = ("throttle", "timeout", "500", "crash")

# Modules whose frames are the project's; the first of them (innermost) names a call site.
PROJECT_MODULES = ("chalicelib.", "rebound.")
# Plumbing shared by many callers: the site is named by whoever called it.
PLUMBING = ("chalicelib.aws",)

_THROTTLE = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "kinesis": ("ProvisionedThroughputExceededException", 400),
    "s3": ("SlowDown", 503),
    "sqs": ("RequestThrottled", 400),
}
_INTERNAL = {
    "dynamodb": "InternalServerError",
    "kinesis": "InternalFailure",
    "s3": "InternalError",
}


class ProcessDied(BaseException):
    """The process died right after a call that succeeded (Lambda's timeout, OOM, a kill).

    A BaseException: ``except Exception`` in the code must not swallow a death."""


@dataclass(frozen=True, order=True)
class Site:
    path: str
    service: str  # an AWS service's endpoint prefix, or "http" for a platform
    operation: str  # "PutRecord", or "POST meta"
    frame: str  # "clicks.stream:publish"

    def __str__(self) -> str:
        return f"{self.service} {self.operation} @ {self.frame}"


@dataclass(frozen=True)
class Arm:
    site: Site
    fault: str
    k: int = 1


@dataclass
class Injector:
    """Records call sites; fires at most one armed fault per arming."""

    platform_names: dict[int, str] = field(default_factory=dict)  # fake server port -> name
    path: str | None = None
    calls: Counter[Site] = field(default_factory=Counter)
    order: list[Site] = field(default_factory=list)  # first-seen order
    armed: list[Arm] = field(default_factory=list)
    fired: set[int] = field(default_factory=set)  # positions in ``armed``
    dead: bool = False
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the run's controls -----------------------------------------------------------------

    def arm(self, arms: list[Arm]) -> None:
        """Fire each of ``arms`` once (an empty list: record only); counts start again."""
        with self._lock:
            self.armed, self.fired, self.dead = list(arms), set(), False
            self.calls.clear()

    def all_fired(self) -> bool:
        return len(self.fired) == len(self.armed)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside (the harness acting as a person: a `plan` between applies) are
        neither counted nor faulted."""
        path, self.path = self.path, None
        try:
            yield
        finally:
            self.path = path

    def revive(self) -> None:
        """The next invocation runs in a fresh process: wait until the dead one's threads have
        left their calls, then let calls through again (the armed fault stays spent)."""
        quiet_since = time.monotonic()
        deadline = quiet_since + 5
        while time.monotonic() < deadline:
            if self.in_flight:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.05:
                break
            time.sleep(0.01)
        self.dead = False

    @contextmanager
    def active(self, path: str) -> Iterator[Injector]:
        """Count and fault the project's calls on ``path`` while inside."""
        self.path = path
        original_api = botocore.client.BaseClient._make_api_call
        original_open = urllib.request.OpenerDirector.open
        injector = self

        def make_api_call(client: Any, operation: str, params: dict) -> Any:
            service = client.meta.service_model.endpoint_prefix
            return injector._aws(
                client, service, operation, lambda: original_api(client, operation, params)
            )

        def open_url(opener: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
            return injector._http(req, lambda: original_open(opener, req, *args, **kwargs))

        botocore.client.BaseClient._make_api_call = make_api_call
        urllib.request.OpenerDirector.open = open_url
        try:
            yield self
        finally:
            botocore.client.BaseClient._make_api_call = original_api
            urllib.request.OpenerDirector.open = original_open
            self.path = None

    # --- the two interception points --------------------------------------------------------

    def _site(self, service: str, operation: str) -> Site | None:
        frame = _project_frame(sys._getframe(2))
        if frame is None or self.path is None:
            return None
        return Site(self.path, service, operation, frame)

    def _should_fire(self, site: Site) -> str | None:
        with self._lock:
            if self.dead:
                return "dead"
            self.calls[site] += 1
            if site not in self.order:
                self.order.append(site)
            for i, arm in enumerate(self.armed):
                if i not in self.fired and arm.site == site and self.calls[site] == arm.k:
                    self.fired.add(i)
                    return arm.fault
        return None

    def _aws(self, client: Any, service: str, operation: str, call: Callable[[], Any]) -> Any:
        site = self._site(service, operation)
        if site is None:
            return call()
        fault = self._should_fire(site)
        if fault == "dead":
            raise ProcessDied(f"{site} after the process died")
        if fault in ("throttle", "500"):
            raise _client_error(client, service, operation, fault)
        with self._flight():
            result = call()
        if fault == "timeout":
            raise ReadTimeoutError(endpoint_url=client.meta.endpoint_url)
        if fault == "crash":
            self.dead = True
            raise ProcessDied(str(site))
        return result

    def _http(self, req: Any, call: Callable[[], Any]) -> Any:
        url = req.full_url if hasattr(req, "full_url") else str(req)
        port = urlsplit(url).port
        name = self.platform_names.get(port or 0, urlsplit(url).hostname or "?")
        site = self._site("http", f"{req.get_method()} {name}")
        if site is None:
            return call()
        fault = self._should_fire(site)
        if fault == "dead":
            raise ProcessDied(f"{site} after the process died")
        if fault == "throttle":
            raise _http_error(url, 429, b'{"error":{"message":"rate limited","code":4}}')
        if fault == "500":
            raise _http_error(url, 500, b'{"error":{"message":"internal error","code":2}}')
        if fault == "timeout":
            raise TimeoutError("timed out")
        with self._flight():
            response = call()
        if fault == "crash":
            with response:
                response.read()  # delivered and answered; the process dies before reading on
            self.dead = True
            raise ProcessDied(str(site))
        return response

    @contextmanager
    def _flight(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


def _project_frame(frame: Any) -> str | None:
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        project = module == "app" or module.startswith(PROJECT_MODULES)
        if project and not module.startswith(PLUMBING):
            return f"{module.removeprefix('chalicelib.')}:{frame.f_code.co_name}"
        frame = frame.f_back
    return None


def _client_error(client: Any, service: str, operation: str, fault: str) -> ClientError:
    if fault == "throttle":
        code, status = _THROTTLE.get(service, ("ThrottlingException", 400))
    else:
        code, status = _INTERNAL.get(service, "InternalFailure"), 500
    response = {
        "Error": {"Code": code, "Message": f"injected {fault}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    # The client's modeled exception class where it has one (``except client.exceptions.X``).
    return client.exceptions.from_code(code)(response, operation)


def _http_error(url: str, status: int, body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(
        url, status, "injected", email.message.Message(), io.BytesIO(body)
    )
