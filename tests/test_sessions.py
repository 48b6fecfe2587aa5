"""Sessions and follow-ups in process: real Redis, the local Slack at its HTTP boundary, the clock's own
``FollowUps`` with the time passed in. One reminder, then overdue, never a stream of nags; nothing outside
working hours; bad input refused before anything is written; "forget me" deletes a person's actions."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import redis
from slack_sdk import WebClient

from bot.briefings.followup import FollowUps
from bot.briefings.sessions import OVERDUE, Action, Session, SessionStore, check_action
from bot.config import WorkingHours
from bot.slack.delivery import SlackDeliveries
from bot.storage import keys
from bot.storage.keys import Workspace
from fakeslack import FakeSlack

LONDON = ZoneInfo("Europe/London")
WS = Workspace("T0AAA")


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=LONDON)


def followups(r: redis.Redis, slack: FakeSlack, corpus) -> FollowUps:  # noqa: ANN001
    client = WebClient(token="xoxb-test", base_url=slack.url)
    return FollowUps(r, SlackDeliveries(client, corpus), lambda _ws: WorkingHours(), 365, lease_seconds=30,
                     settle_seconds=0.01)  # fmt: skip


def agree(r: redis.Redis, due: str, owner: str = "U0ANN", aid: str = "V0A1") -> SessionStore:
    store = SessionStore(r, 365)
    store.ensure(WS, Session("C0TEAM", "1.000001", "neglect", "7-minute briefing: Neglect", "U0LEAD", at("2027-01-04").timestamp()))
    assert store.add_action(WS, Action(aid, "C0TEAM", "1.000001", "neglect", "Check the checklist", owner, due, "U0LEAD",
                                       at("2027-01-04").timestamp()))  # fmt: skip
    return store


def followup_dms(slack: FakeSlack, user: str = "U0ANN") -> list[dict]:
    return [m for m in slack.channel_messages("D" + user) if (m.get("metadata") or {}).get("event_type") == "scr_followup"]


def test_one_reminder_then_overdue_never_a_stream(redis_client: redis.Redis, slack: FakeSlack, corpus) -> None:  # noqa: ANN001
    store = agree(redis_client, "2027-01-11")  # a Monday
    clock = followups(redis_client, slack, corpus)
    clock.deliver_due(at("2027-01-10"))  # the day before (a Sunday): nothing
    clock.deliver_due(at("2027-01-11", 20))  # due, but after working hours: nothing
    assert followup_dms(slack) == []
    clock.deliver_due(at("2027-01-11"))
    assert len(followup_dms(slack)) == 1 and "Today is the due date" in str(followup_dms(slack)[0])
    for day in ("2027-01-11", "2027-01-12", "2027-01-13"):  # under 3 working days: no reminder yet
        clock.deliver_due(at(day, 15))
    assert len(followup_dms(slack)) == 1
    clock.deliver_due(at("2027-01-14"))
    assert len(followup_dms(slack)) == 2 and "the only one" in str(followup_dms(slack)[1])
    for day in ("2027-01-15", "2027-01-18", "2027-01-19", "2027-01-20", "2027-02-22"):
        clock.deliver_due(at(day))
    assert len(followup_dms(slack)) == 2  # never more than the follow-up and one reminder
    assert store.action(WS, "V0A1").status == OVERDUE
    assert not redis_client.zrange(keys.actions_due(WS), 0, -1)


def test_a_past_due_date_or_no_words_is_refused() -> None:
    assert "in the past" in check_action("Do it", "U1", "2027-01-03", date(2027, 1, 4), 365)["due"]
    assert "what" in check_action("  ", "U1", "2027-01-05", date(2027, 1, 4), 365)
    assert check_action("Do it", "U1", "2027-01-04", date(2027, 1, 4), 365) == {}


def test_forget_me_deletes_actions_and_attendance(redis_client: redis.Redis) -> None:
    store = agree(redis_client, "2027-01-11")
    store.attend(WS, "C0TEAM:1.000001", ["U0ANN", "U0BEN"])
    sessions, deleted = store.forget(WS, "U0ANN")
    assert sessions == 1 and [a.id for a in deleted] == ["V0A1"]
    assert store.attended(WS, "C0TEAM:1.000001") == {"U0BEN"}
    assert store.action(WS, "V0A1") is None and store.actions_of(WS, "U0ANN") == []
    assert not redis_client.zrange(keys.actions_due(WS), 0, -1)


def test_the_digest_shows_sessions_with_the_fewer_than_3_rule(redis_client: redis.Redis, corpus) -> None:  # noqa: ANN001
    from bot.learning.digest import build, digest_text, report_markdown

    store = agree(redis_client, "2027-01-11")  # one action, one owner: its counts point at a person
    store.attend(WS, "C0TEAM:1.000001", ["U0ANN", "U0BEN"])
    d = build(corpus, redis_client, WS, "C0TEAM", ["2026-12", "2027-01"], timezone="Europe/London")
    text = digest_text(corpus, d)
    assert "2027-01 · Neglect: 1 session · attended by <3 · actions agreed <3" in text
    assert "U0ANN" not in text and "Check the checklist" not in text
    store.attend(WS, "C0TEAM:1.000001", ["U0CAT"])
    for i, owner in enumerate(("U0BEN", "U0CAT"), start=2):
        store.add_action(WS, Action(f"V0A{i}", "C0TEAM", "1.000001", "neglect", "x", owner, "2027-01-11", "U0LEAD", 0.0))
    store.answer(WS, "V0A2", "U0BEN", "done", "changed")
    report = report_markdown(corpus, [build(corpus, redis_client, WS, "C0TEAM", ["2027-01"], timezone="Europe/London")], "2027-01")
    assert "attended by 3 · actions agreed 3 (done <3, partly 0, not yet 0, overdue 0)" in report  # one owner behind "done"
