"""What practitioners type, and the learning that must come back in the top three.

Abbreviations, typos, phrases from practice and sector + theme mixes. Each row names the point(s)
that must be in the top 3, or the theme every top-3 point must carry.
"""

from __future__ import annotations

import pytest

from bot.content.corpus import Corpus
from bot.search.lookup import Lookup

# (query, expected kind, point ids that must be in the top 3, theme all top-3 points must have)
TABLE: list[tuple[str, str, list[str], str | None]] = [
    ("neglect", "theme", ["p19-neglect-and-poverty"], "neglect"),
    ("neglet", "theme", ["p19-neglect-and-poverty"], "neglect"),
    ("Neglect", "theme", ["p19-neglect-and-poverty"], "neglect"),
    ("poverty", "theme", ["p19-neglect-and-poverty"], "neglect"),
    ("police neglect", "intersection", ["p19-neglect-and-poverty", "p19-neglect-assessment-tools"], "neglect"),
    ("neglect police", "intersection", ["p19-neglect-and-poverty", "p19-neglect-assessment-tools"], "neglect"),
    ("dv", "theme", ["p14-da-beyond-the-incident"], "da"),
    ("DV", "theme", ["p14-da-beyond-the-incident"], "da"),
    ("domestic abuce", "theme", ["p14-da-beyond-the-incident"], "da"),
    ("domestic violence", "theme", [], "da"),
    ("coercive control", "theme", ["r14-rec-domestic-abuse"], "da"),
    ("health dv", "intersection", ["h14-domestic-abuse-disclosure"], "da"),
    ("was not brought", "theme", ["h14-was-not-brought"], "wnb"),
    ("wnb", "theme", ["h14-was-not-brought"], "wnb"),
    ("DNA", "theme", ["h14-was-not-brought"], "wnb"),
    ("did not attend", "theme", ["h14-was-not-brought"], "wnb"),
    ("search sarah's law", "search", ["p19-known-perpetrators"], None),
    ("sarah's law", "theme", ["p19-known-perpetrators"], "csa"),
    ("mappa", "theme", ["p19-known-perpetrators"], "csa"),
    ("abe interview", "theme", ["p19-abe-interviews"], "csa"),
    ("achieving best evidence", "theme", ["p19-abe-interviews"], "csa"),
    ("toxic trio", "theme", [], "co-occurring"),
    ("county lines", "theme", ["p19-adolescents-history"], "cce"),
    ("cse", "theme", ["h14-cse"], "cse"),
    ("education cse", "intersection", ["e14-cse"], "cse"),
    ("co-sleeping", "theme", ["h14-sudi"], "sudi"),
    ("safer sleep", "theme", ["h14-sudi"], "sudi"),
    ("shaken baby", "theme", ["h14-head-injury"], "nai"),
    ("professional curiosity", "theme", ["e14-curiosity"], "curiosity"),
    ("curiosty", "theme", ["e14-curiosity"], "curiosity"),
    ("escalation", "theme", ["p19-escalation"], "escalation"),
    ("resolving professional differences", "theme", ["p19-escalation"], "escalation"),
    ("information sharing", "theme", ["p14-information-sharing-presume", "h14-information-sharing"], "info-sharing"),
    ("police information sharing", "intersection", ["p19-information-exchange"], "info-sharing"),
    ("confidentiality", "theme", ["h14-information-sharing"], "info-sharing"),
    ("strategy discussion", "theme", ["p14-strategy-discussions"], "assessment"),
    ("unsubstantiated concerns", "theme", ["p14-unsubstantiated-concerns"], "assessment"),
    ("thresholds", "theme", ["h14-thresholds"], "assessment"),
    ("lived experience", "theme", ["p19-lived-experience"], "voice"),
    ("reachable moment", "theme", ["p19-reachable-moments"], "adolescents"),
    ("suicide", "theme", ["h14-suicide"], "suicide"),
    ("self harm", "theme", ["h14-suicide"], "suicide"),
    ("camhs", "sector", ["h14-suicide"], None),
    ("disabled children", "theme", ["e14-disabled-children", "h14-disabled-children"], "disability"),
    ("SEND", "theme", ["e14-disabled-children"], "disability"),
    ("home education", "theme", ["e14-home-education"], "missing"),
    ("managed moves", "theme", ["e14-beyond-behaviour"], "missing"),
    ("going missing", "theme", ["p14-going-missing"], "missing"),
    ("interpreters", "theme", ["h14-immigrant-families", "e14-immigrant-families"], "culture"),
    ("traveller", "theme", ["p19-cultural-difference"], "culture"),
    ("maternal ambivalence", "theme", ["h14-maternal-ambivalence"], None),
    ("concealed pregnancy", "theme", ["h14-maternal-ambivalence"], None),
    ("methadone", "theme", ["h14-substance-misuse"], "substance"),
    ("parental mental health", "theme", ["h14-parental-mental-health"], "pmh"),
    ("separation", "theme", ["p14-separation-warning-sign"], "separation"),
    ("supervision", "theme", ["p19-system-wide"], "systems"),
    ("rapid review", "theme", ["p19-new-review-system"], "case-reviews"),
    ("lcspr", "theme", ["p19-new-review-system"], "case-reviews"),
    ("ethnicity", "theme", ["p19-data-ethnicity"], None),
    ("boys", "search", ["p19-data-gender"], None),
    ("triangulate", "theme", ["r14-rec-uncertainty"], "assessment"),
    ("desensitisation", "theme", ["e14-sensitivity"], None),
    ("authoritative practice", "theme", ["h14-authoritative-practice", "e14-authoritative-practice"], None),
    ("disguised compliance", "theme", ["r14-finding-uncertainty"], "engagement"),
    ("search perpetrator moves in with the family", "search", ["p19-known-perpetrators"], None),
    ("search hidden in plain sight", "search", ["p19-lived-experience"], None),
    ("polce", "sector", [], None),
]


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(("query", "kind", "must", "theme"), TABLE, ids=[row[0] for row in TABLE])
def test_query_finds_the_right_learning(lookup: Lookup, query: str, kind: str, must: list[str], theme: str | None) -> None:
    answer = lookup.answer(query)
    assert answer.kind == kind
    top3 = [p.id for p in answer.results[:3]]
    assert len(top3) >= min(2, len(answer.results)) and answer.results, f"no results for {query!r}"
    for point_id in must:
        assert point_id in top3, f"{point_id} not in top 3 for {query!r}: {top3}"
    if theme:  # the best answer is on the theme (points elsewhere that discuss a specific name may follow)
        assert theme in answer.results[0].themes, f"top answer for {query!r} is not on {theme}: {top3}"


