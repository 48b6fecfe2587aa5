"""Practitioners' words: every name leads to learning that discusses it; Slack markup, typos, weak
words and topics the briefings do not cover are handled the same way wherever they appear."""

from __future__ import annotations

import pytest

from bot.content.corpus import Corpus
from bot.search.index import phrase_key
from bot.search.lookup import Lookup
from bot.search.query import clean


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def discusses(lookup: Lookup, point_id: str, phrases: list[str], own: bool = False) -> bool:
    """Whether the point's own words or its cited section's terms (with ``own``, only its own words)
    contain one of ``phrases``."""
    index = lookup.content_index
    text = (index.own_text if own else index.text)[index.position[point_id]]
    return any(f" {phrase_key(p)} " in text for p in phrases if phrase_key(p))


def alias_rows(corpus: Corpus) -> list[tuple[str, str, str]]:
    rows = []
    for theme in corpus.themes.values():
        rows += [("theme", theme.id, alias) for alias in theme.aliases]
    for concept in corpus.concepts.values():
        rows += [("concept", concept.id, name) for name in concept.names]
    return rows


def test_every_theme_alias_and_concept_name_leads_to_points_that_discuss_it(lookup: Lookup, corpus: Corpus) -> None:
    """Each name's top answer is a point about it. When the content uses the name itself (or what an
    abbreviation stands for) anywhere, the top point must be one that does ("MAPPA" finds the point
    whose section discusses MAPPA, not any abuse point); when it never does (a synonym such as "cot
    death"), the top point must be mainly about the theme the name belongs to. A concept's answer must
    lead with a point that uses one of the briefings' own words for it."""
    problems = []
    everywhere = [p.id for p in corpus.points]
    primary = {p.themes[0] for p in corpus.points}
    for kind, ident, name in alias_rows(corpus):
        answer = lookup.answer(name)
        if not answer.results:
            problems.append(f"{kind} {ident}: {name!r} finds nothing ({answer.kind})")
            continue
        top = answer.results[0]
        if kind == "concept":
            ok = discusses(lookup, top.id, corpus.concepts[ident].search + corpus.concepts[ident].names)
        else:
            theme = corpus.themes[ident]
            label = set(phrase_key(f"{theme.label} {ident.replace('-', ' ')}").split())
            # The theme's own name in other words, or an abbreviation: its points are what it means.
            abbreviation = phrase_key(name) in lookup.vocab.expansion
            generic = set(phrase_key(name).split()) <= label or abbreviation
            used = not generic and any(discusses(lookup, pid, [name], own=True) for pid in everywhere)
            on_theme = ident in top.themes and (top.themes[0] == ident or ident not in primary or abbreviation)
            ok = discusses(lookup, top.id, [name]) if used else on_theme or discusses(lookup, top.id, [name])
        if not ok:
            problems.append(f"{kind} {ident}: {name!r} -> {[p.id for p in answer.results[:3]]}")
    assert not problems, "\n".join(problems)


def test_every_not_covered_name_is_answered_honestly(lookup: Lookup) -> None:
    for topic in lookup.uncovered.values():
        for name in topic.names:
            answer = lookup.answer(name)
            assert answer.kind == "not_covered", (name, answer.kind)
            assert answer.topic is not None and answer.topic.id == topic.id
            assert not answer.results


@pytest.mark.parametrize(
    ("typed", "same_as"),
    [
        ("<@U123ABC> neglect", "neglect"),
        ("<@U123ABC|sam> neglect", "neglect"),
        ("neglect <#C0123|general>", "neglect"),
        ("<!here> was not brought", "was not brought"),
        ("<https://example.org/guidance|sarah's law>", "sarah's law"),
        ("<https://example.org/x> police neglect", "police neglect"),
        ("https://example.org/a?b=c domestic abuse", "domestic abuse"),
        ("neglect :slightly_smiling_face:", "neglect"),
        ("A&amp;E attendances", "A&E attendances"),
    ],
)
def test_slack_markup_is_stripped_before_parsing(lookup: Lookup, typed: str, same_as: str) -> None:
    got, want = lookup.answer(typed), lookup.answer(same_as)
    assert (got.kind, [p.id for p in got.results]) == (want.kind, [p.id for p in want.results])
    assert "U123" not in clean(typed) and "http" not in clean(typed)


def test_spelling_is_corrected_alike_for_every_name(lookup: Lookup) -> None:
    for typed, meant, kind in [("neglet", "neglect", "theme"), ("disabilty", "disability", "theme"),
                               ("polce", "police", "sector"), ("curiosty", "curiosity", "theme"),
                               ("radicalisaton", "radicalisation", "not_covered"), ("marack", "marac", "search")]:
        answer = lookup.answer(typed)
        assert answer.kind == kind, (typed, answer.kind)
        assert meant in (answer.notice or "").lower(), (typed, answer.notice)
    assert lookup.parse("deprived").corrections == {}  # a real word the content knows is never "corrected"


def test_phrases_beat_common_words(lookup: Lookup, corpus: Corpus) -> None:
    assert lookup.answer("missing from home").results[0].id == "p14-going-missing"
    assert lookup.answer("attendance").results[0].id == "e14-curiosity"  # the school reporting attendance
    assert "e14-home-education" not in [p.id for p in lookup.answer("missing from home").results[:3]]
    assert lookup.answer("teenage pregnancy").results[0].id in ("h14-ask-about-children", "h14-young-parenthood")
    assert "adolescents" not in lookup.answer("early years").results[0].themes
    assert lookup.answer("private fostering").kind == "not_covered"  # not "private law"
    assert lookup.answer("prevent").kind == "not_covered"  # the duty, typed on its own
    verb = lookup.answer("how to prevent neglect")  # ... but only a verb beside a topic
    assert verb.kind != "not_covered" and "neglect" in verb.results[0].themes


def test_not_found_suggests_only_what_is_near_in_meaning(lookup: Lookup) -> None:
    assert lookup.answer("🙂").suggestions == []
    assert lookup.answer("zzqx").suggestions == []
    lado = lookup.answer("LADO")
    assert lado.kind == "not_covered" and not lado.results
    near = [s.query for s in lookup.nearest("neglected babys")]
    assert near and {"neglect", "infants"} & set(near), near
