"""7-minute briefings built from the content (bot/briefings): seven parts, every key point cited, every
line's words traceable to a point's checked field, a briefing's period or a verified change, or our own
framing, which carries no figures. Then the handout: `scr-bot briefing --pdf/--markdown` as a real
process, the PDF read back with poppler (pdftotext, pdftoppm) to check what is on its one page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import warmstart

from bot.briefings.builder import PART_HEADINGS, NoMatch, SevenMinuteBriefing, assemble, build, pool, swap
from bot.content.corpus import Corpus
from bot.content.currency import period_label, since_line
from bot.search.lookup import Lookup
from conftest import CONTENT_DIR, ROOT


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def field_text(corpus: Corpus, point_id: str, name: str) -> str:
    """A point's field by the name a Line gives ("key_messages[1]", "quote", "summary", "questions[0]")."""
    point = corpus.by_id[point_id]
    m = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", name)
    assert m, name
    value = getattr(point, m.group(1))
    return value[int(m.group(2))] if m.group(2) is not None else value


def assert_faithful(corpus: Corpus, b: SevenMinuteBriefing) -> None:
    """Seven parts in order; each key part and "why it matters" cites its point as points are cited; every
    line is a point's field word for word, the theme's description, a briefing's title or period, or
    framing without a figure."""
    assert [p.heading for p in b.parts] == list(PART_HEADINGS)
    assert [p.number for p in b.parts] == [1, 2, 3, 4, 5, 6, 7]
    for part in b.parts:
        assert part.lines, f"part {part.number} is empty"
        if part.number in (2, 3, 4, 5):
            point = corpus.by_id[part.point]
            assert part.citation == corpus.citation(point)
            assert part.since == since_line(corpus, point)
            assert b.spec.theme in point.themes
        for line in part.lines:
            if line.kind == "point":
                assert line.text == field_text(corpus, line.point, line.field)
                assert line.point in {part.point, *b.spec.keys}
            elif line.kind == "period":
                assert line.text in {period_label(corpus.briefings[s.briefing]) for s in b.sources}
            elif line.kind == "theme":
                assert line.text == corpus.themes[b.spec.theme].description
            elif line.kind == "source":
                assert any(s.title in line.text for s in b.sources)
            else:
                assert line.kind == "framing", line
                assert not re.search(r"\d", line.text), f"a figure in our own words: {line.text!r}"
    shown = [(line.point, line.field) for line in b.lines() if line.kind == "point"]
    assert len(shown) == len(set(shown)), "a point's words shown twice"
    cited = {p.point for p in b.parts if p.point}
    assert {s.briefing for s in b.sources} == {corpus.by_id[c].source.briefing for c in cited}


def test_a_theme_gives_seven_cited_parts_from_one_briefing(corpus: Corpus, lookup: Lookup) -> None:
    b = build(lookup, "neglect")
    assert_faithful(corpus, b)
    assert b.spec.theme == "neglect" and not b.across
    assert len(b.sources) == 1 and all(corpus.by_id[k].source.briefing == b.spec.briefing for k in b.spec.keys)
    assert len(set(b.spec.keys)) == 3
    assert b.parts[1].point == b.spec.why and corpus.by_id[b.spec.why].kind == "key-data"
    assert len(b.questions) == 3 and all(q.text.endswith("?") for q in b.questions)


def test_every_theme_and_every_point_builds_faithfully(corpus: Corpus, lookup: Lookup) -> None:
    for theme in corpus.themes:
        if pool(corpus, theme, None):
            assert_faithful(corpus, build(lookup, theme))
    for point in corpus.points:
        b = build(lookup, point.id)
        assert_faithful(corpus, b)
        assert b.spec.keys[0] == point.id or b.spec.why == point.id


def test_a_theme_with_one_point_still_has_seven_parts_without_repeating_itself(corpus: Corpus, lookup: Lookup) -> None:
    b = build(lookup, "h14-sudi")
    assert len(pool(corpus, b.spec.theme, b.spec.briefing)) == 1  # the fault this test is about: too few points
    assert_faithful(corpus, b)
    assert b.swappable == (False, False, False)  # nothing to swap in
    assert {p.point for p in b.parts[2:5]} == {"h14-sudi"}


def test_across_briefings_draws_on_several(corpus: Corpus, lookup: Lookup) -> None:
    one = build(lookup, "neglect")
    across = build(lookup, "neglect", across=True)
    assert build(lookup, "across neglect").spec == across.spec
    assert_faithful(corpus, across)
    assert across.across and len(across.sources) > 1
    assert len({corpus.by_id[k].source.briefing for k in across.spec.keys}) > 1
    assert one.spec.keys != across.spec.keys


def test_free_text_leads_with_the_best_matching_point(corpus: Corpus, lookup: Lookup) -> None:
    b = build(lookup, "patient confidentiality")
    top = lookup.answer("patient confidentiality").top
    assert top is not None and top.id in (*b.spec.keys, b.spec.why)
    assert_faithful(corpus, b)


@pytest.mark.parametrize(("text", "says"), [
    ("zzqx", "No theme or learning point matches"),
    ("", "Say what the briefing is about"),
    ("fgm", "do not discuss"),
])  # fmt: skip
def test_no_match_says_why_in_one_line(lookup: Lookup, text: str, says: str) -> None:
    with pytest.raises(NoMatch) as caught:
        build(lookup, text)
    assert says in caught.value.message and "\n" not in caught.value.message


