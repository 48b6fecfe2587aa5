"""Team reflection end to end: signed Slack requests into the running bot, real Redis, the local Slack."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import redis

from blockkit import assert_valid_message, dumps
from bot.content.corpus import Corpus, load_corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.slack.localslack import BOT_ID, BOT_USER_ID
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from bot.weekly.summary import SummaryPoster
from conftest import (
    CONTENT_DIR,
    BotProcess,
    RedisServer,
    command_answer,
    distributed_env,
    free_port,
    install_workspace,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.history_limits  # as a multi-workspace install outside the Marketplace
LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=LONDON)
T1, T2 = "T0ONE", "T0TWO"
SLACK_TEAM = T1  # the module's single-token bot is installed in T1 (conftest's module_slack): its requests name T1


@pytest.fixture
def r(shared_redis: redis.Redis) -> redis.Redis:
    return shared_redis


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(CONTENT_DIR)


def weekly_post(slack: FakeSlack, r: redis.Redis, corpus: Corpus, team: str = T1, channel: str = "C0TEAM",
                token: str = "xoxb-test") -> tuple[Schedule, str, str]:  # fmt: skip
    """Post a real weekly post (as the clock would, with ``team``'s ``token``) and return (schedule, thread ts, point id)."""
    schedule = Schedule(id=f"s-{team.lower()}-{channel.lower()}", team=team, channel=channel, sectors=("health",))
    slack.clock = time.time
    result = WeeklyPoster(r, SlackDeliveries(make_client(token, slack.url), corpus), corpus).deliver(schedule, MONDAY, ignore_time=True)
    assert result.outcome == "posted"
    return schedule, result.ts, result.point


def reply(bot: BotProcess, channel: str, thread_ts: str, text: str, *, user: str = "U0NURSE", team: str = T1,
          event_id: str | None = None, subtype: str | None = None, headers: dict | None = None, ts: str | None = None):  # noqa: ANN201
    ts = ts or f"{time.time():.6f}"
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "thread_ts": thread_ts,
             "event_ts": ts, "channel_type": "channel"}  # fmt: skip
    if subtype:
        event["subtype"] = subtype
    resp = bot.event(event, team=team, event_id=event_id or f"Ev{ts.replace('.', '')}", headers=headers)
    return resp, ts


def store_for(r: redis.Redis) -> ReflectionStore:
    return ReflectionStore(r, 365)


# ----- capture from threads ----------------------------------------------------------------------
def test_thread_replies_become_reflections_with_edits_deletes_and_retries(bot: BotProcess, module_slack: FakeSlack,
                                                                         r: redis.Redis, corpus: Corpus) -> None:
    _, thread, point = weekly_post(module_slack, r, corpus)
    resp, ts = reply(bot, "C0TEAM", thread, "This made me rethink how we ask about sleep arrangements.")
    assert resp.status == 200
    (saved,) = store_for(r).for_thread(Workspace(T1), "C0TEAM", thread)
    assert (saved.user, saved.point, saved.week, saved.text) == ("U0NURSE", point, "2026-W48",
                                                                 "This made me rethink how we ask about sleep arrangements.")  # fmt: skip
    # Slack retries the same event (X-Slack-Retry-Num) and sometimes sends duplicates: stored once.
    assert reply(bot, "C0TEAM", thread, "This made me rethink how we ask about sleep arrangements.", ts=ts,
                 event_id=f"Ev{ts.replace('.', '')}", headers={"X-Slack-Retry-Num": "1",
                                                                "X-Slack-Retry-Reason": "http_timeout"})[0].status == 200
    assert reply(bot, "C0TEAM", thread, "duplicate delivery", ts=ts, event_id="EvOther")[0].status == 200
    assert len(store_for(r).for_thread(Workspace(T1), "C0TEAM", thread)) == 1
    # An edit (Slack stamps it with the edit's own ts, later than the message's) updates it; a deletion removes it.
    edit_ts = f"{float(ts) + 30:.6f}"
    changed = {"type": "message", "subtype": "message_changed", "channel": "C0TEAM", "hidden": True, "ts": edit_ts,
               "event_ts": edit_ts,
               "message": {"type": "message", "user": "U0NURSE", "text": "Edited: call Mrs Smith", "ts": ts,
                           "thread_ts": thread, "edited": {"user": "U0NURSE", "ts": edit_ts}}}  # fmt: skip
    assert bot.event(changed, team=T1, event_id="EvEdit").status == 200
    assert store_for(r).for_thread(Workspace(T1), "C0TEAM", thread)[0].text == "Edited: call [name removed]"
    deleted = {"type": "message", "subtype": "message_deleted", "channel": "C0TEAM", "hidden": True, "ts": "9.8",
               "deleted_ts": ts, "previous_message": {"ts": ts, "user": "U0NURSE", "text": "x"}}  # fmt: skip
    assert bot.event(deleted, team=T1, event_id="EvDel").status == 200
    assert store_for(r).for_thread(Workspace(T1), "C0TEAM", thread) == []


