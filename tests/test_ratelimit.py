"""Rate limits: how hard the bot presses a workspace Slack is refusing (``bot.slack.ratelimit``, ``bot.slack.client``).

The gate itself is tested as a plain module with a controllable clock; the rest goes through the real
Web API client over HTTP to the local Slack, which refuses with 429 + Retry-After as Slack does, with
real Redis behind the weekly posts. What a user would notice: posts still arrive exactly once, a
saturated workspace is not hammered with refused calls, one busy channel does not hold the others up,
a garbled Retry-After never loses a post, and one workspace's limit never slows another.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest
import redis
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation

from bot.config import load_settings
from bot.content.corpus import Corpus
from bot.slack import ratelimit
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.slack.installations import RedisInstallationStore
from bot.slack.oauth import WorkspaceClients
from bot.slack.ratelimit import Gate, GaveUp, retry_after_seconds
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import wait_for
from fakeslack import FakeSlack, RateLimits

MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))


class Clock:
    """A clock the test moves by hand: the gate's closures without waiting for them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schedules(n: int, team: str = "T0AAA") -> list[Schedule]:
    return [Schedule(id=f"s{i:03d}", team=team, channel=f"C{team}{i:03d}") for i in range(n)]


def posts(slack: FakeSlack, channels: list[str]) -> dict[str, int]:
    """Weekly posts that reached each channel."""
    return {c: sum(1 for m in slack.messages.get(c, []) if (m.get("metadata") or {}).get("event_type")) for c in channels}


def refused(slack: FakeSlack) -> list[float]:
    return [c.at for c in slack.calls_to("chat.postMessage") if c.status == 429]


@pytest.fixture
def poster(redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> WeeklyPoster:
    slack.clock = MONDAY.timestamp
    return WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, lease_seconds=30)


# ----- Retry-After as Slack (or a proxy in front of it) may send it ------------------------------------
@pytest.mark.parametrize(("value", "seconds"), [
    ("2", 2.0), ("1.5", 1.5), ("30", 30.0),
    (None, 1.0), ("", 1.0), ("soon", 1.0), ("inf", 1.0), ("-inf", 1.0), ("nan", 1.0),
    ("0", 0.5), ("-5", 0.5), ("100000", 900.0),
])  # fmt: skip
def test_retry_after_is_read_safely(value: str | None, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=40), usegmt=True), lambda: now) == 40
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=40), usegmt=True), lambda: now) == 0.5


# ----- the gate, on its own ----------------------------------------------------------------------------
def test_one_refusal_holds_nothing_back() -> None:
    gate = Gate(Clock())
    first, second, third = gate.enter(), gate.enter(), gate.enter()
    gate.refused(first, 30)  # one busy channel, or a random 429
    gate.accepted(second, 0.01)  # the workspace still takes calls
    gate.refused(third, 30)  # sent before anyone knew of the first refusal: says nothing new
    t0 = time.monotonic()
    after = gate.enter()  # not held
    gate.accepted(after, 0.01)  # the workspace took a call sent after the refusals: all is well
    gate.refused(gate.enter(), 30)  # a new, lone refusal: still nothing held back
    gate.enter()
    assert time.monotonic() - t0 < 0.1


def test_two_refusals_with_nothing_accepted_between_close_the_gate() -> None:
    """Threads refused all at once (a per-minute window used up): no need to wait for a later call."""
    gate = Gate(Clock())
    first, second = gate.enter(), gate.enter()
    gate.refused(first, 100)
    gate.refused(second, 100)
    with pytest.raises(GaveUp):  # closed for 100 s, longer than MAX_WAIT: given up at once
        gate.enter()


def test_a_second_refusal_closes_until_retry_after_then_lets_one_call_at_a_time() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.refused(gate.enter(), 2)
    gate.refused(gate.enter(), 2)  # sent after the first refusal, refused too: over the workspace's limit
    waited = threading.Event()
    holder: list[object] = []

    def caller() -> None:
        holder.append(gate.enter())
        waited.set()

    threading.Thread(target=caller, daemon=True).start()
    assert not waited.wait(0.3), "a call went out while the workspace was closed"
    clock.now += 2.0
    with gate._cond:
        gate._cond.notify_all()
    assert waited.wait(2), "the closure did not end after Retry-After"
    # Reopening: the next caller waits for the answer to the call in flight.
    second: list[object] = []
    t = threading.Thread(target=lambda: second.append(gate.enter()), daemon=True)
    t.start()
    t.join(0.3)
    assert not second, "two calls at once while reopening"
    gate.accepted(holder[0], 0.01)  # type: ignore[arg-type]
    t.join(2)
    assert second


