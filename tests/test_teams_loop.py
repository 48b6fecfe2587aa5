"""Microsoft Teams, the week's loop end to end: thread replies become reflections (masked; edits, deletions and
out-of-order deliveries as on Slack) and the summary counts them; a knowledge check sent by the clock and
answered once however often its button is pressed. The bot is a process, Redis is real, Teams is faked at its
HTTP boundary (tests/fake_teams.py) and every activity is signed as the Bot Connector signs it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.learning.quiz import QuizStore
from bot.reflections.store import ReflectionStore
from bot.storage import keys
from bot.weekly.schedules import Schedule, Subscriptions
from conftest import ROOT, BotProcess, bot_env, free_port, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams, new_key
from fakeslack import FakeSlack
from teams_helpers import next_day, personal_app_added, run_due, send, signed

APP_ID = "00000000-0000-0000-0000-00000001000f"
TENANT = "72f988bf-0000-0000-0000-00000000100f"
GROUP = "aad-group-loop"
WS = keys.Workspace(TENANT, platform="teams")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamsloop"), **teams.env())


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path_factory.mktemp("teamsloopbot") / "bot.log", free_port())
    yield proc
    stop_bot(proc)










def installed(bot: BotProcess, teams: FakeTeams, r: redis.Redis, channel: str) -> None:
    signed(bot, teams, teams.channel_added(channel, GROUP))
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), channel))


def reflections(r: redis.Redis, channel: str, post: str) -> dict[str, Any]:
    return {x.message_ts: x for x in ReflectionStore(r, 365).for_thread(WS, channel, post)}


# ----- item 5: thread replies are reflections --------------------------------------------------------
def test_thread_replies_edits_and_deletions_are_reflections_and_the_summary_counts_them(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    channel = "19:loop-reflect@thread.tacv2"
    installed(teams_bot, teams, shared_redis, channel)
    Subscriptions(shared_redis).save(Schedule(id="teams-loop-reflect", team=TENANT, channel=channel, post="30 9 * * mon",
                                              summary="0 16 * * fri", source="teams", platform="teams"))  # fmt: skip
    monday = next_day(0, 9, 31)
    assert "teams-loop-reflect " in (out := run_due(env, monday)) and ": posted" in out, out
    (post,) = teams.weekly_posts(channel)
    root = post["id"]
    now = datetime.now(LONDON)
    base = int(time.time() * 1000)
    ann, ben, cat, dee = "29:ann", "29:ben", "29:cat", "29:dee"
    ids = {who: str(base + n) for n, who in enumerate((ann, ben, cat, dee))}

    def reply(who: str, text: str, kind: str = "message", at: datetime = now, event: str | None = None) -> None:
        signed(teams_bot, teams, teams.thread_activity(kind, channel, root, ids[who], text=text, user=who, at=at, event=event))

    def logged(what: str, n: int) -> None:
        wait_for(lambda: teams_bot.log().count(f"teams: a reply in {channel} filed ({what})") >= n)

    # Ann names a family and a street: masked before it is stored, and she is told privately, in her chat.
    reply(ann, "<p>I spoke with Sarah Jones at 14 Acacia Road; it made me think about professional curiosity</p>")
    # Ben's edit arrives before his reply: the edit is kept, the older original changes nothing.
    reply(ben, "Edited: the point about <b>curiosity</b> and checking what we are told", "messageUpdate",
          now + timedelta(minutes=2), "editMessage")
    logged("created", 2)
    reply(ben, "First thought about curiosity")
    logged("stale", 1)
    # Cat's reply is deleted; a late copy of it is refused.
    reply(cat, "A reply Cat thought better of")
    wait_for(lambda: ids[cat] in reflections(shared_redis, channel, root))
    reply(cat, "", "messageDelete", event="softDeleteMessage")
    wait_for(lambda: ids[cat] not in reflections(shared_redis, channel, root))
    reply(cat, "A reply Cat thought better of")
    logged("deleted", 1)
    # Dee's reads as a live concern: kept private (never counted), and she is told where to take it.
    reply(dee, "a pupil told me today her stepdad hits her, I am worried about her")
    wait_for(lambda: ids[dee] in reflections(shared_redis, channel, root))

    stored = reflections(shared_redis, channel, root)
    assert set(stored) == {ids[ann], ids[ben], ids[dee]}
    assert "[name removed]" in stored[ids[ann]].text and "Sarah" not in stored[ids[ann]].text
    assert "Acacia" not in stored[ids[ann]].text and "<p>" not in stored[ids[ann]].text
    assert stored[ids[ben]].text == "Edited: the point about curiosity and checking what we are told"
    assert stored[ids[ann]].shared and stored[ids[ben]].shared and not stored[ids[dee]].shared
    assert {stored[i].week for i in (ids[ann], ids[ben])} == {json.loads(shared_redis.get(keys.thread(WS, channel, root)))["week"]}
    wait_for(lambda: len({s["conversation"] for s in teams.sent if s["conversation"].startswith("a:personal-29:")}) >= 2)
    told = {s["conversation"]: s["activity"]["text"] for s in teams.sent if s["conversation"].startswith("a:personal-29:")}
    assert "a name" in told[f"a:personal-{ann}"] and "street address" in told[f"a:personal-{ann}"]
    assert told[f"a:personal-{dee}"].startswith(teams_bot_safety_note())
    assert "Slack" not in told[f"a:personal-{dee}"] and "workspace" not in told[f"a:personal-{dee}"]  # said in Teams
    assert f"a:personal-{ben}" not in told and f"a:personal-{cat}" not in told

    # Friday's summary, in the post's thread: Ann's and Ben's, not Cat's (deleted) nor Dee's (private).
    out = run_due(env, monday.replace(hour=16, minute=1) + timedelta(days=4))
    assert "teams-loop-reflect summary" in out and "posted" in out, out
    (summary,) = teams.replies_to(root)
    assert "2 reflections from 2 people" in json.dumps(summary["attachments"][0]["content"]["body"])
    assert summary["text"]  # a plain-text fallback


def test_only_its_authors_edit_or_deletion_changes_a_reflection(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """Teams names who edited or deleted a message, and that may be someone other than its author (a team owner
    deleting, or an activity claiming so): an edit or deletion by anyone else leaves the author's reflection as
    they wrote it, and a deletion by someone else before the reply arrives does not refuse the author's reply."""
    channel = "19:loop-authors@thread.tacv2"
    installed(teams_bot, teams, shared_redis, channel)
    Subscriptions(shared_redis).save(Schedule(id="teams-loop-authors", team=TENANT, channel=channel, post="30 9 * * mon",
                                              summary="0 16 * * fri", source="teams", platform="teams"))  # fmt: skip
    monday = next_day(0, 9, 31)
    assert "teams-loop-authors " in (out := run_due(env, monday)) and ": posted" in out, out
    root = teams.weekly_posts(channel)[0]["id"]
    now = datetime.now(LONDON)
    base = int(time.time() * 1000)
    edited, deleted, early = str(base + 1), str(base + 2), str(base + 3)
    author, other = "29:author-eve", "29:someone-else"

    def act(kind: str, mid: str, who: str, text: str = "", at: datetime = now, event: str | None = None) -> None:
        signed(teams_bot, teams, teams.thread_activity(kind, channel, root, mid, text=text, user=who, at=at, event=event))

    act("message", edited, author, "My own thought about chronologies")
    act("message", deleted, author, "My reply that stays")
    wait_for(lambda: {edited, deleted} <= set(reflections(shared_redis, channel, root)))
    act("messageUpdate", edited, other, "HIJACKED by someone else", now + timedelta(minutes=3), "editMessage")
    act("messageDelete", deleted, other, event="softDeleteMessage")
    act("messageDelete", early, other, event="softDeleteMessage")  # before Eve's reply arrives
    act("message", early, author, "My reply that came late")
    wait_for(lambda: early in reflections(shared_redis, channel, root))
    # Eve's own edit still counts: the refusals above are about who, not about edits.
    act("messageUpdate", deleted, author, "My reply, edited by me", now + timedelta(minutes=4), "editMessage")
    wait_for(lambda: reflections(shared_redis, channel, root)[deleted].text == "My reply, edited by me")
    stored = reflections(shared_redis, channel, root)
    assert stored[edited].text == "My own thought about chronologies" and stored[edited].user == author
    assert all(r.user == author for r in stored.values()) and "HIJACKED" not in json.dumps([r.text for r in stored.values()])
    # And Eve's own deletion does forget it.
    act("messageDelete", edited, author, event="softDeleteMessage")
    wait_for(lambda: edited not in reflections(shared_redis, channel, root))