def test_what_is_not_a_reflection_is_ignored(bot: BotProcess, module_slack: FakeSlack, r: redis.Redis,
                                            corpus: Corpus) -> None:
    _, thread, _ = weekly_post(module_slack, r, corpus)
    other_thread = "1700000000.000999"
    reply(bot, "C0TEAM", other_thread, "a reply to something else")
    ts = f"{time.time():.6f}"
    top_level = {"type": "message", "channel": "C0TEAM", "user": "U0X", "text": "top level", "ts": ts}
    assert bot.event(top_level, team=T1, event_id="EvTop").status == 200
    bot_reply = {"type": "message", "channel": "C0TEAM", "bot_id": "B0OTHER", "text": "bot", "ts": ts + "1",
                 "thread_ts": thread}  # fmt: skip
    assert bot.event(bot_reply, team=T1, event_id="EvBot").status == 200
    assert store_for(r).for_thread(Workspace(T1), "C0TEAM", thread) == []
    # A reply also sent to the channel (thread_broadcast) does count.
    reply(bot, "C0TEAM", thread, "Broadcast reflection", subtype="thread_broadcast")
    assert [x.text for x in store_for(r).for_thread(Workspace(T1), "C0TEAM", thread)] == ["Broadcast reflection"]


def test_identifying_details_are_masked_and_the_author_told_privately(bot: BotProcess, module_slack: FakeSlack,
                                                                      r: redis.Redis, corpus: Corpus) -> None:
    _, thread, _ = weekly_post(module_slack, r, corpus)
    before = len(module_slack.ok_calls("chat.postEphemeral"))
    reply(bot, "C0TEAM", thread, "Like Mrs Jones at NR4 7TJ, DOB 12/03/2015, NHS 943 476 5919; "
                                 "mum Kayleigh born 2019-04-03 on (020) 7946 0958", user="U0HV")  # fmt: skip
    (saved,) = store_for(r).for_thread(Workspace(T1), "C0TEAM", thread)
    assert saved.text == ("Like [name removed] at [postcode removed], DOB [date removed], NHS [NHS number removed]; "
                          "mum [name removed] born [date removed] on [phone number removed]")  # fmt: skip
    assert set(saved.masked) == {"name", "postcode", "date", "nhs", "phone"}
    notes = wait_for(lambda: module_slack.ok_calls("chat.postEphemeral")[before:])  # sent after the ack
    assert len(notes) == 1
    note = notes[0].params
    assert note["user"] == "U0HV" and note["thread_ts"] == thread
    assert "a name (×2)" in note["text"] and "an NHS number" in note["text"]
    assert "Jones" not in note["text"] and "Kayleigh" not in note["text"]


# ----- the Reflect modal ----------------------------------------------------------------------------
def submission(view: dict, values: dict[str, str], *, team: str = T1, user: str = "U0NURSE", view_id: str = "V0001",
               visibility: str = "private", minutes: str = "15") -> str:  # fmt: skip
    state = {name: {"value": {"type": "plain_text_input", "value": text}} for name, text in values.items()}
    state["minutes"] = {"value": {"type": "static_select", "selected_option": {"value": minutes}}}
    state["visibility"] = {"value": {"type": "radio_buttons", "selected_option": {"value": visibility}}}
    payload = {"type": "view_submission", "team": {"id": team, "domain": "t"}, "user": {"id": user, "team_id": team},
               "api_app_id": "A0SCR", "trigger_id": "t.1",
               "view": {**view, "id": view_id, "team_id": team, "state": {"values": state}, "hash": "h"}}  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def open_modal(bot: BotProcess, slack: FakeSlack, *, value: str, channel: str, message_ts: str | None, team: str = T1,
               user: str = "U0AAA") -> dict:
    n = len(slack.views)
    assert bot.action("scr_reflect", value, channel=channel, team=team, message_ts=message_ts, user=user).status == 200
    opened = wait_for(lambda: slack.views[n:])[0]
    assert opened["method"] == "views.open" and opened["trigger_id"]
    return settled(slack, opened)


