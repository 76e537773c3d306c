"""A chain of requests (an email tool's upsert, then its tag or event): each step built from the
answer of the one before, sent only while the steps succeed; a dry run shows every step."""

from __future__ import annotations

from types import SimpleNamespace

from chalicelib.dispatch.dispatcher import Dispatcher, _steps
from chalicelib.platforms.http import OK, PERMANENT, RETRY, HttpRequest, Outcome


def chain() -> HttpRequest:
    def tag(answer):
        contact = (answer or {}).get("contact", {}).get("id", "<contact id from contact/sync>")
        return HttpRequest("POST", "https://tool/tags", {}, {"contact": contact}, ("e1",))

    return HttpRequest("POST", "https://tool/sync", {}, {"email": "x"}, ("e1",), then=tag)


class Sender:
    def __init__(self, *outcomes: Outcome):
        self.outcomes = list(outcomes)
        self.sent: list[HttpRequest] = []

    def __call__(self, request, classify, budget=None):
        self.sent.append(request)
        return self.outcomes.pop(0), 1


def send_chain(sender: Sender):
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.send = sender
    run = SimpleNamespace(deadline=SimpleNamespace(left=lambda: 30.0))
    return dispatcher._send_chain(chain(), SimpleNamespace(classify=None), run)


def test_each_step_is_built_from_the_answer_of_the_one_before():
    sender = Sender(
        Outcome(OK, "HTTP 201", answer={"contact": {"id": "42"}}), Outcome(OK, "HTTP 201")
    )
    outcome, attempts = send_chain(sender)
    assert outcome.ok and attempts == 2
    assert [r.url for r in sender.sent] == ["https://tool/sync", "https://tool/tags"]
    assert sender.sent[1].body == {"contact": "42"}


def test_a_failed_step_ends_the_chain_with_its_outcome():
    sender = Sender(Outcome(RETRY, "HTTP 429"))
    outcome, attempts = send_chain(sender)
    assert (outcome.kind, outcome.reason, attempts) == (RETRY, "HTTP 429", 1)
    assert len(sender.sent) == 1  # the tag step was never built


def test_an_answer_the_next_step_cannot_read_is_permanent():
    sender = Sender(Outcome(OK, "HTTP 200", answer=["not", "a", "contact"]))
    outcome, _ = send_chain(sender)
    assert outcome.kind == PERMANENT and outcome.reason.startswith("unreadable answer")


def test_a_dry_run_shows_every_step_with_a_placeholder_for_what_only_an_answer_gives():
    steps = list(_steps(chain()))
    assert [s.url for s in steps] == ["https://tool/sync", "https://tool/tags"]
    assert steps[1].body == {"contact": "<contact id from contact/sync>"}