def test_slow_answers_widen_the_reopening_window() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.refused(gate.enter(), 1)
    gate.refused(gate.enter(), 1)
    clock.now += 1
    gate.accepted(gate.enter(), 0.5)  # slow Slack: one at a time would cost throughput
    t0 = time.monotonic()
    gate.enter()
    gate.enter()  # two at once now, without waiting
    assert time.monotonic() - t0 < 0.1


def test_a_wait_of_minutes_is_given_up_at_once() -> None:
    gate = Gate(Clock())
    gate.refused(gate.enter(), 120)  # lone refusal, asks for two minutes
    gate.refused(gate.enter(), 1)  # the workspace is over its limit: closed for the longer of the two
    t0 = time.monotonic()
    with pytest.raises(GaveUp) as gave_up:
        gate.enter()
    assert time.monotonic() - t0 < 0.1 and gave_up.value.wait > 100


def test_the_longest_retry_after_is_kept() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.refused(gate.enter(), 30)  # lone refusal, asks for 30 s
    gate.refused(gate.enter(), 1)  # confirms the limit, asks for 1 s: closed for 30 s, not 1 s
    outcome: list[object] = []

    def caller() -> None:
        try:
            outcome.append(gate.enter(deadline=clock.now + 10))  # a call that may wait 10 s at most
        except GaveUp as exc:
            outcome.append(exc)

    t = threading.Thread(target=caller, daemon=True)
    t.start()
    t.join(1)
    assert outcome and isinstance(outcome[0], GaveUp) and outcome[0].wait > 29


def test_a_workspace_refusing_everything_is_given_up_not_waited_on_forever() -> None:
    clock = Clock()
    gate = Gate(clock)
    for _ in range(ratelimit.GIVE_UP):  # every call refused, each after the last closure ended
        clock.now += 1.01
        gate.refused(gate.enter(), 1)
    t0 = time.monotonic()
    with pytest.raises(GaveUp):
        gate.enter()  # closed, and hopeless: not parked for the rest of the closure
    assert time.monotonic() - t0 < 0.1
    clock.now += 2  # the closure over: one call may try again, and an accepted one ends it
    gate.accepted(gate.enter(), 0.01)
    gate.enter()


def test_a_workspace_refused_again_after_a_long_retry_after_is_given_up_not_waited_on_again() -> None:
    """Refused, waited a minute as asked, refused again: that is a workspace refusing everything, not a
    window to wait out; the sweep must not be parked another minute (or five)."""
    clock = Clock()
    gate = Gate(clock)
    gate.refused(gate.enter(), 60)
    gate.refused(gate.enter(), 60)  # over the limit: closed for a minute (a per-minute window, perhaps)
    clock.now += 60
    gate.refused(gate.enter(), 60)  # the probe after the minute: refused again
    outcome: list[object] = []

    def caller() -> None:
        try:
            outcome.append(gate.enter())
        except GaveUp as exc:
            outcome.append(exc)

    t = threading.Thread(target=caller, daemon=True)
    t.start()
    t.join(1)
    assert outcome and isinstance(outcome[0], GaveUp), "parked for another Retry-After"


def test_a_late_refusal_after_reopening_still_holds_calls_back() -> None:
    clock = Clock()
    gate = Gate(clock)
    in_flight = gate.enter()  # sent before the closure, answered late
    gate.refused(gate.enter(), 1)
    gate.refused(gate.enter(), 1)  # closed for 1 s
    clock.now += 1.1
    gate.accepted(gate.enter(), 0.01)  # reopened; the first call taken
    gate.refused(in_flight, 100)  # the late answer asks for 100 s
    with pytest.raises(GaveUp):  # so no call goes out now (and 100 s is longer than MAX_WAIT: given up)
        gate.enter()


def test_a_call_never_waits_past_its_budget() -> None:
    clock = Clock()
    gate = Gate(clock)
    gate.refused(gate.enter(), 30)
    gate.refused(gate.enter(), 30)  # closed for 30 s, which MAX_WAIT alone would wait out
    t0 = time.monotonic()
    with pytest.raises(GaveUp):
        gate.enter(deadline=clock.now + 10)
    assert time.monotonic() - t0 < 0.1