def weekly_thread(bot: BotProcess, teams: FakeTeams, env: dict[str, str], r: redis.Redis, channel: str, sid: str) -> str:
    """A weekly post in ``channel`` (installed, subscribed, posted by the clock): its message id, the thread's root."""
    installed(bot, teams, r, channel)
    Subscriptions(r).save(Schedule(id=sid, team=TENANT, channel=channel, post="30 9 * * mon", summary="0 16 * * fri",
                                   source="teams", platform="teams"))  # fmt: skip
    assert f"{sid} " in (out := run_due(env, next_day(0, 9, 31))) and ": posted" in out, out
    return str(teams.weekly_posts(channel)[0]["id"])


def test_an_edit_by_someone_else_that_arrives_before_the_reply_does_not_take_it_over(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """Teams names who sent an edit, and it may be someone other than the author (or claim to be). An edit that
    arrives before its message is stored provisionally: the message itself says whose the reply is, and when that is
    someone else it replaces the provisional record, whose text and index entries go."""
    channel = "19:loop-early-edit@thread.tacv2"
    root = weekly_thread(teams_bot, teams, env, shared_redis, channel, "teams-loop-early-edit")
    now = datetime.now(LONDON)
    base = int(time.time() * 1000)
    hijacked, own = str(base + 1), str(base + 2)
    author, other = "29:early-author", "29:early-other"

    def act(kind: str, mid: str, who: str, text: str, at: datetime, event: str | None = None) -> None:
        signed(teams_bot, teams, teams.thread_activity(kind, channel, root, mid, text=text, user=who, at=at, event=event))

    def filed(what: str) -> int:
        return teams_bot.log().count(f"teams: a reply in {channel} filed ({what})")

    act("messageUpdate", hijacked, other, "HIJACK sent before the reply", now + timedelta(minutes=9), "editMessage")
    wait_for(lambda: filed("created") == 1)
    act("message", hijacked, author, "The author's own reply about chronologies", now)
    wait_for(lambda: filed("created") == 2)
    # The author's own edit arriving first is theirs: their message confirms it and changes nothing.
    act("messageUpdate", own, author, "My edit, sent before my reply", now + timedelta(minutes=5), "editMessage")
    wait_for(lambda: filed("created") == 3)
    act("message", own, author, "My reply as first written", now)
    wait_for(lambda: filed("stale") == 1)
    # And the record, once the message said whose it is, is not someone else's to take with a second "message".
    act("message", own, other, "HIJACK claiming the reply", now)
    wait_for(lambda: filed("stale") == 2)

    stored = reflections(shared_redis, channel, root)
    assert stored[hijacked].user == author and stored[hijacked].text == "The author's own reply about chronologies"
    assert stored[own].user == author and stored[own].text == "My edit, sent before my reply"
    assert ReflectionStore(shared_redis, 365).for_user(WS, other) == []
    assert "HIJACK" not in json.dumps([r.text for r in ReflectionStore(shared_redis, 365).for_user(WS, author)])


def test_a_reply_its_author_deleted_stays_deleted_when_someone_else_deletes_it_too(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """Author deletes (before the reply arrived), then someone else deletes the same message: the tombstone keeps
    both, so the author's late copy is still refused; a third person's deletion refuses nothing of the author's."""
    channel = "19:loop-two-deletes@thread.tacv2"
    root = weekly_thread(teams_bot, teams, env, shared_redis, channel, "teams-loop-two-deletes")
    now = datetime.now(LONDON)
    base = int(time.time() * 1000)
    gone, kept = str(base + 1), str(base + 2)
    author, other = "29:deleting-author", "29:deleting-other"

    def act(kind: str, mid: str, who: str, text: str = "", event: str | None = None) -> None:
        signed(teams_bot, teams, teams.thread_activity(kind, channel, root, mid, text=text, user=who, at=now, event=event))

    act("messageDelete", gone, author, event="softDeleteMessage")
    act("messageDelete", gone, other, event="softDeleteMessage")
    act("messageDelete", kept, other, event="softDeleteMessage")
    time.sleep(1)  # the deletions are handled in order before the late copies below
    act("message", gone, author, "A reply I deleted, delivered late")
    act("message", kept, author, "A reply only someone else deleted")
    wait_for(lambda: teams_bot.log().count(f"teams: a reply in {channel} filed (deleted)") == 1)
    wait_for(lambda: kept in reflections(shared_redis, channel, root))
    assert gone not in reflections(shared_redis, channel, root)
    assert [r.message_ts for r in ReflectionStore(shared_redis, 365).for_user(WS, author)] == [kept]


def test_a_reply_its_author_deleted_stays_deleted_for_everyone_and_the_authors_newest_edit_is_what_stays(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """Teams names who sent each edit or deletion, and it may be someone other than the author. Once the author has
    deleted a reply it stays deleted for everyone (a late edit, or a "message" copy, naming someone else is not stored
    as theirs), also when the message, its deletion and someone else's edit arrive at once. And the author's own
    newest text is what stays: their edit is not lost because someone else's edit came first, and someone else's
    deletion does not wipe the author's edit stored before their message."""
    channel = "19:loop-deleted-for-all@thread.tacv2"
    root = weekly_thread(teams_bot, teams, env, shared_redis, channel, "teams-loop-deleted-for-all")
    now = datetime.now(LONDON)
    base = int(time.time() * 1000)
    ids = [str(base + i) for i in range(10)]
    author, other = "29:del-all-author", "29:del-all-other"

    def activity(kind: str, mid: str, who: str, text: str = "", minutes: int = 0) -> dict[str, Any]:
        event = {"messageUpdate": "editMessage", "messageDelete": "softDeleteMessage"}.get(kind)
        return teams.thread_activity(kind, channel, root, mid, text=text, user=who, at=now + timedelta(minutes=minutes),
                                     event=event)  # fmt: skip

    def act(kind: str, mid: str, who: str, text: str = "", minutes: int = 0) -> None:
        signed(teams_bot, teams, activity(kind, mid, who, text, minutes))
        time.sleep(0.6)  # handled in this order

    def at_once(*acts: dict[str, Any]) -> None:
        threads = [threading.Thread(target=signed, args=(teams_bot, teams, a)) for a in acts]
        [t.start() for t in threads]
        [t.join() for t in threads]

    h, h2, a, b, lost, n, *raced = ids
    # H / H2: the author deletes their stored reply; an edit, or a copy of the message, naming someone else comes late.
    for mid in (h, h2):
        act("message", mid, author, "My reply about the strategy meeting")
        act("messageDelete", mid, author)
    act("messageUpdate", h, other, "My reply, resent by someone else", 5)
    act("message", h2, other, "My reply, resent by someone else")
    # A: someone else's edit first, then the author's own (newer) edit, then the message.
    act("messageUpdate", a, other, "Someone else's edit of A", 5)
    act("messageUpdate", a, author, "A as its author last edited it", 9)
    act("message", a, author, "A as first written")
    # B: the author's edit first, someone else's later edit, then the message.
    act("messageUpdate", b, author, "B as its author edited it", 5)
    act("messageUpdate", b, other, "Someone else's edit of B", 9)
    act("message", b, author, "B as first written")
    # L: the author's edit first, someone else deletes it, then the message.
    act("messageUpdate", lost, author, "L as its author edited it", 5)
    act("messageDelete", lost, other)
    act("message", lost, author, "L as first written")
    # N: the message, someone else's edits and the author's own edit at once.
    at_once(activity("message", n, author, "N as first written"), activity("messageUpdate", n, author, "N as its author edited it", 3),
            *(activity("messageUpdate", n, other, f"Someone else's edit {i} of N", 5 + i) for i in range(3)))  # fmt: skip
    # O: the message, its author's deletion and someone else's edit at once, a few times.
    for mid in raced:
        at_once(activity("message", mid, author, "A reply deleted at once"), activity("messageDelete", mid, author),
                activity("messageUpdate", mid, other, "Someone else's edit of a deleted reply", 5))  # fmt: skip
    time.sleep(3)

    def settled() -> dict[str, Any]:
        return {k: (v.user, v.text, v.provisional) for k, v in reflections(shared_redis, channel, root).items()}

    expected = {a: (author, "A as its author last edited it", False), b: (author, "B as its author edited it", False),
                lost: (author, "L as its author edited it", False), n: (author, "N as its author edited it", False)}
    with contextlib.suppress(AssertionError):  # the assertion below says what differs
        wait_for(lambda: settled() == expected)
    assert settled() == expected
    store = ReflectionStore(shared_redis, 365)
    assert store.for_user(WS, other) == []
    assert sorted(x.message_ts for x in store.for_user(WS, author)) == sorted(expected)


def teams_bot_safety_note() -> str:
    from bot.content.corpus import load_corpus

    advice = load_corpus(ROOT / "content").safety
    assert advice is not None
    return advice.reflection_note


# ----- items 4/6: knowledge checks -----------------------------------------------------------------------
def check_card(teams: FakeTeams, conversation: str) -> dict[str, Any]:
    (sent,) = [p["activity"] for p in teams.weekly_posts(conversation)]  # the welcome card of a personal app aside
    return sent


def test_a_check_sent_by_the_clock_is_answered_once_however_often_it_is_pressed(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    user, chat = "29:quizzer", "a:personal-quizzer"
    installed(teams_bot, teams, shared_redis, "19:loop-quiz@thread.tacv2")
    on = teams.personal_message("quiz on", conversation=chat, user=user)
    signed(teams_bot, teams, on)
    assert "You're in" in wait_for(lambda: teams.replies_to(on["id"]))[0]["text"]
    assert QuizStore(shared_redis).person(WS, user) is not None

    tuesday = next_day(1, 11)
    first = run_due(env, tuesday)
    assert f"quiz {user}: sent check=" in first, first
    assert f"quiz {user}: sent" not in run_due(env, tuesday + timedelta(hours=1))  # once a day
    sent = check_card(teams, chat)
    card = sent["attachments"][0]["content"]
    assert sent["text"].startswith("Knowledge check: ") and card["fallbackText"] and card["speak"]
    actions = card["actions"]
    assert all(a["type"] == "Action.Execute" and a["title"] and a["tooltip"] for a in actions)
    from bot.content.corpus import load_corpus

    check = load_corpus(ROOT / "content").check(actions[0]["data"]["c"])
    assert check is not None and check.question in json.dumps(card["body"])
    wrong = next(a for a in actions if check.options[a["data"]["o"]] != check.answer)
    right = next(a for a in actions if check.options[a["data"]["o"]] == check.answer)

    press = teams.card_action(wrong["data"], wrong["verb"], conversation=chat, user=user)
    answered = signed(teams_bot, teams, press).json()
    assert answered["statusCode"] == 200 and answered["type"] == "application/vnd.microsoft.card.adaptive"
    shown = json.dumps(answered["value"])
    assert "Not quite" in shown and check.explanation.split(".")[0] in shown and "Source: " in shown
    assert answered["value"]["fallbackText"]
    # Pressed again (the right one this time, and the same one twice): nothing more is recorded; the first stays.
    for action in (right, wrong):
        again = signed(teams_bot, teams, teams.card_action(action["data"], action["verb"], conversation=chat, user=user)).json()
        assert "already answered" in json.dumps(again["value"]) and "Not quite" in json.dumps(again["value"])
    answers = QuizStore(shared_redis).answers(WS, user)
    assert len(answers) == 1 and not answers[0].correct and answers[0].check == check.id


def sent_check(teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], user: str, chat: str) -> dict[str, Any]:
    """``user`` adds the app as a personal app, opts in in ``chat`` and the clock sends them a check (on the next
    Tuesday): its card."""
    personal_app_added(teams_bot, teams, redis.Redis.from_url(env["REDIS_URL"], decode_responses=True), WS, user, chat)
    on = teams.personal_message("quiz on", conversation=chat, user=user)
    signed(teams_bot, teams, on)
    assert "You're in" in wait_for(lambda: teams.replies_to(on["id"]))[0]["text"]
    out = run_due(env, next_day(1, 11))
    assert f"quiz {user}: sent check=" in out, out
    return check_card(teams, chat)["attachments"][0]["content"]


def test_an_answer_to_a_check_never_sent_to_its_presser_is_refused_and_nothing_is_stored(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """An Action.Execute carries whatever data the invoke says: a press naming a day the check was not sent on,
    a check not sent that day, or someone else's check, is answered calmly and records nothing, so one check
    sent counts once, not once per made-up day."""
    user, chat = "29:quiz-forger", "a:personal-quiz-forger"
    card = sent_check(teams_bot, teams, env, user, chat)
    sent = card["actions"][0]["data"]
    from bot.content.corpus import load_corpus

    other = next(c for c in load_corpus(ROOT / "content").checks if c.id != sent["c"])
    day_before = (datetime.fromisoformat(sent["d"]) - timedelta(days=1)).date().isoformat()
    forged = [{**sent, "d": day_before}, {**sent, "d": "2099-01-01"}, {**sent, "d": "garbage"},
              {"c": other.id, "d": sent["d"], "o": 0}]  # fmt: skip
    for data in forged:
        out = signed(teams_bot, teams, teams.card_action(data, "scr_quiz_answer", conversation=chat, user=user)).json()
        assert out["statusCode"] == 200 and out["type"] == "application/vnd.microsoft.card.adaptive", out
        assert "not available" in out["value"]["fallbackText"] and "Right" not in json.dumps(out["value"]), out
    # Someone else pressing this person's check (the data names no person: the presser is who answers).
    stranger = teams.card_action(sent, "scr_quiz_answer", conversation="a:personal-stranger", user="29:quiz-stranger")
    assert "not available" in signed(teams_bot, teams, stranger).json()["value"]["fallbackText"]
    assert QuizStore(shared_redis).answers(WS, user) == [] and QuizStore(shared_redis).answers(WS, "29:quiz-stranger") == []
    assert QuizStore(shared_redis).cards(WS, user)[sent["c"]].right + QuizStore(shared_redis).cards(WS, user)[sent["c"]].wrong == 0
    # The check as sent is answered, once.
    out = signed(teams_bot, teams, teams.card_action(sent, "scr_quiz_answer", conversation=chat, user=user)).json()
    assert "not available" not in out["value"]["fallbackText"]
    assert [(a.check, a.sent_day) for a in QuizStore(shared_redis).answers(WS, user)] == [(sent["c"], sent["d"])]


def test_a_forged_token_on_an_answer_is_refused_and_nothing_is_stored(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    user = "29:forger-victim"
    data = sent_check(teams_bot, teams, env, user, "a:personal-victim")["actions"][0]["data"]
    press = teams.card_action(data, "scr_quiz_answer", conversation="a:personal-victim", user=user)
    for token in (teams.token_for(press, key=new_key()), teams.token_for(press, audience="another-app"), None):
        resp = send(teams_bot, press, token)
        assert resp.status == 401 and not resp.body.startswith(b'{"statusCode"')
    assert QuizStore(shared_redis).answers(WS, user) == []
    # The same press, signed as the Bot Connector signs it, is answered and recorded: "nothing stored" above
    # is the token's doing, not an answer that was never going to be kept.
    ok = send(teams_bot, press, teams.token_for(press))
    assert ok.status == 200 and ok.json()["type"] == "application/vnd.microsoft.card.adaptive"
    assert len(QuizStore(shared_redis).answers(WS, user)) == 1


def answered_counts(r: redis.Redis) -> tuple[int, int]:
    """(checks answered, by week; by month) summed over this tenant's team aggregates."""
    def total(pattern: str) -> int:
        return sum(int(r.hget(k, "answered") or 0) for k in r.scan_iter(match=pattern) if r.type(k) == "hash")

    return total(keys.quiz_week(WS, "*", "*")[0]), total(keys.quiz_month(WS, "*", "*")[0])


def test_when_a_check_was_answered_is_the_servers_clock_not_the_activitys_timestamp(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """An invoke's ``timestamp`` is whatever its sender wrote: a press dated years ago was deleted as past retention
    as soon as it was stored, so every replay counted again in the team's week and month; and a date of the sender's
    choosing filed the counts under any week. The answer is dated by the bot's clock, and a replay shows the first."""
    user, chat = "29:quiz-dated", "a:personal-quiz-dated"
    actions = sent_check(teams_bot, teams, env, user, chat)["actions"]
    before = answered_counts(shared_redis)
    for n, action in enumerate((actions[0], actions[0], actions[1])):
        press = teams.card_action(action["data"], action["verb"], conversation=chat, user=user)
        press["timestamp"] = "2020-01-01T10:00:00Z"
        shown = json.dumps(signed(teams_bot, teams, press).json()["value"])
        assert ("already answered" in shown) == (n > 0), shown
    (answer,) = QuizStore(shared_redis).answers(WS, user)
    from bot.content.corpus import load_corpus

    check = load_corpus(ROOT / "content").check(actions[0]["data"]["c"])
    assert check is not None and answer.chosen == check.options[actions[0]["data"]["o"]]  # the first press, kept
    assert abs(answer.answered_at - time.time()) < 120
    week, month = answered_counts(shared_redis)
    assert (week - before[0], month - before[1]) == (1, 1)
    assert not list(shared_redis.scan_iter(match=keys.quiz_week(WS, "*", "2020-W01")[0]))


def test_an_answer_of_the_wrong_shape_is_refused_calmly_and_nothing_is_stored(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    """The card's data is whatever the invoke carries: an option that is not a whole number (1.7, true, "0 "), a day
    or check that is not text, or a ``value``, ``action`` or ``data`` that is not an object, is answered with the calm
    card (HTTP 200, no 500, no traceback), nothing stored. So is an activity whose ``channelData.tenant`` is text."""
    user, chat = "29:quiz-shapes", "a:personal-quiz-shapes"
    sent = sent_check(teams_bot, teams, env, user, chat)["actions"][0]["data"]
    wrong_data = [{**sent, "o": 1.7}, {**sent, "o": True}, {**sent, "o": "0 "}, {**sent, "d": [sent["d"]]},
                  {**sent, "c": [sent["c"]]}, "garbage", [1, 2]]  # fmt: skip
    for data in wrong_data:
        press = teams.card_action(data, "scr_quiz_answer", conversation=chat, user=user)  # type: ignore[arg-type]
        resp = send(teams_bot, press, teams.token_for(press))
        assert resp.status == 200, (data, resp.body)
        out = resp.json()
        assert "not available" in out["value"]["fallbackText"] and "Right" not in json.dumps(out), (data, out)

    def reshaped(change: Any) -> dict[str, Any]:
        press = teams.card_action(sent, "scr_quiz_answer", conversation=chat, user=user)
        change(press)
        return press

    for press in (reshaped(lambda p: p.update(value=[1])), reshaped(lambda p: p["value"].update(action="x"))):
        resp = send(teams_bot, press, teams.token_for(press))
        assert resp.status == 200 and "no longer available" in json.dumps(resp.json()), resp.body
    text_tenant = reshaped(lambda p: p["channelData"].update(tenant=TENANT))
    assert send(teams_bot, text_tenant, teams.token_for(text_tenant)).status == 403
    message = teams.personal_message("neglect", conversation=chat, user=user)
    message["channelData"]["tenant"] = TENANT
    signed(teams_bot, teams, message)
    wait_for(lambda: "teams: an activity of an unexpected shape was dropped (channelData.tenant is not an object)"
             in teams_bot.log())  # fmt: skip
    assert QuizStore(shared_redis).answers(WS, user) == [] and "Traceback" not in teams_bot.log()
    assert not teams.replies_to(message["id"])
    # The press as the card sent it is answered: the refusals above are the shapes', not a check never sent.
    out = signed(teams_bot, teams, teams.card_action(sent, "scr_quiz_answer", conversation=chat, user=user)).json()
    assert "not available" not in out["value"]["fallbackText"] and len(QuizStore(shared_redis).answers(WS, user)) == 1


def test_a_search_or_dialog_invoke_of_the_wrong_shape_is_answered_calmly_and_nothing_is_stored(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """A message extension search whose ``value``, ``parameters`` or ``queryOptions`` is not what Teams sends, a
    dialog opened or saved with a ``value`` or ``data`` that is not an object: each is answered (HTTP 200, a calm
    answer: the starting points, the "no longer available" message), no 500, no traceback, nothing stored."""
    user, chat = "29:invoke-shapes", "a:personal-invoke-shapes"
    personal = {"id": chat, "conversationType": "personal"}
    tenant_before = sorted(shared_redis.scan_iter(match=keys.teams_conversations(WS).split("}:", 1)[0] + "}:*"))

    def search(change: Any) -> dict[str, Any]:
        act = teams.extension_query("neglect", conversation=chat, user=user)
        change(act)
        return act

    def task(name: str, change: Any) -> dict[str, Any]:
        act = teams.task(name, {"scr": "scr_reflect", "point": "x"}, personal, user=user)
        change(act)
        return act

    searches = [search(lambda a: a.update(value="x")), search(lambda a: a["value"].update(queryOptions="x")),
                search(lambda a: a["value"].update(parameters="x")), search(lambda a: a.update(value=[1]))]  # fmt: skip
    for act in searches:
        resp = send(teams_bot, act, teams.token_for(act))
        assert resp.status == 200, (act["value"], resp.body)
        assert resp.json()["composeExtension"]["type"] == "result", resp.body
    dialogs = [task("task/fetch", lambda a: a.update(value=[1])), task("task/fetch", lambda a: a["value"].update(data="x")),
               task("task/submit", lambda a: a["value"].update(data="x")), task("task/submit", lambda a: a.update(value="x"))]  # fmt: skip
    for act in dialogs:
        resp = send(teams_bot, act, teams.token_for(act))
        assert resp.status == 200, (act["name"], act["value"], resp.body)
        assert "no longer available" in json.dumps(resp.json()), resp.body
    time.sleep(0.5)  # what a worker does after an answered invoke (a shared reflection) would be done by now
    assert "Traceback" not in teams_bot.log()
    assert sorted(shared_redis.scan_iter(match=keys.teams_conversations(WS).split("}:", 1)[0] + "}:*")) == tenant_before


def test_a_check_comes_in_each_persons_own_working_day_in_the_zone_their_teams_client_reports(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis) -> None:  # fmt: skip
    london, auckland = ("29:zone-london", "a:personal-zone-london"), ("29:zone-auckland", "a:personal-zone-auckland")
    installed(teams_bot, teams, shared_redis, "19:loop-zones@thread.tacv2")
    for (user, chat), zone in ((london, "Europe/London"), (auckland, "Pacific/Auckland")):
        on = teams.personal_message("quiz on", conversation=chat, user=user, zone=zone)
        signed(teams_bot, teams, on)
        assert "You're in" in wait_for(lambda on=on: teams.replies_to(on["id"]))[0]["text"]

    # Tuesday 11:00 in London is 22:00 or later in Auckland: London's check comes, Auckland's waits.
    tuesday = next_day(1, 11)
    out = run_due(env, tuesday)
    assert f"quiz {london[0]}: sent check=" in out and f"quiz {auckland[0]}: sent" not in out, out
    # 23:30 in London is Wednesday 10:30 to 12:30 in Auckland: their working day, and London's evening.
    late = run_due(env, tuesday.replace(hour=23, minute=30))
    assert f"quiz {auckland[0]}: sent check=" in late and f"quiz {london[0]}: sent" not in late, late
    assert check_card(teams, auckland[1])["attachments"][0]["content"]["fallbackText"]
