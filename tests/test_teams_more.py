"""Microsoft Teams, beyond the channel: the ``scr`` message extension's search, the Reflect dialog for a private
reflection, and the digest and CPD export in the personal chat. The bot is a process (``scr-bot run``), Redis is
real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is signed as the Bot Connector
signs it; each promise is checked against the fault that would break it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.content.corpus import Corpus, load_corpus
from bot.learning.digest_sender import DigestReaders
from bot.learning.quiz import QuizStore
from bot.reflections.store import ReflectionStore
from bot.slack.blocks import ACTION_SHARE, ACTION_SHOW
from bot.storage import keys
from bot.storage.roles import AuditTrail
from bot.teams.cards import CARD_TYPE, escape, points_shown
from bot.weekly.schedules import Schedule, Subscriptions
from conftest import ROOT, BotProcess, bot_env, command_answer, free_port, http, start_bot, stop_bot, wait_for
from fake_teams import FakeTeams, new_key
from fakeslack import FakeSlack
from teams_helpers import invoked, personal_app_added, run_due, said, send, signed

APP_ID = "00000000-0000-0000-0000-00000000a0e0"
TENANT = "72f988bf-0000-0000-0000-00000000a0e0"
GROUP = "aad-group-more"
WS = keys.Workspace(TENANT, platform="teams")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, port: int,
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # fmt: skip
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamsmore"), **teams.env(),
                   TEAMS_PUBLIC_URL=f"http://127.0.0.1:{port}")  # fmt: skip


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path_factory.mktemp("teamsmorebot") / "bot.log", port)
    yield proc
    stop_bot(proc)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(ROOT / "content")






# ----- A: the search-based message extension ----------------------------------------------------------------
def results_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    ext = answer["composeExtension"]
    assert ext["type"] == "result" and ext["attachmentLayout"] == "list"
    for row in ext["attachments"]:
        assert row["contentType"] == CARD_TYPE and row["content"]["type"] == "AdaptiveCard"
        assert row["content"]["fallbackText"]  # the inserted card reads aloud
        preview = row["preview"]["content"]
        assert preview["title"] and preview["text"] and "\n" not in preview["text"]
    return list(ext["attachments"])


def card_points(row: dict[str, Any]) -> list[str]:
    return points_shown({"attachments": [row]})


def test_the_extension_lists_what_scr_answers_in_the_same_order(
        teams_bot: BotProcess, teams: FakeTeams, module_slack: FakeSlack, corpus: Corpus) -> None:  # fmt: skip
    rows = results_of(invoked(teams_bot, teams, teams.extension_query("neglect")))
    assert len(rows) >= 5
    shown = [card_points(row) for row in rows]
    assert all(len(ids) == 1 for ids in shown)  # each inserted card is one point, in full
    ids = [ids[0] for ids in shown]
    assert [row["preview"]["content"]["title"] for row in rows] == [corpus.by_id[i].title for i in ids]
    # /scr neglect in Slack: its top point, then the next four by title, in the same order.
    slack = command_answer(teams_bot, module_slack, "neglect")
    top = next(e["value"] for b in slack["blocks"] if b.get("type") == "actions" for e in b["elements"]
               if e.get("action_id") == ACTION_SHARE)  # fmt: skip
    rest = [b["text"]["text"] for b in slack["blocks"] if (b.get("accessory") or {}).get("action_id") == ACTION_SHOW]
    assert ids[0] == top
    for pid, line in zip(ids[1:1 + len(rest)], rest, strict=True):
        assert corpus.by_id[pid].title.split(" ")[0] in line
    # A page further on (Teams' "skip") continues the same ranking.
    more = results_of(invoked(teams_bot, teams, teams.extension_query("neglect", skip=2, count=2)))
    assert [card_points(r)[0] for r in more] == ids[2:4]


def test_a_live_concern_in_the_extension_is_answered_with_the_safety_card_alone(
        teams_bot: BotProcess, teams: FakeTeams, corpus: Corpus) -> None:  # fmt: skip
    (row,) = results_of(invoked(teams_bot, teams, teams.extension_query("a pupil told me her stepdad hits her")))
    assert corpus.safety is not None
    assert row["preview"]["content"]["title"] == corpus.safety.title
    assert row["content"]["body"][0]["text"] == escape(corpus.safety.title)


def test_nothing_typed_lists_somewhere_to_start(teams_bot: BotProcess, teams: FakeTeams, corpus: Corpus) -> None:
    rows = results_of(invoked(teams_bot, teams, teams.extension_query(None)))
    ids = [card_points(r)[0] for r in rows]
    assert 2 <= len(ids) == len(set(ids)) and all(i in corpus.by_id for i in ids)
    themes = [t.label for t in corpus.themes.values()]
    assert all(any(r["preview"]["content"]["text"].startswith(t + ":") for t in themes) for r in rows)


def test_a_mention_in_a_search_is_not_searched_for_as_in_a_chat_lookup(
        teams_bot: BotProcess, teams: FakeTeams) -> None:  # fmt: skip
    """Teams puts an @mention in the query as ``<at>name</at>``: a chat lookup reads past it (it names someone, it
    is not what is looked for), and so does the extension: the same points as the words without it."""
    plain = [card_points(r)[0] for r in results_of(invoked(teams_bot, teams, teams.extension_query("neglect")))]
    typed = "<at>Domestic Abuse Lead</at> neglect"
    mentioned = [card_points(r)[0] for r in results_of(invoked(teams_bot, teams, teams.extension_query(typed)))]
    assert mentioned == plain
    ask = teams.personal_message(typed, conversation="a:personal-mention", user="29:mention")
    signed(teams_bot, teams, ask)
    (chat,) = wait_for(lambda: teams.replies_to(ask["id"]))
    assert points_shown(chat)[0] == mentioned[0]


def test_an_activity_naming_two_tenants_is_refused_and_nothing_is_stored(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis) -> None:  # fmt: skip
    """``channelData.tenant.id`` and ``conversation.tenantId`` should name the same tenant: one that names ours and
    another's is served under neither (a message: logged and dropped after the 200; an invoke: 403)."""
    user, chat = "29:two-tenants", "a:personal-two-tenants"
    other = "0badbeef-0000-0000-0000-000000000bad"
    def naming(activity: dict[str, Any], field: str) -> dict[str, Any]:
        (activity["conversation"] if field == "conversation" else activity["channelData"]["tenant"])[
            "tenantId" if field == "conversation" else "id"] = other
        return activity

    for field in ("conversation", "channelData"):
        on = naming(teams.personal_message("quiz on", conversation=chat, user=user), field)
        before = teams_bot.log().count("teams: an activity from another tenant was dropped")
        signed(teams_bot, teams, on)
        wait_for(lambda before=before: teams_bot.log().count("teams: an activity from another tenant was dropped") > before)
        ask = naming(teams.extension_query("neglect", conversation=chat, user=user), field)
        assert send(teams_bot, ask, teams.token_for(ask)).status == 403
    assert not teams.replies_to(on["id"]) and QuizStore(shared_redis).person(WS, user) is None
    assert not shared_redis.hexists(keys.teams_conversations(WS), chat)
    # The same words from one tenant, named twice alike, are served: the refusals are the disagreement's doing.
    personal_app_added(teams_bot, teams, shared_redis, WS, user, chat)
    ok = teams.personal_message("quiz on", conversation=chat, user=user)
    signed(teams_bot, teams, ok)
    assert "You're in" in wait_for(lambda: teams.replies_to(ok["id"]))[0]["text"]