# ----- through the Web API client, against the local Slack ----------------------------------------------
def test_a_saturated_workspace_gets_every_post_once_with_fewer_refused_calls(
        poster: WeeklyPoster, slack: FakeSlack) -> None:  # fmt: skip
    slack.limits = RateLimits(per_channel=100, burst=100, workspace_per_second=8, retry_after=1)
    todo = schedules(40)
    results = poster.deliver_all(todo, MONDAY, workers=8)
    assert [r.outcome for r in results] == ["posted"] * 40
    assert set(posts(slack, [s.channel for s in todo]).values()) == {1}
    # Each thread meeting the limit on its own: 22-32 refused calls here (measured on the code before the gate).
    assert slack.limits.limited <= 18, f"{slack.limits.limited} refused calls for 40 posts"


def test_a_workspace_over_its_per_minute_window_is_refused_about_once_per_window_not_once_per_thread(
        poster: WeeklyPoster, slack: FakeSlack) -> None:  # fmt: skip
    # Slack's way: so many calls per window (a minute, shortened here), then 429 with Retry-After = the
    # rest of the window.
    slack.limits = RateLimits(per_channel=100, burst=100, per_window=8, window=1.0)
    slack.delay["chat.postMessage"] = 0.02
    todo = schedules(40)
    results = poster.deliver_all(todo, MONDAY, workers=8)
    assert [r.outcome for r in results] == ["posted"] * 40
    assert set(posts(slack, [s.channel for s in todo]).values()) == {1}
    assert slack.limits.limited <= 18, f"{slack.limits.limited} refused calls for 40 posts"


def test_a_thread_waits_out_the_retry_after_another_thread_was_given(slack: FakeSlack) -> None:
    """Once a call sent after a refusal is refused too, the workspace is over its limit: the other threads
    posting with that token wait out the Retry-After instead of being refused one by one."""
    client = make_client("xoxb-test", slack.url)
    slack.fail("chat.postMessage", retry_after=2, times=2)
    first = threading.Thread(target=lambda: client.chat_postMessage(channel="C0ONE", text="one"))
    first.start()  # refused, waits 2 s, refused again (the limit holds): closed for 2 s more
    assert wait_for(lambda: len(refused(slack)) == 2, timeout=6)
    closing = max(refused(slack))
    time.sleep(0.3)
    client.chat_postMessage(channel="C0TWO", text="two")  # another thread, same workspace
    first.join(10)
    two = next(c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "C0TWO")
    assert two.status == 200 and two.arrived >= closing + 1.9, f"sent {two.arrived - closing:.2f} s after"
    assert [c.params.get("channel") for c in slack.ok_calls("chat.postMessage")].count("C0ONE") == 1
    assert len(refused(slack)) == 2


def test_one_busy_channel_holds_up_no_other(poster: WeeklyPoster, slack: FakeSlack) -> None:
    todo = schedules(16)
    slack.fail("chat.postMessage", retry_after=3, times=1, channel=todo[0].channel)
    t0 = time.time()
    results = poster.deliver_all(todo, MONDAY, workers=8)
    assert [r.outcome for r in results] == ["posted"] * 16
    others = [c.at - t0 for c in slack.ok_calls("chat.postMessage") if c.params.get("channel") != todo[0].channel]
    assert len(others) == 15 and max(others) < 2.5, f"other channels waited {max(others):.1f} s"


@pytest.mark.parametrize("value", ["inf", "nan", "soon", "-5", "0", "1.5"])
def test_an_unreadable_retry_after_still_gets_the_post_out_once(poster: WeeklyPoster, slack: FakeSlack,
                                                                  value: str) -> None:  # fmt: skip
    slack.fail("chat.postMessage", retry_after=value, times=2)
    todo = schedules(3)
    t0 = time.monotonic()
    results = poster.deliver_all(todo, MONDAY, workers=2)
    assert [r.outcome for r in results] == ["posted"] * 3
    assert set(posts(slack, [s.channel for s in todo]).values()) == {1}
    assert time.monotonic() - t0 < 10


