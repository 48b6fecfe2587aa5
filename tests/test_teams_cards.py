"""The Teams cards are built from the Teams SDK's Adaptive Card models (``microsoft_teams.cards``): a value the
Adaptive Card schema does not allow fails when the card is built, not silently in someone's Teams client."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from microsoft_teams.cards import AdaptiveCard
from pydantic import ValidationError

from bot.content.corpus import load_corpus
from bot.learning.quiz import Aggregate
from bot.learning.views import KnowledgeCheck
from bot.reflections.store import ThreadStats
from bot.search.lookup import Lookup
from bot.teams import cards, dialogs
from bot.weekly.views import ThreadSummary, WeeklyPost
from conftest import ROOT


def test_a_value_the_schema_does_not_allow_fails_when_the_card_is_built() -> None:
    with pytest.raises(ValidationError):
        cards.text("Learning point of the week", weight="Bold")  # the schema's word is "Bolder"


def test_a_card_is_its_schema_json_and_reads_back_as_the_same_card() -> None:
    out = cards.activity([cards.text("Hello", is_subtle=True)], "Hello")
    content = out["attachments"][0]["content"]
    assert content["$schema"].startswith("http://adaptivecards.io/") and content["version"] == "1.5"
    assert content["fallbackText"] == "Hello" and content["body"] == [
        {"type": "TextBlock", "text": "Hello", "wrap": True, "isSubtle": True}]
    again = AdaptiveCard.model_validate(content).model_dump(by_alias=True, exclude_none=True)
    assert again == content


def _inputs(element: Any) -> list[dict[str, Any]]:
    """Every input in a card's body, however deeply it sits in containers."""
    if isinstance(element, list):
        return [i for e in element for i in _inputs(e)]
    if not isinstance(element, dict):
        return []
    found = [element] if str(element.get("type", "")).startswith("Input.") else []
    return found + _inputs(element.get("items") or []) + _inputs(element.get("body") or [])


def test_every_card_the_bot_sends_has_a_plain_text_fallback_and_every_input_a_label() -> None:
    """Each kind of card the Teams front end builds (bot.teams.cards, bot.teams.dialogs), with sample data: a
    screen reader gets plain text (the card's ``fallbackText`` and, for a message, the activity's ``text``, with
    no Markdown or escapes left in), and every input is labelled."""
    corpus = load_corpus(ROOT / "content")
    lookup = Lookup(corpus)
    point, check = corpus.points[0], corpus.checks[0]
    activities = [cards.answer_activity(corpus, lookup.answer(q), "the duty desk on 0100")
                  for q in ("neglect", "themes", "help", "zzqx nothing", "a pupil told me her stepdad hits her")]
    activities += [cards.welcome_activity(cards.Welcome(scope, 365)) for scope in ("team", "personal")]
    activities += [cards.render(corpus, view) for view in (
        WeeklyPost(point.id, date(2025, 3, 3), "Friday at 16:00"),
        ThreadSummary(point, ThreadStats(3, 2, [("What stood out?", 2)]), Aggregate(5, 3, 4)),
        KnowledgeCheck(check, "2025-03-04"),
        cards.SharedReflection("Sam *Sharer*", "Chronologies *drift*", "Ask again", "Check the room"))]
    activities += [cards.activity([cards.text("**Bold** line")], "Your CPD record: 3 reflections")]
    for act in activities:
        content = act["attachments"][0]["content"]
        assert act["text"] and act["text"] == content["fallbackText"], act
        assert act.get("textFormat") == "plain" and "**" not in act["text"], act["text"]
    contents = [a["attachments"][0]["content"] for a in activities]
    contents += [cards.answered_card(corpus, check, i, progress=None, already=bool(i)) for i in (0, 1)]
    contents += [cards.answer_card(corpus, lookup.answer("neglect"))]
    contents += [dialogs.form(corpus, point, dialog="d", channel=c, thread=t, error=e)
                 for c, t, e in ((None, None, None), ("19:c@thread.tacv2", "1700000000000", "Write a few words"))]
    for content in contents:
        assert content["fallbackText"].strip() and "**" not in content["fallbackText"], content
        for element in _inputs(content["body"]):
            assert str(element.get("label") or "").strip(), element
            for choice in element.get("choices") or []:
                assert choice["title"].strip()
        for action in content.get("actions") or []:
            assert str(action.get("title") or "").strip(), action
    assert any(_inputs(c["body"]) for c in contents)  # the dialog's inputs were looked at
