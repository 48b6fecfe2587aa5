"""A lookup is one pass (bot.search.lookup): the text typed is split into words once, and what an
answer shows about each result ("why this result") comes from the evidence ranking used.

Why these matter: each strategy that re-split the text could read it differently from the others
(the next ranking change would have to be made in every one of them), and an explanation worked
out apart from the ranking can say something the ranking did not go by.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from relevance_table import TABLE as RELEVANCE

import bot.search.index
import bot.search.lookup
import bot.search.query
from bot.content.corpus import SECTION_SEPARATOR, Corpus, Point
from bot.search.index import phrase_key, words
from bot.search.lookup import EVERYONE, Answer, Lookup
from fakeslack import FakeSlack

# One of each way through a lookup: a theme by name, alias, abbreviation and misspelling; a theme and a
# sector; a sector alone and with words; free search (phrases, a concept, a named theme counting in
# favour); a search falling back to a theme; nothing found; a topic not covered.
QUERIES = ["neglect", "sarah's law", "wnb", "neglet", "police neglect", "health dv", "health", "health camhs",
           "child sex offender disclosure", "looked after children", "referral bounced by social care",
           "nasty divorce", "xyzzy plugh", "honour based abuse", "trafficking", "cdop", "missing from home"]


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def counting(calls: list[str]) -> Callable[[str], list[str]]:
    """The real tokeniser, recording what it is asked to split."""

    @functools.wraps(words)
    def wrapper(text: str) -> list[str]:
        calls.append(text)
        return words(text)

    return wrapper


@pytest.mark.parametrize("query", QUERIES)
def test_query_text_is_tokenised_once_per_lookup(lookup: Lookup, query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = lookup.answer(query)
    calls: list[str] = []
    wrapper = counting(calls)
    for module in (bot.search.index, bot.search.query, bot.search.lookup):  # every name the search code calls it by
        monkeypatch.setattr(module, "words", wrapper)
    answer = lookup.answer(query)
    assert calls == [query.lower()], f"{query!r} was split into words {len(calls)} times: {calls}"
    assert [p.id for p in answer.results] == [p.id for p in expected.results]  # the same answer, just counted
    assert answer.why == expected.why


def said_by_point(point: Point, term: str) -> bool:
    own = " | ".join([point.title, point.summary, *point.key_messages, point.quote or "", *point.questions])
    return f" {phrase_key(term)} " in f" {phrase_key(own)} "


def accounts_for(answer: Answer, point: Point) -> bool:
    """Whether a result's evidence says why it is a candidate at all."""
    ev = answer.evidence[point.id]
    q = answer.parsed
    assert q is not None
    if answer.kind == "search":  # what was typed matches it, or it is mainly about a theme named in the question
        return bool(ev.text or ev.phrase or ev.concept or ev.main_theme)
    if answer.kind == "sector":
        return all(s in point.sectors or EVERYONE in point.sectors for s in q.sectors)
    return bool(ev.in_themes or ev.name or ev.phrase)


def test_each_explanation_is_derived_from_its_evidence(lookup: Lookup) -> None:
    explained = 0
    for query in [*QUERIES, *(row.query for row in RELEVANCE)]:
        for offset in (0, 3):
            answer = lookup.answer(query, offset=offset)
            if answer.kind not in ("search", "theme", "intersection", "sector"):
                assert answer.why == {}
                continue
            page = answer.results[answer.offset : answer.offset + 5]
            assert set(answer.why) <= {p.id for p in page}, "only the page shown is explained"
            for p in answer.results:
                assert accounts_for(answer, p), f"{query!r}: {p.id} ranked without evidence for it"
            for p in page:
                term = answer.evidence[p.id].section_term
                line = answer.why.get(p.id)
                if term is None:
                    assert line is None, f"{query!r}: {p.id} explained with no evidence: {line}"
                    continue
                # The evidence is a term of the point's cited section that its own words do not say,
                # and the line the user sees names exactly that term and that section.
                assert term in p.terms and not said_by_point(p, term), (query, p.id, term)
                heading = p.source.section.split(SECTION_SEPARATOR)[-1]
                assert line == f"The briefing's section “{heading}” mentions {term}.", (query, p.id, line)
                explained += 1
    assert explained >= 10, "the table must exercise explanations, or this test checks nothing"


def test_an_explanation_follows_its_evidence_not_a_second_look(lookup: Lookup) -> None:
    """Change the evidence a point was ranked by and its explanation changes with it: the line is read
    from the evidence, not worked out again from the query."""
    answer = lookup.answer("trafficking")
    top = answer.results[0]
    ev: Any = answer.evidence[top.id]
    assert "trafficking" in answer.why[top.id]
    ev.section_term = "a term no query typed"
    assert bot.search.lookup.why_line(ev) is not None and "a term no query typed" in bot.search.lookup.why_line(ev)
    ev.section_term = None
    assert bot.search.lookup.why_line(ev) is None


def test_a_signed_scr_request_splits_the_text_once(corpus: Corpus, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real Bolt app and ``/scr`` listener: the handler parses to route commands and hands that
    parse to the lookup, so one request splits the text once, not once to route and again to answer."""
    from urllib.parse import urlencode

    from slack_bolt import BoltRequest

    from bot import handlers
    from bot.config import load_settings
    from bot.services import Services
    from bot.slack.app import build_app
    from bot.storage.store import Store
    from conftest import BOT_TOKEN, MASTER_KEY, SIGNING_SECRET, sign

    # A Redis nobody listens on: a lookup must not need it (the listeners' set-up only builds a client).
    settings = load_settings({"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.url,
                              "REDIS_URL": "redis://127.0.0.1:9", "SCR_MASTER_KEY": MASTER_KEY}, dotenv=False)
    services = Services(settings=settings, store=Store(settings), corpus=corpus)
    app = build_app(services)
    handlers.register(app, services)
    calls: list[str] = []
    wrapper = counting(calls)
    for module in (bot.search.index, bot.search.query, bot.search.lookup):
        monkeypatch.setattr(module, "words", wrapper)
    body = urlencode({"command": "/scr", "text": "police neglect", "team_id": "T1", "user_id": "U1",
                      "channel_id": "C1", "response_url": "http://127.0.0.1:9/response"})
    response = app.dispatch(BoltRequest(body=body, headers={**sign(body), "Content-Type": "application/x-www-form-urlencoded"}))
    assert response.status == 200 and "Neglect" in response.body
    assert calls == ["police neglect"], f"one /scr request split its text {len(calls)} times"