def settled(slack: FakeSlack, opened: dict) -> dict:
    """The Reflect form as the person ends up with it: it opens at once (a trigger_id lasts 3 s) and, when it
    might be shared in a thread, says it is checking, then is replaced once where it may be shared is known."""
    if "Checking whether" not in dumps(opened["view"]):
        return opened["view"]
    updated = wait_for(lambda: [v for v in slack.views if v["method"] == "views.update" and v["view_id"] == opened["id"]])
    return {**updated[-1]["view"], "id": opened["id"]}


def test_reflect_on_a_weekly_post_and_share_in_the_thread(bot: BotProcess, module_slack: FakeSlack, r: redis.Redis,
                                                         corpus: Corpus) -> None:
    _, thread, point = weekly_post(module_slack, r, corpus)
    view = open_modal(bot, module_slack, value=point, channel="C0TEAM", message_ts=thread)
    text = dumps(view)
    assert view["callback_id"] == "scr_reflection"
    for label in ("What stood out for you?", "What does it mean for your practice", "One thing you will do",
                  "Share in the thread", "Keep private", "Time spent"):
        assert label in text
    body = submission(view, {"stood_out": "The chaos around SUDI families", "practice": "Ask about sleep each visit",
                             "action": "Check the sofa"}, visibility="thread")  # fmt: skip
    resp = bot.post(body, "application/x-www-form-urlencoded")
    assert resp.status == 200
    answer = resp.json()
    assert answer["response_action"] == "update" and "Saved to your record" in dumps(answer)
    (saved,) = store_for(r).for_user(Workspace(T1), "U0NURSE")
    assert (saved.kind, saved.visibility, saved.minutes, saved.thread_ts) == ("modal", "thread", 15, thread)
    shared = wait_for(lambda: [m for m in module_slack.thread("C0TEAM", thread)
                               if "Reflection shared by <@U0NURSE>" in m["text"]])  # fmt: skip
    assert len(shared) == 1 and "Ask about sleep each visit" in dumps(shared[0])
    saved = wait_for(lambda: [x for x in store_for(r).for_user(Workspace(T1), "U0NURSE") if x.message_ts])[0]
    assert saved.message_ts == shared[0]["ts"]
    # Submitting the same view twice stores it once and shares it in the thread once.
    assert bot.post(body, "application/x-www-form-urlencoded").json()["response_action"] == "update"
    assert len(store_for(r).for_user(Workspace(T1), "U0NURSE")) == 1
    assert len([m for m in module_slack.thread("C0TEAM", thread) if "Reflection shared by" in m["text"]]) == 1


