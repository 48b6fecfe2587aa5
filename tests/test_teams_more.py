"""Microsoft Teams, beyond the channel: the ``scr`` message extension's search, the Reflect dialog for a private
reflection, and the digest and CPD export in the personal chat. The bot is a process (``scr-bot run``), Redis is
real, Teams is faked at its HTTP boundary (tests/fake_teams.py) and every activity is signed as the Bot Connector
signs it; each promise is checked against the fault that would break it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.content.corpus import Corpus, load_corpus
from bot.slack.blocks import ACTION_SHARE, ACTION_SHOW
from bot.storage import keys
from bot.teams.cards import CARD_TYPE, escape, points_shown
from conftest import ROOT, BotProcess, bot_env, command_answer, free_port, http, start_bot, stop_bot
from fake_teams import FakeTeams, new_key
from fakeslack import FakeSlack

APP_ID = "00000000-0000-0000-0000-0000000m0re"
TENANT = "72f988bf-0000-0000-0000-00000000m0re"
GROUP = "aad-group-more"
WS = keys.Workspace(TENANT, platform="teams")


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    fake = FakeTeams(APP_ID, "fake-app-password-789", TENANT).serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def env(module_slack: FakeSlack, teams: FakeTeams, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return bot_env(module_slack, redis_server.url, tmp_path_factory.mktemp("teamsmore"), **teams.env())


@pytest.fixture(scope="module")
def teams_bot(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path_factory.mktemp("teamsmorebot") / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(ROOT / "content")


def send(bot: BotProcess, activity: dict[str, Any], token: str | None) -> Any:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    return http("POST", bot.url + "/api/messages", json.dumps(activity), headers)


def invoked(bot: BotProcess, teams: FakeTeams, activity: dict[str, Any]) -> dict[str, Any]:
    """An invoke signed as the Bot Connector signs it, and what its HTTP answer carries."""
    resp = send(bot, activity, teams.token_for(activity))
    assert resp.status == 200, resp.body
    return resp.json()


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


def test_a_forged_extension_search_is_refused(teams_bot: BotProcess, teams: FakeTeams) -> None:
    ask = teams.extension_query("neglect")
    for token in (teams.token_for(ask, key=new_key()), teams.token_for(ask, audience="another-app"), None):
        resp = send(teams_bot, ask, token)
        assert resp.status == 401 and b"composeExtension" not in resp.body
    # The same search signed as the Bot Connector signs it is answered: the 401s are the token's doing.
    assert results_of(invoked(teams_bot, teams, ask))