def test_sector_answers_are_for_that_sector(lookup: Lookup) -> None:
    for query, sector in [("police", "police"), ("polce", "police"), ("school", "education"), ("gp", "health"),
                          ("social worker", "social-care")]:
        answer = lookup.answer(query)
        assert answer.kind == "sector"
        assert all(sector in p.sectors or "multi-agency" in p.sectors for p in answer.results)
        assert sector in answer.results[0].sectors  # the sector's own points come first
        assert answer.labels, "sector answers are grouped by theme"


def test_typos_say_what_was_understood(lookup: Lookup) -> None:
    answer = lookup.answer("domestic abuce")
    assert answer.notice and "domestic abuse" in answer.notice.lower() and "abuce" in answer.notice


def test_nothing_found_suggests_close_themes(lookup: Lookup) -> None:
    answer = lookup.answer("negelct survivers")
    assert answer.kind in ("not_found", "search")
    answer = lookup.answer("zzqx")
    assert answer.kind == "not_found"
    assert answer.suggestions == []  # nothing is near in meaning: no arbitrary themes
    assert lookup.answer("neglekt abuse").results  # a near miss still finds learning


def test_point_id_random_and_commands(lookup: Lookup, corpus: Corpus) -> None:
    assert lookup.answer("h14-sudi").results[0].id == "h14-sudi"
    assert lookup.answer("random").results[0] in corpus.points
    for text, kind in [("", "help"), ("help", "help"), ("themes", "themes"), ("SECTORS", "sectors"), ("week", "week")]:
        assert lookup.answer(text).kind == kind


def test_paging_walks_through_every_result(lookup: Lookup) -> None:
    first = lookup.answer("adolescents")
    seen = []
    offset = 0
    while True:
        page = lookup.answer("adolescents", offset=offset)
        seen.append(page.top.id)
        seen += [p.id for p in page.rest]
        if not page.has_more:
            break
        offset += 5
    assert seen == [p.id for p in first.results]