@pytest.mark.parametrize("lost", [500, "reset"])
def test_a_shared_reflection_whose_answer_is_lost_is_in_the_thread_once_and_stays_shared(
        bot: BotProcess, module_slack: FakeSlack, r: redis.Redis, corpus: Corpus, lost: int | str) -> None:  # fmt: skip
    channel = f"C0LOST{str(lost).upper()}"
    _, thread, point = weekly_post(module_slack, r, corpus, channel=channel)
    view = open_modal(bot, module_slack, value=point, channel=channel, message_ts=thread)
    module_slack.accept_then("chat.postMessage", lost, channel=channel)  # Slack posts it, the answer is lost
    user = f"U0L{str(lost).upper()}"
    body = submission(view, {"stood_out": f"Lost answer {lost}"}, user=user, view_id=f"V0L{lost}", visibility="thread")
    assert bot.post(body, "application/x-www-form-urlencoded").status == 200
    # As Slack does, the post comes back to the bot as a message event (it is in the channel): with the history
    # limits on (this module), reading the thread again within the minute would be refused.
    (posted,) = wait_for(lambda: [m for m in module_slack.thread(channel, thread) if f"Lost answer {lost}" in dumps(m)])
    echo = {"type": "message", "channel": channel, "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": posted["ts"],
            "thread_ts": thread, "text": posted.get("text", ""), "metadata": posted["metadata"],
            "event_ts": posted["ts"], "channel_type": "channel"}  # fmt: skip
    assert bot.event(echo, team=T1, event_id=f"EvEcho{lost}").status == 200
    saved = wait_for(lambda: [x for x in store_for(r).for_user(Workspace(T1), user) if x.message_ts])[0]
    shared = [m for m in module_slack.thread(channel, thread) if f"Lost answer {lost}" in dumps(m)]
    assert len(shared) == 1 and saved.message_ts == shared[0]["ts"]
    assert saved.visibility == "thread"  # counted in the summary, as the team sees it in the thread
    update = wait_for(lambda: [v for v in module_slack.views if v["method"] == "views.update"
                               and v.get("view_id") == f"V0L{lost}"])  # fmt: skip
    assert "shared in the thread too" in dumps(update[-1]["view"])


