"""The Teams cards are built from the Teams SDK's Adaptive Card models (``microsoft_teams.cards``): a value the
Adaptive Card schema does not allow fails when the card is built, not silently in someone's Teams client."""

from __future__ import annotations

import pytest
from microsoft_teams.cards import AdaptiveCard
from pydantic import ValidationError

from bot.teams import cards


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
