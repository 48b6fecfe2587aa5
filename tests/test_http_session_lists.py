"""Long session lists are never cut short without saying so (issue 24 F6), and a briefing is run once per
preview however often "Run in channel" is pressed (F7). Signed HTTP into the real bot process, Slack's side
on the local fake, a real Redis.

Block Kit allows 3,000 characters in a section and 50 blocks in a message (100 in a Home view): twelve
actions of ~280 characters are about 3,600 characters, more than one section holds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
import test_http_sessions as hs

from blockkit import assert_valid_message, dumps
from bot.briefings.sessions import Action, Session, SessionStore
from bot.slack.session_blocks import questions_message
from bot.storage.keys import Workspace
from conftest import (
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    wait_for,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
TEAM, CHANNEL, LEAD, ANN = "T0AAA", "C0TEAM", "U0LEAD", "U0ANN"


@pytest.fixture
def env(slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, redis_server.url, tmp_path)


def long_actions(client: redis.Redis, n: int = 12) -> tuple[Session, list[str]]:
    """A session in CHANNEL run by LEAD with ``n`` actions of about 280 characters, all owned by ANN."""
    store = SessionStore(client, 365)
    at = time.time() - 3600
    session = Session(CHANNEL, f"{int(at)}.000100", "neglect", "7-minute briefing: Neglect", LEAD, at)
    store.ensure(Workspace(TEAM), session)
    due = (date.today() + timedelta(days=30)).isoformat()
    words = []
    for i in range(n):
        what = f"Action {i:03d}: " + ("review the neglect toolkit with the whole team and record it " * 5)[:265]
        words.append(what)
        store.add_action(Workspace(TEAM), Action(f"V0LONG{i:02d}", CHANNEL, session.ts, "neglect", what, ANN, due,
                                                 LEAD, at + i))  # fmt: skip
    return session, words


def test_every_long_action_is_listed_in_the_action_list_home_and_the_three_month_questions(
        session_bot: BotProcess, slack: FakeSlack, redis_client: redis.Redis) -> None:  # fmt: skip
    session, words = long_actions(redis_client)
    assert sum(len(w) for w in words) > 3000

    listed = command_answer(session_bot, slack, "actions", channel=CHANNEL, user=LEAD)
    assert_valid_message(listed)
    text = dumps(listed)
    assert [w for w in words if w not in text] == []  # every action, whole
    assert "…and" not in text  # nothing left out, so nothing to say about it

    n = len(slack.views)
    session_bot.event({"type": "app_home_opened", "user": ANN, "tab": "home", "event_ts": "1"}, team=TEAM,
                      event_id="EvLONG")  # fmt: skip
    home = wait_for(lambda: [v for v in slack.views[n:] if v["method"] == "views.publish"], timeout=10)[0]["view"]
    assert len(home["blocks"]) <= 100
    assert [w for w in words if w not in dumps(home)] == []

    store = SessionStore(redis_client, 365)
    questions = questions_message(session, store.actions_of_session(Workspace(TEAM), session.id), ["a", "b", "c"])
    assert_valid_message(questions)
    assert [w for w in words if w not in dumps(questions)] == []


def test_past_slacks_block_limit_the_list_says_how_many_more_and_how_to_see_them(
        session_bot: BotProcess, slack: FakeSlack, redis_client: redis.Redis) -> None:  # fmt: skip
    """Far more than 50 blocks' worth: the first page ends with "…and N more", and the pages together list
    every action once."""
    _, words = long_actions(redis_client, 600)
    seen: list[str] = []
    page = 1
    while True:
        msg = command_answer(session_bot, slack, f"actions {page}" if page > 1 else "actions", channel=CHANNEL, user=LEAD)
        assert_valid_message(msg)
        text = dumps(msg)
        seen += [w for w in words if w in text]
        if f"`/scr actions {page + 1}` shows them" not in text:
            break
        assert "…and" in text
        page += 1
    assert page > 1
    assert len(seen) == len(set(seen)) and set(words) - set(seen) == set()


def test_a_double_click_on_run_in_channel_posts_the_briefing_once(session_bot: BotProcess, slack: FakeSlack,
                                                                 redis_client: redis.Redis) -> None:  # fmt: skip
    """Two clicks on one preview's "Run in channel", at the same moment: one post, one session. A new preview
    of the same briefing is a new run."""
    bot = session_bot
    preview = bot.command("briefing neglect", channel=CHANNEL, user=LEAD, team=TEAM).json()
    run = next(el for b in preview["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_briefing_run")
    urls = [slack.response_url(), slack.response_url()]
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda url: bot.action("scr_briefing_run", run["value"], channel=CHANNEL, user=LEAD,
                                                        team=TEAM, response_url=url).status, urls))  # fmt: skip
    assert statuses == [200, 200]
    answers = [hs.reply(slack, url) for url in urls]  # both clicks are answered: one "Posted", one "already"
    assert sorted("already been run" in a["text"] for a in answers) == [False, True], answers
    time.sleep(1.0)  # any second post would be here by now
    posts = [m for m in slack.channel_messages(CHANNEL) if not m.get("thread_ts")]
    assert len(posts) == 1, [p.get("text") for p in posts]
    assert len(SessionStore(redis_client, 365).sessions_in(Workspace(TEAM), CHANNEL)) == 1

    again = bot.command("briefing neglect", channel=CHANNEL, user=LEAD, team=TEAM).json()
    run = next(el for b in again["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_briefing_run")
    bot.action("scr_briefing_run", run["value"], channel=CHANNEL, user=LEAD, team=TEAM, response_url=slack.response_url())
    wait_for(lambda: len([m for m in slack.channel_messages(CHANNEL) if not m.get("thread_ts")]) == 2, timeout=10)


@pytest.mark.parametrize("typed", ["partnership", "Working together & multi-agency practice"])
def test_a_theme_typed_as_themes_lists_it_builds_that_theme(session_bot: BotProcess, typed: str) -> None:
    """`/scr themes` lists "Working together & multi-agency practice" as `partnership`; "partnership" is also a
    sector's word. Typed exactly, the theme wins: the preview is that theme's briefing."""
    themes = session_bot.command("themes", channel=CHANNEL, user=LEAD, team=TEAM).json()
    assert "partnership" in dumps(themes) and "Working together &amp; multi-agency practice" in dumps(themes)
    preview = session_bot.command(f"briefing {typed}", channel=CHANNEL, user=LEAD, team=TEAM).json()
    header = preview["blocks"][0]["text"]["text"]
    assert "Working together" in header, header


def test_forget_me_says_it_takes_you_off_attendance_lists_and_deletes_your_actions(session_bot: BotProcess) -> None:
    """What "forget me" does to briefings (attendance, actions, the facilitator told) is said before it is done:
    in the message and in the button's confirmation."""
    forget = session_bot.command("forget me", user=ANN, team=TEAM).json()
    assert_valid_message(forget)
    button = next(el for b in forget["blocks"] for el in b.get("elements", []) if el.get("action_id") == "scr_forget")
    for text in (dumps(forget["blocks"][0]), button["confirm"]["text"]["text"]):
        assert "attendance list" in text and "actions you own" in text and "facilitator" in text, text
    assert len(button["confirm"]["text"]["text"]) <= 300