def test_a_crafted_home_reflect_button_cannot_share_into_a_thread_the_user_cannot_see(
        bot: BotProcess, module_slack: FakeSlack, r: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    """The Home tab's Reflect button carries the channel and thread; the bot checks both against its own
    record of the weekly post and whether the person is in that channel."""
    module_slack.members["C0PRIV"] = {"U0BOT", "U0INSIDE"}
    _, thread, point = weekly_post(module_slack, r, corpus, channel="C0PRIV")
    other = next(p.id for p in corpus.points if p.id != point)
    crafted = json.dumps({"point": other, "channel": "C0PRIV", "thread_ts": thread})

    outsider = open_modal(bot, module_slack, value=crafted, channel="D0HOME", message_ts=None, user="U0OUT")
    assert "Share in the thread" not in dumps(outsider)
    bot.post(submission(outsider, {"stood_out": "Crafted"}, user="U0OUT", view_id="V0OUT", visibility="thread"),
             "application/x-www-form-urlencoded")  # fmt: skip
    assert [m for m in module_slack.thread("C0PRIV", thread) if "Crafted" in dumps(m)] == []
    (kept,) = store_for(r).for_user(Workspace(T1), "U0OUT")
    assert kept.visibility == "private" and kept.thread_ts is None

    insider = open_modal(bot, module_slack, value=crafted, channel="D0HOME", message_ts=None, user="U0INSIDE")
    assert "Share in the thread" in dumps(insider)
    assert json.loads(insider["private_metadata"])["point"] == point  # the post's point, not the button's
    bot.post(submission(insider, {"stood_out": "Inside view"}, user="U0INSIDE", view_id="V0IN", visibility="thread"),
             "application/x-www-form-urlencoded")  # fmt: skip
    assert len(wait_for(lambda: [m for m in module_slack.thread("C0PRIV", thread) if "Inside view" in dumps(m)])) == 1
    assert [m for m in module_slack.thread("C0PRIV", thread) if "Crafted" in dumps(m)] == []


def test_reflect_from_a_lookup_is_private_and_validated(bot: BotProcess, module_slack: FakeSlack, r: redis.Redis) -> None:
    lookup = bot.command("co-sleeping", team=T1).json()
    reflect_button = next(el for b in lookup["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_reflect")
    view = open_modal(bot, module_slack, value=reflect_button["value"], channel="C0AAA", message_ts=None)
    assert "Share in the thread" not in dumps(view)
    empty = bot.post(submission(view, {"stood_out": "   "}), "application/x-www-form-urlencoded").json()
    assert empty == {"response_action": "errors", "errors": {"stood_out": "Write a few words about what stood out for you."}}
    ok = bot.post(submission(view, {"stood_out": "Email me at a@b.co", "practice": "", "action": ""}, view_id="V0002",
                             visibility="thread"), "application/x-www-form-urlencoded").json()  # fmt: skip
    assert ok["response_action"] == "update"
    assert "removed an email address" in dumps(ok)
    (saved,) = store_for(r).for_user(Workspace(T1), "U0NURSE")
    assert saved.visibility == "private" and saved.stood_out == "Email me at [email removed]"


def test_a_reflection_is_shared_only_if_the_person_is_still_a_member_when_it_is_saved(
        bot: BotProcess, module_slack: FakeSlack, r: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    """The form's private_metadata names the thread; before posting, Slack is asked again whether the person
    is in that channel: they may have left since the form opened, or the metadata may name another team's."""
    _, team_thread, point = weekly_post(module_slack, r, corpus, channel="C0TEAM")
    _, secret_thread, _ = weekly_post(module_slack, r, corpus, channel="C0SECRET")
    module_slack.members.update({"C0TEAM": {"U0BOT", "U0NURSE"}, "C0SECRET": {"U0BOT", "U0LEAD"}})
    try:
        mine = json.dumps({"point": point, "channel": "C0TEAM", "thread_ts": team_thread})
        view = open_modal(bot, module_slack, value=mine, channel="D0HOME", message_ts=None, user="U0NURSE")
        assert "Share in the thread" in dumps(view)
        # 1. The metadata names another team's weekly thread (a weekly post, so the form accepts it).
        other = {**view, "private_metadata": json.dumps({"point": point, "channel": "C0SECRET",
                                                        "thread_ts": secret_thread})}  # fmt: skip
        resp = bot.post(submission(other, {"stood_out": "CRAFTED words"}, view_id="V0CRAFT1", visibility="thread"),
                        "application/x-www-form-urlencoded")  # fmt: skip
        assert resp.status == 200
        told = wait_for(lambda: [v for v in module_slack.views if v["method"] == "views.update"
                                 and v["view_id"] == "V0CRAFT1" and "kept private" in dumps(v["view"])])  # fmt: skip
        assert "member of <#C0SECRET>" in dumps(told[0]["view"])
        # 2. The person leaves the channel between opening the form and saving it.
        module_slack.members["C0TEAM"] = {"U0BOT"}
        bot.post(submission(view, {"stood_out": "Written after leaving"}, view_id="V0LEFT", visibility="thread"),
                 "application/x-www-form-urlencoded")  # fmt: skip
        wait_for(lambda: [v for v in module_slack.views if v["method"] == "views.update"
                          and v["view_id"] == "V0LEFT" and "kept private" in dumps(v["view"])])  # fmt: skip
        # 3. Back in the channel: shared as before.
        module_slack.members["C0TEAM"] = {"U0BOT", "U0NURSE"}
        bot.post(submission(view, {"stood_out": "Shared as a member"}, view_id="V0MEMBER", visibility="thread"),
                 "application/x-www-form-urlencoded")  # fmt: skip
        wait_for(lambda: [m for m in module_slack.thread("C0TEAM", team_thread) if "Shared as a member" in dumps(m)])
        time.sleep(0.5)  # anything posted late would show now
        assert not [m for m in module_slack.thread("C0SECRET", secret_thread) if m.get("ts") != secret_thread]
        assert not [m for m in module_slack.thread("C0TEAM", team_thread) if "Written after leaving" in dumps(m)]
        kept = {x.stood_out: x.visibility for x in store_for(r).for_user(Workspace(T1), "U0NURSE")}
        assert kept == {"CRAFTED words": "private", "Written after leaving": "private", "Shared as a member": "thread"}
    finally:
        module_slack.members.pop("C0TEAM", None)
        module_slack.members.pop("C0SECRET", None)


# ----- giving back: summary, /scr reflections, App Home, export, forget ------------------------------
def test_weekly_summary_in_the_thread_counts_shared_reflections_only(bot: BotProcess, module_slack: FakeSlack,
                                                                     r: redis.Redis, corpus: Corpus) -> None:
    schedule, thread, point_id = weekly_post(module_slack, r, corpus)
    point = corpus.by_id[point_id]
    words = " ".join(point.questions[0].split()[:8])
    reply(bot, "C0TEAM", thread, f"On that question: {words}", user="U1")
    reply(bot, "C0TEAM", thread, f"Same here, {words}", user="U2")
    reply(bot, "C0TEAM", thread, "Thanks everyone", user="U2")
    view = open_modal(bot, module_slack, value=point_id, channel="C0TEAM", message_ts=thread)
    bot.post(submission(view, {"stood_out": "very private thought"}, user="U3", view_id="V0PRIV"),
             "application/x-www-form-urlencoded")  # fmt: skip
    poster = WeeklyPoster(r, SlackDeliveries(make_client("xoxb-test", module_slack.url), corpus), corpus)
    summaries = SummaryPoster(poster, store_for(r), corpus)
    assert summaries.deliver(schedule, MONDAY + timedelta(days=1)).outcome == "not_due"
    friday = MONDAY.replace(hour=16, minute=0) + timedelta(days=4)
    assert summaries.deliver(schedule, friday).outcome == "posted"
    assert summaries.deliver(schedule, friday + timedelta(minutes=5)).outcome == "already"
    (summary,) = [m for m in module_slack.thread("C0TEAM", thread) if (m.get("metadata") or {}).get("event_type") ==
                  "scr_weekly_summary"]  # fmt: skip
    text = dumps(summary)
    assert "3 reflections" in text and "2 people" in text
    assert point.questions[0] in text
    assert "private thought" not in text and "Thanks everyone" not in text
    assert_valid_message(summary)


def test_channel_participation_app_home_export_and_forget(bot: BotProcess, module_slack: FakeSlack, r: redis.Redis,
                                                          corpus: Corpus) -> None:
    _, thread, point_id = weekly_post(module_slack, r, corpus)
    reply(bot, "C0TEAM", thread, "My thought about safer sleep and families", user="U0ME")
    reply(bot, "C0TEAM", thread, "Another view", user="U0YOU")
    view = open_modal(bot, module_slack, value=point_id, channel="C0TEAM", message_ts=thread)
    bot.post(submission(view, {"stood_out": "Private <!channel> note", "practice": "p", "action": "a"}, user="U0ME",
                        view_id="V0ME"), "application/x-www-form-urlencoded")  # fmt: skip

    part = bot.command("reflections", channel="C0TEAM", team=T1).json()
    assert "1 post, 2 reflections shared" in dumps(part) and "2026-W48" in dumps(part)

    n = len(module_slack.views)
    home_open = {"type": "app_home_opened", "user": "U0ME", "channel": "D0ME", "tab": "home", "event_ts": "1.1"}
    assert bot.event(home_open, team=T1, event_id="EvHome").status == 200
    (published,) = wait_for(lambda: module_slack.views[n:])
    assert published["method"] == "views.publish" and published["user_id"] == "U0ME"
    home = dumps(published["view"])
    assert "Your reflections* (2)" in home and "My thought about safer sleep" in home
    assert "&lt;!channel&gt;" in home and "<!channel>" not in home
    assert "Another view" not in home  # someone else's words never appear on my Home
    assert "scr_export" in home and "scr_forget" in home and "<#C0TEAM>" in home

    files_before = len(module_slack.files)
    export = command_answer(bot, module_slack, "export", user="U0ME", team=T1)
    assert "direct message" in export["text"]
    md, csv_file = wait_for(lambda: module_slack.files[files_before:])
    md_text = md["content"].decode()
    assert "# Reflective practice record" in md_text and "My thought about safer sleep" in md_text
    assert "Another view" not in md_text and md["channel"] == "DU0ME"
    assert csv_file["content"].decode().startswith("date,activity_type,minutes")

    forget = bot.command("forget me", user="U0ME", team=T1).json()
    button = next(el for b in forget["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_forget")
    assert button["style"] == "danger" and button["confirm"]
    url = module_slack.response_url()
    assert bot.action("scr_forget", "all", user="U0ME", team=T1, response_url=url).status == 200
    done = wait_for(lambda: next((x for x in module_slack.responses if x.get("_url") == url), None))
    assert "Deleted 2 reflections" in done["text"]
    assert store_for(r).for_user(Workspace(T1), "U0ME") == []
    assert len(store_for(r).for_user(Workspace(T1), "U0YOU")) == 1  # only my record is gone


@pytest.fixture
def two_workspaces(slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis,
                   tmp_path: Path) -> Iterator[tuple[BotProcess, dict[str, str]]]:  # fmt: skip
    """One deployment serving T1 and T2: a distributed bot (OAuth) both installed through "Add to Slack", so each
    has its own token, as two workspaces really share a bot (a single-token bot serves its token's team only).
    Yields the bot and each team's token."""
    bot = start_bot(["run", "--no-scheduler"], distributed_env(slack, redis_server.url, tmp_path),
                    tmp_path / "bot.log", free_port())  # fmt: skip
    try:
        yield bot, {team: install_workspace(bot, slack, team) for team in (T1, T2)}
    finally:
        stop_bot(bot)


def test_two_workspaces_cannot_see_each_other(two_workspaces: tuple[BotProcess, dict[str, str]], slack: FakeSlack,
                                              r: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    """Same channel and user ids in two workspaces sharing one bot and one Redis: nothing crosses over."""
    bot, token = two_workspaces
    _, thread1, p1 = weekly_post(slack, r, corpus, team=T1, channel="C0SHARED", token=token[T1])
    ws2_schedule = Schedule(id="s-two", team=T2, channel="C0SHARED", sectors=("police",))
    thread2 = WeeklyPoster(r, SlackDeliveries(make_client(token[T2], slack.url), corpus), corpus).deliver(
        ws2_schedule, MONDAY + timedelta(minutes=1), ignore_time=True).ts
    reply(bot, "C0SHARED", thread1, "workspace one secret", user="U0SAME", team=T1)
    reply(bot, "C0SHARED", thread2, "workspace two secret", user="U0SAME", team=T2)
    # a reply event from workspace two naming workspace one's thread is not a reflection on it
    reply(bot, "C0SHARED", thread1, "cross-workspace attempt", user="U0SAME", team=T2)
    assert [x.text for x in store_for(r).for_user(Workspace(T1), "U0SAME")] == ["workspace one secret"]
    assert [x.text for x in store_for(r).for_user(Workspace(T2), "U0SAME")] == ["workspace two secret"]

    p1_reflections = dumps(bot.command("reflections", channel="C0SHARED", team=T1).json())
    assert "1 reflection shared" in p1_reflections
    p2_reflections = dumps(bot.command("reflections", channel="C0SHARED", team=T2).json())
    assert "1 reflection shared" in p2_reflections and corpus.by_id[p1].title not in p2_reflections

    n = len(slack.views)
    bot.event({"type": "app_home_opened", "user": "U0SAME", "tab": "home", "event_ts": "1"}, team=T2, event_id="EvH2")
    home2 = dumps(wait_for(lambda: slack.views[n:])[0]["view"])
    assert "workspace two secret" in home2 and "workspace one secret" not in home2

    files_before = len(slack.files)
    command_answer(bot, slack, "export", user="U0SAME", team=T2)
    md = wait_for(lambda: slack.files[files_before:])[0]["content"].decode()
    assert "workspace two secret" in md and "workspace one secret" not in md

    url = slack.response_url()
    bot.action("scr_forget", "all", user="U0SAME", team=T2, response_url=url)
    wait_for(lambda: any(x.get("_url") == url for x in slack.responses))
    assert store_for(r).for_user(Workspace(T2), "U0SAME") == []
    assert [x.text for x in store_for(r).for_user(Workspace(T1), "U0SAME")] == ["workspace one secret"]

    # A modal submitted in workspace two cannot attach to workspace one's thread.
    view = open_modal(bot, slack, value=p1, channel="C0SHARED", message_ts=thread1, team=T2)
    assert "Share in the thread" not in dumps(view)


# ----- Redis down ----------------------------------------------------------------------------------
def test_redis_down_never_drops_a_reflection_silently(bot_without_redis: BotProcess, module_slack: FakeSlack) -> None:
    resp, _ = reply(bot_without_redis, "C0TEAM", "1800000000.000100", "a reflection while storage is down")
    assert resp.status >= 500  # Slack will retry the event later
    view = open_modal(bot_without_redis, module_slack, value="h14-sudi", channel="C0TEAM", message_ts=None)
    answer = bot_without_redis.post(submission(view, {"stood_out": "keep me"}, view_id="V0DOWN"),
                                    "application/x-www-form-urlencoded")  # fmt: skip
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors" and "couldn't save your reflection" in body["errors"]["stood_out"]
    assert "can't reach my storage" in bot_without_redis.command("reflections", channel="C0TEAM").json()["text"]