def test_swap_brings_another_point_of_the_same_theme(corpus: Corpus, lookup: Lookup) -> None:
    b = build(lookup, "neglect")
    seen = {b.spec.keys[1]}
    spec = b.spec
    for _ in range(len(pool(corpus, spec.theme, spec.briefing))):
        spec = swap(corpus, spec, 1)
        assert spec.keys[0] == b.spec.keys[0] and spec.keys[2] == b.spec.keys[2]
        assert spec.keys[1] not in (spec.keys[0], spec.keys[2], spec.why)
        seen.add(spec.keys[1])
        assert_faithful(corpus, assemble(corpus, spec))
    assert len(seen) > 1


def test_a_spec_naming_a_point_off_the_theme_is_refused(corpus: Corpus, lookup: Lookup) -> None:
    b = build(lookup, "neglect")
    off = next(p.id for p in corpus.points if "neglect" not in p.themes)
    with pytest.raises(NoMatch):
        assemble(corpus, type(b.spec)(theme="neglect", briefing=None, why=None, keys=(off,)))


# ----- the handout, through the CLI as a real process -----------------------------------------------------
POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) is not installed: "
                                   "apt-get install poppler-utils (.ci/run does)")  # fmt: skip


def scr_bot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(CONTENT_DIR)
    return warmstart.run([sys.executable, "-m", "bot", "briefing", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)  # fmt: skip


@needs_poppler
@pytest.mark.parametrize("query", [["neglect"], ["neglect", "--across"], ["information", "sharing"], ["wnb", "--across"]])
def test_the_pdf_handout_is_one_a4_page_with_the_parts_citations_period_and_action_plan(
        tmp_path: Path, corpus: Corpus, query: list[str]) -> None:  # fmt: skip
    pytest.importorskip("fpdf", reason="fpdf2 is not installed (pip install -e .)")
    pdf, md = tmp_path / "handout.pdf", tmp_path / "handout.md"
    done = scr_bot(*query, "--pdf", str(pdf), "--markdown", str(md))
    assert done.returncode == 0, done.stderr
    built = build(Lookup(corpus), " ".join(q for q in query if q != "--across"), across="--across" in query)

    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
    assert [p.name for p in sorted(tmp_path.glob("page*.png"))] == ["page-1.png"], "the handout is ONE page"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info), info
    assert f"Title:           {built.title}" in info

    text = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())  # fmt: skip
    for part in built.parts:
        assert f"{part.number} · {part.heading}" in text
    assert " ".join(built.parts[2].citation.split()) in text  # a citation, as cited in Slack
    for source in built.sources:
        assert source.period in text
    for heading in ("What", "Owner", "Due date", "Done"):
        assert heading in text

    markdown = md.read_text()
    assert markdown.startswith(f"# {built.title}\n")
    for part in built.parts:
        assert f"## {part.number} · {part.heading}" in markdown
        if part.citation:
            assert f"Source: {part.citation}" in markdown
    assert "| What | Owner | Due date | Done |" in markdown and all(s.period in markdown for s in built.sources)


def _flat(text: str) -> str:
    return " ".join(text.split())


@needs_poppler
def test_every_themes_handout_fits_one_a4_page_keeping_citations_periods_and_currency_notes(
        tmp_path: Path, corpus: Corpus, lookup: Lookup) -> None:  # fmt: skip
    """Every theme, one briefing and across briefings: one A4 page of real text, each part's citation, each
    "since this briefing" note and each briefing's period on it, and the action plan."""
    pytest.importorskip("fpdf", reason="fpdf2 is not installed (pip install -e .)")
    from bot.briefings.handout import pdf_bytes

    failures = []
    for theme in corpus.themes:
        for across in (False, True):
            try:
                built = build(lookup, theme, across=across)
            except NoMatch:
                continue
            name = f"{theme}{' --across' if across else ''}"
            try:
                data = pdf_bytes(built)
            except Exception as exc:  # noqa: BLE001 - collected: every theme is reported, not the first
                failures.append(f"{name}: {exc}")
                continue
            pdf = tmp_path / f"{theme}-{across}.pdf"
            pdf.write_bytes(data)
            info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
            text = _flat(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout)
            missing = [f"part {p.number} citation" for p in built.parts if p.citation and _flat(p.citation) not in text]
            missing += [f"part {p.number} since note" for p in built.parts if p.since and _flat(p.since) not in text]
            missing += [f"period {s.period}" for s in built.sources if _flat(s.period) not in text]
            missing += [f"heading {p.number}" for p in built.parts if f"{p.number} · {p.heading}" not in text]
            missing += ["action plan"] if "Action plan" not in text else []
            if not re.search(r"Pages:\s+1\n", info) or "(A4)" not in info:
                missing.append("one A4 page")
            if missing:
                failures.append(f"{name}: {', '.join(missing)}")
    assert not failures, "\n".join(failures)


def test_no_match_writes_nothing_and_says_so_in_one_line(tmp_path: Path) -> None:
    pdf, md = tmp_path / "handout.pdf", tmp_path / "handout.md"
    done = scr_bot("zzqx", "--pdf", str(pdf), "--markdown", str(md))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("scr-bot briefing: No theme")
    assert "scr-bot content stats" in done.stderr and "/scr" not in done.stderr
    assert not pdf.exists() and not md.exists()
