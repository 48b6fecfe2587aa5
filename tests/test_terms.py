"""Source-aware terms and the evidence behind "not covered".

`scr-bot content terms` writes each point's `terms:` (what its cited section mentions) and
content/not-covered.yaml from the briefings' text and the reviewed curation file. These tests check
that the committed content is exactly what the generator makes from its inputs (so it can be re-run
after anyone edits points), that every term is in its cited section, that a "not covered" topic is
named nowhere in the briefings or the points, and that the bot itself never needs the sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import warmstart

from bot.content.corpus import Corpus, load_corpus
from bot.content.sources import Sources, words
from bot.content.terms import Curation, generate
from bot.search.lookup import Lookup
from conftest import CONTENT_DIR, ROOT

SEEDS = Path(os.environ.get("SCR_SOURCES_DIR") or ROOT.parent / "shared" / "seeds")
CURATION = ROOT / "curation" / "terms.yaml"
needs_sources = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"source briefings not found at {SEEDS}")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    base.update(env or {})
    return warmstart.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=base, cwd=ROOT,
                          timeout=120)


def copy_content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the content the generator has run over once, with the committed sources and curation: the
    tests below only read it (a run is about a second; each test ran its own)."""
    content = copy_content(tmp_path_factory.mktemp("generated"))
    generate(content, SEEDS, CURATION)
    return content


@needs_sources
def test_committed_terms_are_what_the_generator_makes() -> None:
    result = run("content", "terms", "--sources", str(SEEDS), "--check")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_sources
def test_the_generator_is_deterministic_and_follows_edits(tmp_path: Path, generated: Path) -> None:
    first, second = copy_content(tmp_path / "a"), generated  # two runs over two copies, compared file by file
    generate(first, SEEDS, CURATION)
    for path in sorted(first.rglob("*.yaml")):
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path
    # Someone re-cites a point to another section: re-running gives that section's terms.
    points = first / "points" / "police-2011-14.yaml"
    text = points.read_text()
    assert 'section: "Strategy discussions"' in text
    points.write_text(text.replace('section: "Strategy discussions"', 'section: "Working in partnership"', 1))
    generate(first, SEEDS, CURATION)
    moved = load_corpus(first).by_id["p14-strategy-discussions"]
    assert "MARAC" in moved.terms and "MAPPA" in moved.terms


@needs_sources
def test_every_term_occurs_in_its_cited_section(corpus: Corpus) -> None:
    sources = Sources(SEEDS)
    problems = []
    for point in corpus.points:
        section = " ".join(words(sources.section_text(corpus.briefings[point.source.briefing], point.source.section,
                                                      window=0) or ""))
        for term in point.terms:
            if f" {' '.join(words(term))}" not in f" {section}":
                problems.append(f"{point.id}: {term!r}")
    assert not problems, problems
    assert sum(1 for p in corpus.points if p.terms) >= len(corpus.points) // 2


@needs_sources
def test_a_paragraph_printed_under_another_heading_gives_its_terms_to_its_own_section(generated: Path) -> None:
    """The research briefing prints its recommendations on uncertainty under "Domestic abuse", those on
    domestic abuse after "Listening to children", and its "Dealing with uncertainty" heading beside
    "Adolescent suicide"; the map's ``elsewhere`` says where each belongs, and the terms must follow it,
    not the heading the extraction happened to put them under."""
    by_id = load_corpus(generated).by_id
    assert "Was Not Brought" in by_id["r14-rec-uncertainty"].terms
    assert "self-harm" not in by_id["r14-rec-uncertainty"].terms  # the suicide recommendations' words
    assert by_id["r14-rec-domestic-abuse"].terms == ["private law"]
    assert "private law" not in by_id["r14-rec-listening"].terms
    assert "self-harm" in by_id["r14-rec-suicide"].terms
    # health: the suicide paragraphs printed in the CSE column are the suicide section's
    assert "young carer" in by_id["h14-suicide"].terms and "young carer" not in by_id["h14-cse"].terms


@needs_sources
def test_a_not_covered_topic_is_named_in_no_section_and_no_point(corpus: Corpus) -> None:
    sources = Sources(SEEDS)
    texts = [" " + " ".join(words(src.whole())) + " " for b in corpus.briefings.values() if (src := sources.text(b))]
    texts += [" " + " ".join(words(" ".join([p.title, p.summary, *p.key_messages, *p.questions, *p.terms]))) + " "
              for p in corpus.points]
    assert len(corpus.not_covered) >= 6
    for topic in corpus.not_covered.values():
        for name in topic.names:
            key = " " + " ".join(words(name)) + " "
            assert not any(key in t for t in texts), f"{topic.id}: {name!r} is mentioned after all"


@needs_sources
def test_a_topic_the_briefings_mention_is_not_called_uncovered(tmp_path: Path) -> None:
    curation = tmp_path / "terms.yaml"
    text = CURATION.read_text()
    curation.write_text(text.replace("not_covered:\n", "not_covered:\n  - id: mappa-topic\n    label: MAPPA\n"
                                     "    names: [MAPPA]\n", 1))
    report = generate(copy_content(tmp_path), SEEDS, curation)
    assert "mappa-topic" not in report.not_covered
    assert any(line.startswith("mappa-topic:") for line in report.mentioned)


@needs_sources
def test_unreviewed_candidates_are_listed_not_written(tmp_path: Path) -> None:
    data = Curation.load(CURATION)
    assert "MARAC" in data.accept
    curation = tmp_path / "terms.yaml"
    curation.write_text(CURATION.read_text().replace("  - MARAC\n", "", 1))
    content = copy_content(tmp_path)
    report = generate(content, SEEDS, curation)
    assert "MARAC" in report.candidates  # a person must accept or reject it
    assert all("MARAC" not in p.terms for p in load_corpus(content).points)


def test_the_bot_never_needs_the_sources(tmp_path: Path) -> None:
    """Answers come from committed content alone: no sources folder, and still the section's terms explain."""
    result = run("ask", "--json", "cdop", env={"SCR_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["kind"] == "search"
    top = out["results"][0]
    assert top["id"] == "p19-data-fatal"  # the point whose section ("Fatal cases") discusses CDOP data
    assert top["why"] == "The briefing's section “Fatal cases” mentions CDOP."


def test_why_is_shown_in_every_rendering(corpus: Corpus) -> None:
    from bot.ops.textrender import render
    from bot.slack import blocks

    answer = Lookup(corpus).answer("trafficking")
    top = answer.results[0]
    assert top.id == "e14-cse"
    why = answer.why[top.id]
    assert why == "The briefing's section “Child sexual exploitation” mentions trafficking."
    msg = blocks.message(blocks.answer_blocks(corpus, answer), blocks.fallback_text(answer))
    assert why in json.dumps(msg, ensure_ascii=False)
    assert why in render(msg, width=400)[0]
    assert not any(answer.why.get(p.id) for p in answer.results if "trafficking" in p.summary.lower())
