"""Content is faithful to the five source briefings.

Every number in a learning point appears in its cited briefing, every quote is there word for word,
every cited heading exists, and every page reference is one the briefing gives. Reads the seed texts
from ../shared/seeds (or $SCR_SEEDS_DIR); skips with a reason where they are absent.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

from bot.content import SECTION_SEPARATOR, Corpus, Point
from conftest import ROOT

SEEDS = Path(os.environ.get("SCR_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed briefings not found at {SEEDS} (set SCR_SEEDS_DIR)")

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# The text extraction broke ligatures (o�en, di�cult, sta�, � nal); treat any of them as one symbol.
LIGATURES = re.compile(r"ffi|ffl|ff|fi|fl|ft")


def normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2013", "-").replace("\u2014", "-")
    text = LIGATURES.sub("\ufffd", text)
    text = re.sub(r"\ufffd\s+", "\ufffd", text)
    return " ".join(text.split())


@cache
def seed(briefing_seed: str) -> str:
    return (SEEDS / briefing_seed).read_text(encoding="utf-8")


@cache
def seed_numbers(briefing_seed: str) -> frozenset[str]:
    return frozenset(NUMBER.findall(seed(briefing_seed)))


def point_text(point: Point) -> list[tuple[str, str]]:
    fields = [("title", point.title), ("summary", point.summary), ("quote", point.quote or ""),
              ("content_note", point.content_note or "")]
    fields += [(f"key_messages[{i}]", m) for i, m in enumerate(point.key_messages)]
    fields += [(f"questions[{i}]", q) for i, q in enumerate(point.questions)]
    return fields


def test_every_number_in_a_point_appears_in_its_briefing(corpus: Corpus) -> None:
    problems = []
    for point in corpus.points:
        briefing = corpus.briefings[point.source.briefing]
        known = seed_numbers(briefing.seed)
        for field, text in point_text(point):
            for number in NUMBER.findall(text):
                if number not in known:
                    problems.append(f"{point.id}.{field}: {number} is not in {briefing.seed}")
    assert not problems, "\n".join(problems)


def test_every_quote_is_in_its_briefing_word_for_word(corpus: Corpus) -> None:
    problems = []
    for point in corpus.points:
        if not point.quote:
            continue
        briefing = corpus.briefings[point.source.briefing]
        if normalise(point.quote) not in normalise(seed(briefing.seed)):
            problems.append(f"{point.id}: quote not found in {briefing.seed}: {point.quote!r}")
        if len(point.quote.split()) > 40:
            problems.append(f"{point.id}: quote is {len(point.quote.split())} words; keep quotes short (<= 40)")
    assert not problems, "\n".join(problems)


def test_every_heading_in_the_map_exists_in_its_briefing(corpus: Corpus) -> None:
    problems = []
    for briefing in corpus.briefings.values():
        text = normalise(seed(briefing.seed).lower())
        for path in briefing.section_paths():
            heading = path.split(SECTION_SEPARATOR)[-1]
            if normalise(heading.lower()) not in text:
                problems.append(f"{briefing.id}: heading {heading!r} not found in {briefing.seed}")
    assert not problems, "\n".join(problems)


def page_pattern(ref: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(ref) + r"(?![\d])")


def test_every_page_reference_is_one_the_briefing_gives(corpus: Corpus) -> None:
    problems = []
    for point in corpus.points:
        briefing = corpus.briefings[point.source.briefing]
        text = seed(briefing.seed)
        if briefing.page_refs == "none" and point.source.pages:
            problems.append(f"{point.id}: {briefing.id} gives no page numbers, but the point cites {point.source.pages}")
        for ref in point.source.pages:
            # the 2011-14 briefings write "(p141 and p161)" or "(p169-170)"; the 2017-19 contents "page 15"
            if not page_pattern(ref).search(text):
                problems.append(f"{point.id}: page reference {ref!r} not in {briefing.seed}")
    assert not problems, "\n".join(problems)


def test_quotes_are_marked_as_quotes_and_not_hidden_in_prose(corpus: Corpus) -> None:
    """Long verbatim runs outside the `quote` field would be unmarked quotation: points are in our own words."""
    problems = []
    for point in corpus.points:
        words_seed = normalise(seed(corpus.briefings[point.source.briefing].seed)).lower()
        for field, text in point_text(point):
            if field == "quote" or not text:
                continue
            words = normalise(text).lower().split()
            for i in range(0, max(0, len(words) - 14)):
                run = " ".join(words[i : i + 15])
                if run in words_seed:
                    problems.append(f"{point.id}.{field}: 15+ words copied verbatim: {run!r}")
                    break
    assert not problems, "\n".join(problems)
