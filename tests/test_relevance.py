"""Relevance as a habit: the practitioner query table must keep a relevant point in the top three, for
full-sentence questions as well as short phrases, and every live concern typed as a lookup must be answered
with the safety net first.

The table (tests/relevance_table.py) is written from the asker's side and judged by reading the
points; `python bench/bench_relevance.py` prints the same figures per sector.
"""

from __future__ import annotations

import pytest
from relevance_table import LIVE, NOT_COVERED, NOTHING, TABLE, Scored, evaluate

from bot.content.corpus import Corpus
from bot.search.lookup import Lookup

SECTORS = {"police", "health", "education", "social-care", "multi-agency"}
TOP3_FLOOR = 0.95
SENTENCE_FLOOR = 0.90  # questions in full sentences, ranked by what they ask rather than how they ask it
LIVE_FLOOR = 1.0  # a live concern must always get how to act now first


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


@pytest.fixture(scope="module")
def evaluated(lookup: Lookup) -> tuple[list[Scored], dict[str, dict[str, float]]]:
    """The whole table scored once: the three floors below read the same ranks (scoring is a few seconds of
    lookups, and it was done three times)."""
    return evaluate(lookup)


def test_the_table_is_broad() -> None:
    assert len(TABLE) >= 300
    assert sum(1 for r in TABLE if r.form == "sentence") >= 50  # questions typed as sentences
    assert sum(1 for r in TABLE if r.relevant == LIVE) >= 25  # live concerns typed as a lookup
    assert sum(1 for r in TABLE if r.relevant == NOTHING) >= 5  # code and probes
    by_sector = {s: [r for r in TABLE if r.sector == s] for s in SECTORS}
    assert set(by_sector) == {r.sector for r in TABLE}
    assert all(len(rows) >= 25 for rows in by_sector.values()), {s: len(r) for s, r in by_sector.items()}
    assert sum(1 for r in TABLE if r.relevant == NOT_COVERED) >= 15  # topics the briefings do not discuss
    assert len({r.query.lower() for r in TABLE}) == len(TABLE), "each query once"


def test_queries_are_typed_not_copied_from_titles(corpus: Corpus) -> None:
    titles = [p.title.lower() for p in corpus.points]
    copied = [r.query for r in TABLE if len(r.query.split()) >= 4 and any(r.query.lower() in t for t in titles)]
    assert not copied, copied


def test_every_judged_point_exists(corpus: Corpus) -> None:
    missing = {pid for r in TABLE if r.relevant not in (NOT_COVERED, LIVE, NOTHING) for pid in r.relevant
               if pid not in corpus.by_id}
    assert not missing, f"the table names points that no longer exist: {sorted(missing)}"


def test_top3_stays_above_95_percent(evaluated: tuple[list[Scored], dict[str, dict[str, float]]]) -> None:
    scored, table = evaluated
    misses = [f"{s.row.query!r} ({s.row.sector}): rank {s.rank}, got {s.got}" for s in scored
              if s.rank is None or s.rank > 3]
    assert table["overall"]["top3"] >= TOP3_FLOOR, (
        f"top-3 {table['overall']['top3']:.1%} < {TOP3_FLOOR:.0%}; misses:\n" + "\n".join(misses))
    for sector, m in table.items():  # no sector is left far behind
        assert m["top3"] >= 0.85, f"{sector}: top-3 {m['top3']:.1%}"


def test_full_sentences_are_ranked_by_what_they_ask(evaluated: tuple[list[Scored], dict[str, dict[str, float]]]) -> None:
    scored, table = evaluated
    misses = [f"{s.row.query!r}: rank {s.rank}, got {s.got}" for s in scored
              if s.row.form == "sentence" and (s.rank is None or s.rank > 3)]
    assert table["sentence"]["top3"] >= SENTENCE_FLOOR, (
        f"sentences top-3 {table['sentence']['top3']:.1%} < {SENTENCE_FLOOR:.0%}; misses:\n" + "\n".join(misses))


def test_every_live_concern_gets_the_safety_net_first(evaluated: tuple[list[Scored], dict[str, dict[str, float]]]) -> None:
    scored, table = evaluated
    missed = [s.row.query for s in scored if s.row.form == "live" and s.rank != 1]
    assert table["live"]["top3"] >= LIVE_FLOOR and not missed, missed
