"""Whatever anyone types after /scr, the bot answers with a valid message and echoes nothing unescaped."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockkit import assert_no_user_markup, assert_valid_message
from bot.content.corpus import Corpus
from bot.search.lookup import Lookup
from bot.search.query import clean
from bot.slack import blocks

INJECTIONS = ["<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<#C123|general>", "<https://evil.example|click>",
              "<!subteam^S123>", "&lt;!channel&gt;", "*bold* _it_ ~s~ `c`", "> quote"]  # fmt: skip

query_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.lists(st.sampled_from(["neglect", "police", "dv", "wnb", "search", "health", "help", "<!channel>", "&", "<", ">",
                              "sarah's", "law", "🙂", "\u0000", "\u202e", "random", "themes", "more", "week"]),
             max_size=8).map(" ".join),
)  # fmt: skip


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def render(lookup: Lookup, text: str, offset: int = 0) -> dict:
    answer = lookup.answer(text, offset=offset)
    return blocks.message(blocks.answer_blocks(lookup.corpus, answer), blocks.fallback_text(answer))


def assert_no_markup_from_user(msg: dict) -> None:
    """Lookup answers contain no Slack markup of our own, so any '<' would be user text leaking through."""
    assert_no_user_markup(msg)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=query_text, offset=st.integers(min_value=-5, max_value=500))
def test_any_input_gives_a_valid_message(lookup: Lookup, text: str, offset: int) -> None:
    msg = render(lookup, text, offset)
    assert_valid_message(msg)
    assert_no_markup_from_user(msg)


@pytest.mark.parametrize("attack", INJECTIONS)
def test_mentions_and_links_typed_by_users_are_escaped(lookup: Lookup, attack: str) -> None:
    for text in (attack, f"neglect {attack}", f"search {attack}", f"{attack} police"):
        msg = render(lookup, text)
        assert_valid_message(msg)
        assert_no_markup_from_user(msg)


def test_very_long_input(lookup: Lookup) -> None:
    msg = render(lookup, "neglect " * 2000)  # ~16 kB
    assert_valid_message(msg)
    assert "Neglect" in json.dumps(msg)


@pytest.mark.parametrize("text", ["!!!???", "🙂🙂🙂", "\x00\x01\x02", "   ", "—", "'", "123456", "\u202eevil"])
def test_odd_input_gets_a_sensible_answer(lookup: Lookup, text: str) -> None:
    answer = lookup.answer(text)
    assert answer.kind in ("help", "not_found", "search")
    msg = render(lookup, text)
    assert_valid_message(msg)
    if answer.kind == "not_found":  # nothing near in meaning: say so, and suggest nothing arbitrary
        assert "couldn't find" in json.dumps(msg) and answer.suggestions == []


def test_clean_strips_controls_and_bounds_length() -> None:
    assert clean("a\x00b\u202ec  d\n\te") == "a b c d e"
    assert len(clean("x" * 10_000)) == 200


def test_every_point_renders_within_limits(lookup: Lookup, corpus: Corpus) -> None:
    for point in corpus.points:
        msg = render(lookup, point.id)
        assert_valid_message(msg)
        for reflect in (True, False):
            rendered = blocks.point_blocks(corpus, point, questions=3, reflect_button=reflect)
            assert_valid_message(blocks.message(rendered, "x"))


def test_content_notes_come_before_the_detail(lookup: Lookup, corpus: Corpus) -> None:
    point = next(p for p in corpus.points if p.content_note)
    msg = render(lookup, point.id)
    types = [b["type"] for b in msg["blocks"]]
    note_at = next(i for i, b in enumerate(msg["blocks"]) if "Content note" in json.dumps(b))
    assert note_at < types.index("header")