def test_a_forged_extension_search_is_refused(teams_bot: BotProcess, teams: FakeTeams) -> None:
    ask = teams.extension_query("neglect")
    for token in (teams.token_for(ask, key=new_key()), teams.token_for(ask, audience="another-app"), None):
        resp = send(teams_bot, ask, token)
        assert resp.status == 401 and b"composeExtension" not in resp.body
    # The same search signed as the Bot Connector signs it is answered: the 401s are the token's doing.
    assert results_of(invoked(teams_bot, teams, ask))


# ----- B: the Reflect dialog, for a private reflection ------------------------------------------------------


def next_monday_morning() -> datetime:
    day = datetime.now(LONDON).replace(hour=9, minute=31, second=0, microsecond=0) + timedelta(days=1)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return day


def weekly_post(bot: BotProcess, teams: FakeTeams, env: dict[str, str], r: redis.Redis, channel: str,
                summary: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The bot added to ``channel`` and the clock's weekly post made there: the post as Teams received it."""
    act = teams.channel_added(channel, GROUP)
    assert send(bot, act, teams.token_for(act)).status == 200
    wait_for(lambda: r.hexists(keys.teams_conversations(WS), channel))
    Subscriptions(r).save(Schedule(id=f"teams-more-{channel[3:9]}", team=TENANT, channel=channel, post="30 9 * * mon",
                                   source="teams", platform="teams", **({"summary": summary} if summary else {})))  # fmt: skip
    assert ": posted" in (out := run_due(env, next_monday_morning())), out
    (post,) = teams.weekly_posts(channel)
    return post


def inputs_of(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in content["body"] if e["type"].startswith("Input.")}


def test_the_reflect_dialog_stores_a_private_reflection_once_and_shows_errors_in_the_form(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    channel, user = "19:more-reflect@thread.tacv2", "29:reflector"
    post = weekly_post(teams_bot, teams, env, shared_redis, channel)
    root = post["id"]
    (reflect,) = post["activity"]["attachments"][0]["content"]["actions"]
    assert reflect["type"] == "Action.Submit" and reflect["title"] == "Reflect" and reflect["data"]["msteams"] == {"type": "task/fetch"}
    in_thread = {"id": f"{channel};messageid={root}", "conversationType": "channel", "isGroup": True}

    opened = invoked(teams_bot, teams, teams.task("task/fetch", reflect["data"], in_thread, user=user, reply_to=root))
    assert opened["task"]["type"] == "continue"
    form = opened["task"]["value"]["card"]["content"]
    fields = inputs_of(form)
    assert set(fields) == {"stood_out", "practice", "action", "minutes", "visibility"}  # opened in the thread
    assert all(f["label"] for f in fields.values()) and fields["stood_out"]["isRequired"] and form["fallbackText"]
    (save,) = form["actions"]

    def submit(**typed: str) -> dict[str, Any]:
        return invoked(teams_bot, teams, teams.task("task/submit", {**save["data"], **typed}, in_thread, user=user))

    def mine() -> list[Any]:
        return ReflectionStore(shared_redis, 365).for_user(WS, user)

    # Nothing in "what stood out": the form again, the error shown, what was typed kept, nothing stored.
    retry = submit(stood_out="  ", practice="Ask *again*", minutes="20")
    assert retry["task"]["type"] == "continue"
    again = retry["task"]["value"]["card"]["content"]
    assert "what stood out" in json.dumps(again["body"]) and any(e.get("id") == "scr-error" for e in again["body"])
    assert inputs_of(again)["practice"]["value"] == "Ask *again*" and inputs_of(again)["minutes"]["value"] == "20"
    assert mine() == []

    # Saved, twice (a double press, or Teams retrying): one reflection, private, masked, in the post's week.
    words = dict(stood_out="I spoke with Sarah Jones at 14 Acacia Road about professional curiosity",
                 practice="Check what we are told", action="Ask to see the child's room", minutes="20")  # fmt: skip
    first, second = submit(**words), submit(**words)
    assert first["task"]["type"] == "message" and "Saved" in first["task"]["value"] and "removed" in first["task"]["value"]
    assert second["task"]["type"] == "message"
    (stored,) = mine()
    assert stored.visibility == "private" and stored.kind == "modal" and stored.point == reflect["data"]["point"]
    assert "Sarah" not in stored.stood_out and "Acacia" not in stored.stood_out and "curiosity" in stored.stood_out
    assert stored.minutes == 20 and stored.action == "Ask to see the child's room"
    assert (stored.channel, stored.thread_ts) == (channel, root)
    assert stored.week == json.loads(shared_redis.get(keys.thread(WS, channel, root)))["week"]

    # A new dialog whose words read as a live concern: kept (private), and the person told where to take it.
    opened = invoked(teams_bot, teams, teams.task("task/fetch", reflect["data"], in_thread, user=user, reply_to=root))
    (save,) = opened["task"]["value"]["card"]["content"]["actions"]
    told = submit(stood_out="a pupil told me today her stepdad hits her, I am worried about her")
    assert corpus.safety is not None and corpus.safety.reflection_note in told["task"]["value"]
    assert len(mine()) == 2 and all(not r.shared for r in mine())
    # Nothing of a private reflection reached the channel.
    assert teams.replies_to(root) == [] and len(teams.weekly_posts(channel)) == 1


def test_a_reflection_shared_from_the_dialog_is_posted_in_the_thread_once_masked_and_counted(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    channel, user, outsider = "19:more-share@thread.tacv2", "29:sharer", "29:share-outsider"
    post = weekly_post(teams_bot, teams, env, shared_redis, channel, summary="0 16 * * fri")
    root = post["id"]
    teams.members[channel] = {user}  # the outsider is not in the team
    (reflect,) = post["activity"]["attachments"][0]["content"]["actions"]
    in_thread = {"id": f"{channel};messageid={root}", "conversationType": "channel", "isGroup": True}

    def open_dialog(who: str) -> dict[str, Any]:
        opened = invoked(teams_bot, teams, teams.task("task/fetch", reflect["data"], in_thread, user=who, reply_to=root))
        return dict(opened["task"]["value"]["card"]["content"])

    def save(form: dict[str, Any], who: str, **typed: str) -> str:
        (button,) = form["actions"]
        act = teams.task("task/submit", {**button["data"], **typed}, in_thread, user=who)
        act["from"]["name"] = "Sam <b>Sharer</b>"
        done = invoked(teams_bot, teams, act)
        assert done["task"]["type"] == "message"
        return str(done["task"]["value"])

    def shared_replies() -> list[dict[str, Any]]:
        return [a for a in teams.replies_to(root)
                if ((a.get("channelData") or {}).get("scr") or {}).get("kind") == "shared_reflection"]  # fmt: skip

    def stored(who: str) -> list[Any]:
        return sorted(ReflectionStore(shared_redis, 365).for_user(WS, who), key=lambda r: r.created_at)

    # The choice is a labelled ChoiceSet, as Slack's form has it: share in the thread, or keep private (the default).
    form = open_dialog(user)
    choice = inputs_of(form)["visibility"]
    assert choice["type"] == "Input.ChoiceSet" and choice["label"] and choice["value"] == "private"
    assert [c["value"] for c in choice["choices"]] == ["thread", "private"]
    assert [c["title"] for c in choice["choices"]] == ["Share in the thread with my team", "Keep private (only in my record)"]

    # Shared: stored shared, posted in the thread once, masked and escaped; a second Save of the same dialog posts nothing.
    words = dict(stood_out="Sarah Jones at 14 Acacia Road showed me *professional curiosity* matters",
                 practice="Ask to see the child's room", visibility="thread")  # fmt: skip
    assert "sharing it in the thread" in save(form, user, **words)
    (reply,) = wait_for(shared_replies)
    body = json.dumps(reply["attachments"][0]["content"]["body"])
    assert "Sarah" not in body and "Acacia" not in body and "Sarah" not in reply["text"]
    assert "\\\\*professional curiosity\\\\*" in body and "Sam \\\\<b\\\\>Sharer" in body  # escaped, not rendered
    assert reply["text"] and reply["attachments"][0]["content"]["fallbackText"]
    save(form, user, **words)
    (refl,) = wait_for(lambda: [r for r in stored(user) if r.message_ts])
    assert refl.visibility == "thread" and refl.message_ts == next(s["id"] for s in teams.sent if s["activity"] is reply)
    wait_for(lambda: time.sleep(1.5) or True)  # the second Save's worker has had its turn
    assert len(shared_replies()) == 1

    # "Keep private" (the default, nothing chosen): stored private, nothing posted.
    assert "Only you see it" in save(open_dialog(user), user, stood_out="Drift in chronologies")
    # Chose to share, but the words read as a live concern: kept private, the person told, nothing posted.
    told = save(open_dialog(user), user, stood_out="a pupil told me today her stepdad hits her, I am worried",
                visibility="thread")  # fmt: skip
    assert "haven't shared it" in told and corpus.safety is not None and corpus.safety.reflection_note in told
    # Chose to share, but Teams does not confirm the person is in the team: kept private, told in their personal chat.
    save(open_dialog(outsider), outsider, stood_out="Escalation routes were unclear", visibility="thread")
    note = wait_for(lambda: [s["activity"]["text"] for s in teams.sent if s["conversation"] == f"a:personal-{outsider}"])
    assert "didn't share it there" in note[0]
    wait_for(lambda: stored(outsider) and stored(outsider)[0].visibility == "private")
    time.sleep(1.0)
    assert len(shared_replies()) == 1
    assert [r.visibility for r in stored(user)] == ["thread", "private", "private"]

    # Friday's summary counts the shared one, and only it.
    out = run_due(env, next_monday_morning().replace(hour=16, minute=1) + timedelta(days=4))
    assert "summary" in out and "posted" in out, out
    (summary,) = [a for a in teams.replies_to(root) if ((a.get("channelData") or {}).get("scr") or {}).get("kind") != "shared_reflection"]
    assert "1 reflections from 1 people" in json.dumps(summary["attachments"][0]["content"]["body"])


# ----- C: the CPD export and the digest in the personal chat --------------------------------------------------
def personal(chat: str) -> dict[str, Any]:
    return {"id": chat, "conversationType": "personal"}


def reflect_privately(bot: BotProcess, teams: FakeTeams, user: str, chat: str, point: str, words: str) -> None:
    """A private reflection through the Reflect dialog, opened from the personal chat."""
    opened = invoked(bot, teams, teams.task("task/fetch", {"scr": "scr_reflect", "point": point}, personal(chat), user=user))
    (save,) = opened["task"]["value"]["card"]["content"]["actions"]
    saved = invoked(bot, teams, teams.task("task/submit", {**save["data"], "stood_out": words}, personal(chat), user=user))
    assert saved["task"]["type"] == "message"




def test_an_exported_record_dates_each_entry_in_its_persons_own_zone(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis, corpus: Corpus) -> None:  # fmt: skip
    """Teams reports each person's zone (``localTimezone``): +14 h and -11 h are always on two different days,
    and each record's entries carry its own person's day, not UTC's."""
    personal_app_added(teams_bot, teams, shared_redis, WS)
    point = corpus.points[1].id
    for user, chat, zone in (("29:east", "a:personal-east", "Pacific/Kiritimati"),
                             ("29:west", "a:personal-west", "Pacific/Pago_Pago")):  # fmt: skip
        reflect_privately(teams_bot, teams, user, chat, point, f"A thought written in {zone}")
        ask = teams.personal_message("export", conversation=chat, user=user, zone=zone)
        signed(teams_bot, teams, ask)
        (button,) = wait_for(lambda ask=ask: teams.replies_to(ask["id"]))[0]["attachments"][0]["content"]["actions"]
        md = http("GET", button["url"]).body.decode()
        today = datetime.now(ZoneInfo(zone)).strftime("%Y-%m-%d")
        assert f"A thought written in {zone}" in md and f"## {today}: " in md and f"Exported {today}" in md, md


def test_export_sends_a_link_to_the_persons_own_record_that_expires(
        teams_bot: BotProcess, teams: FakeTeams, shared_redis: redis.Redis, corpus: Corpus, port: int) -> None:  # fmt: skip
    ann, ben = ("29:exporter-ann", "a:personal-exp-ann"), ("29:exporter-ben", "a:personal-exp-ben")
    point = corpus.points[0].id
    reflect_privately(teams_bot, teams, *ann, point, "Ann's thought about chronologies and drift")
    reflect_privately(teams_bot, teams, *ben, point, "Ben's thought about escalation routes")

    personal_app_added(teams_bot, teams, shared_redis, WS, *ann)
    reply = said(teams_bot, teams, "export", *ann)
    (button,) = reply["attachments"][0]["content"]["actions"]
    url = button["url"]
    assert button["type"] == "Action.OpenUrl" and url.startswith(f"http://127.0.0.1:{port}/teams/export/")
    assert reply["text"]  # a plain-text fallback
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 32 random bytes
    got = http("GET", url)
    assert got.status == 200 and got.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert "attachment" in got.headers["Content-Disposition"] and "no-store" in got.headers["Cache-Control"]
    md = got.body.decode()
    assert "chronologies and drift" in md and corpus.by_id[point].title in md
    assert "escalation routes" not in md  # Ben's words are Ben's
    assert http("GET", url).status == 200  # until it expires, not once: a preview must not use it up
    # Redis holds no working link: no key name (nor the tenant's list of links) has the token, only its SHA-256.
    assert not [k for k in shared_redis.scan_iter(count=1000) if token in k]
    assert not [k for k in shared_redis.scan_iter(match="*teams*", count=1000)
                if shared_redis.type(k) == "set" and token in shared_redis.smembers(k)]
    hashed = hashlib.sha256(token.encode()).hexdigest()
    ttl = shared_redis.ttl(keys.teams_download(hashed))
    assert 0 < ttl <= 24 * 3600
    # Not a link: a changed token, the other kind of link, and the link once it has expired.
    assert http("GET", url[:-1] + ("A" if url[-1] != "A" else "B")).status == 404
    assert http("GET", url.replace("/teams/export/", "/teams/chart/")).status == 404
    shared_redis.pexpire(keys.teams_download(hashed), 1)
    wait_for(lambda: not shared_redis.exists(keys.teams_download(hashed)))
    gone = http("GET", url)
    assert gone.status == 404 and b"chronologies" not in gone.body
    # Someone with nothing saved is told so, with no link.
    assert "nothing to export" in said(teams_bot, teams, "export", "29:exporter-new", "a:personal-exp-new")["text"]


def first_wednesday_of_next_month() -> datetime:
    """10:00 London on a working day in next month's first week that is never a bank holiday in England."""
    day = (datetime.now(LONDON).replace(day=1, hour=10, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=2)
    while day.weekday() != 2:
        day += timedelta(days=1)
    return day


def test_digest_on_in_the_personal_chat_brings_the_monthly_digest_as_a_card_with_its_chart(
        teams_bot: BotProcess, teams: FakeTeams, env: dict[str, str], shared_redis: redis.Redis, port: int) -> None:  # fmt: skip
    channel = "19:more-digest@thread.tacv2"
    reader, outsider = ("29:digest-reader", "a:personal-digest-reader"), ("29:digest-outsider", "a:personal-digest-out")
    weekly_post(teams_bot, teams, env, shared_redis, channel)
    teams.members[channel] = {reader[0]}

    assert "monthly digest of 1 channel" in said(teams_bot, teams, "digest on", *reader)["text"]
    assert "no digest for you" in said(teams_bot, teams, "Digest on", *outsider)["text"]
    assert "monthly digest of 1 channel" in said(teams_bot, teams, "digest on", *reader)["text"]  # already: no change
    # Who reads the tenant's digest, and since when, is in its audit trail (refusals and no-changes are not).
    # (The first installer's entry as the tenant's bot admin is there too: test_teams_subscribe.py.)
    assert [(e.by, e.role, e.action, e.detail) for e in AuditTrail(shared_redis).since(WS, 0)
            if e.action.startswith("digest")] == [(reader[0], "team member", "digest-add", reader[0])]  # fmt: skip
    # ... and an operator reads that trail with the CLI, by the tenant's id.
    trail = warmstart.run([sys.executable, "-m", "bot", "audit", "--teams-tenant", TENANT], env=env, cwd=str(ROOT),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert trail.returncode == 0 and "digest-add" in trail.stdout and reader[0] in trail.stdout, trail.stdout + trail.stderr

    swept = run_due(env, first_wednesday_of_next_month())
    assert f"digest {channel} {reader[0]}: sent" in swept and outsider[0] not in swept, swept
    (sent,) = wait_for(lambda: [s["activity"] for s in teams.sent if s["conversation"] == reader[1] and s["reply_to"] is None])
    assert not [s for s in teams.sent if s["conversation"] == outsider[1] and s["reply_to"] is None]
    content = sent["attachments"][0]["content"]
    assert sent["attachments"][0]["contentType"] == CARD_TYPE and sent["text"] and content["fallbackText"]
    (image,) = [e for e in content["body"] if e["type"] == "Image"]
    assert image["altText"] and image["url"].startswith(f"http://127.0.0.1:{port}/teams/chart/")
    assert "Participation by month" in json.dumps(content["body"]) and "<#" not in json.dumps(content["body"])
    chart = http("GET", image["url"])
    assert chart.status == 200 and chart.headers["Content-Type"] == "image/png" and chart.body.startswith(b"\x89PNG")
    assert http("GET", image["url"][:-2] + "xx").status == 404
    chart_token = image["url"].rsplit("/", 1)[1]
    assert not [k for k in shared_redis.scan_iter(count=1000) if chart_token in k]  # only its hash names it

    # "digest off": next month's digest is not sent to them.
    assert "stopped" in said(teams_bot, teams, "digest off", *reader)["text"]
    assert DigestReaders(shared_redis).readers(WS) == []
    assert [e.action for e in AuditTrail(shared_redis).since(WS, 0) if e.action.startswith("digest")] == ["digest-add", "digest-remove"]