def test_a_workspace_refusing_everything_is_given_up_then_posted_once_next_run(
        poster: WeeklyPoster, slack: FakeSlack) -> None:  # fmt: skip
    slack.fail("chat.postMessage", retry_after="0.5", times=10**6)
    todo = schedules(8)
    results = poster.deliver_all(todo, MONDAY, workers=8)
    assert {r.outcome for r in results} == {"retry"} and {r.error for r in results} == {"ratelimited"}
    calls = len(slack.calls_to("chat.postMessage"))
    # Each thread's first call, then about one call per closure until the gate gives up, and a few probes
    # while the run's rounds finish (without the gate: 8 threads x 4 tries x 4 rounds = 128).
    assert calls <= 8 + ratelimit.GIVE_UP + 4, f"{calls} calls to a workspace refusing everything"
    slack.faults.clear()  # Slack takes posts again; the clock's next run, after the closure
    time.sleep(0.6)
    again = poster.deliver_all(todo, MONDAY, workers=8)
    assert [r.outcome for r in again] == ["posted"] * 8
    assert set(posts(slack, [s.channel for s in todo]).values()) == {1}


def test_a_weekly_run_never_holds_a_post_past_its_call_budget(redis_client: redis.Redis, slack: FakeSlack,
                                                              corpus: Corpus) -> None:  # fmt: skip
    """A post is claimed for a lease; a call still queued when the lease lapses could post after another
    process took the claim over. So a call gives up within its budget, and a later run posts the rest."""
    slack.clock = MONDAY.timestamp
    slack.limits = RateLimits(per_channel=100, burst=100, per_window=2, window=2.0)  # Retry-After up to 2 s
    poster = WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url, call_budget=1.0), corpus), corpus, lease_seconds=30)
    todo = schedules(6)
    t0 = time.monotonic()
    first = poster.deliver_all(todo, MONDAY, workers=6)
    assert time.monotonic() - t0 < 2.0, "a run waited past the call budget"
    assert {r.outcome for r in first} == {"posted", "retry"} and [r.outcome for r in first].count("posted") == 2
    for _ in range(6):
        if all(n == 1 for n in posts(slack, [s.channel for s in todo]).values()):
            break
        time.sleep(2.0)  # the clock's next sweep, after the window
        poster.deliver_all(todo, MONDAY, workers=6)
    assert set(posts(slack, [s.channel for s in todo]).values()) == {1}


def test_one_tokens_limit_never_slows_another_token_on_the_same_client(slack: FakeSlack) -> None:
    client = make_client(None, slack.url)  # Bolt's way: one client, the token passed per call
    slack.fail("chat.postMessage", retry_after=100, times=10**6, channel="C0BUSY")
    for _ in range(2):  # workspace A is over its limit: its gate closes for 100 s
        with pytest.raises(SlackApiError):
            client.chat_postMessage(token="xoxb-a", channel="C0BUSY", text="x")
    t0 = time.monotonic()
    client.chat_postMessage(token="xoxb-b", channel="C0FREE", text="x")  # workspace B: not held
    assert time.monotonic() - t0 < 1
    with pytest.raises(SlackApiError) as held:
        client.chat_postMessage(token="xoxb-a", channel="C0FREE", text="x")  # A is held back, B is not
    assert held.value.response.status_code == 429
    assert [c.params.get("channel") for c in slack.calls_to("chat.postMessage")] == ["C0BUSY", "C0BUSY", "C0FREE"]


def test_each_workspace_of_an_org_wide_install_gets_its_own_client(slack: FakeSlack, redis_client: redis.Redis) -> None:
    """An org-wide token posts to many workspaces, and Slack limits each of them on its own: one client (and
    its gates) per workspace, and always the same one for a workspace, even when threads ask at once."""
    store = RedisInstallationStore(redis_client)
    store.save(Installation(app_id="A0SCR", enterprise_id="E0ORG", team_id=None, is_enterprise_install=True,
                            user_id="U0ADMIN", bot_token="xoxb-org", bot_id="B0BOT", bot_user_id="U0BOT",
                            bot_scopes="commands,chat:write"))  # fmt: skip
    settings = load_settings({"SLACK_CLIENT_ID": "1.1", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "s",
                              "SLACK_API_URL": slack.url}, dotenv=False)  # fmt: skip
    clients = WorkspaceClients(settings, lambda token: make_client(token, slack.url), installations=store)
    one, two = Workspace("T0ONE", "E0ORG"), Workspace("T0TWO", "E0ORG")
    got: list[object] = []
    threads = [threading.Thread(target=lambda ws=ws: got.append(clients(ws))) for ws in (one, two) * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len({id(c) for c in got}) == 2
    assert clients(one) is not clients(two) and clients(one) is clients(one)
    assert clients(one).token == clients(two).token == "xoxb-org"
