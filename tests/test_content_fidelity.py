"""Content is faithful to the five source briefings, section by section.

Every number in a learning point appears in the section it cites, every quote is there word for
word, every heading of the map exists, every page reference is one the briefing gives, nothing is
copied unmarked, and each section term occurs in the cited section. The checks are
``bot.content.fidelity``'s, the same ones ``scr-bot content check --sources`` runs. Reads the seed texts
from ../shared/seeds (or $SCR_SOURCES_DIR); skips with a reason where they are absent.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import warmstart

from bot.content.corpus import Corpus, Point, load_corpus
from bot.content.fidelity import check_corpus
from bot.content.sources import Sources, numbers, words
from conftest import CONTENT_DIR, ROOT

SEEDS = Path(os.environ.get("SCR_SOURCES_DIR") or os.environ.get("SCR_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed briefings not found at {SEEDS} (set SCR_SOURCES_DIR)")


@pytest.fixture(scope="module")
def sources() -> Sources:
    return Sources(SEEDS)


def problems(corpus: Corpus, sources: Sources, check: str) -> str:
    return "\n".join(str(p) for p in check_corpus(corpus, sources, [check]).problems)


# ----- the shipped content passes every check ----------------------------------------------------
def test_every_number_in_a_point_appears_in_its_cited_section(corpus: Corpus, sources: Sources) -> None:
    assert not problems(corpus, sources, "numbers")


def test_every_quote_is_in_its_cited_section_word_for_word(corpus: Corpus, sources: Sources) -> None:
    assert not problems(corpus, sources, "quotes")


def test_every_heading_in_the_map_exists_in_its_briefing(corpus: Corpus, sources: Sources) -> None:
    assert not problems(corpus, sources, "headings")
    assert [b.id for b in corpus.briefings.values() if not b.local] == check_corpus(corpus, sources, ["headings"]).checked


def test_every_page_reference_is_one_the_briefing_gives(corpus: Corpus, sources: Sources) -> None:
    assert not problems(corpus, sources, "pages")


def test_quotes_are_marked_as_quotes_and_not_hidden_in_prose(corpus: Corpus, sources: Sources) -> None:
    """Long verbatim runs, or sentences made of the briefing's phrases, outside the `quote` field would be
    unmarked quotation: points are in our own words."""
    assert not problems(corpus, sources, "verbatim")


def test_every_section_term_occurs_in_its_cited_section(corpus: Corpus, sources: Sources) -> None:
    assert not problems(corpus, sources, "terms")


# ----- sections are cut where the briefing puts them ------------------------------------------------
def test_a_section_is_its_own_text_not_the_whole_briefing(corpus: Corpus, sources: Sources) -> None:
    health = corpus.briefings["health-2011-14"]
    suicide = sources.section_text(health, "Recognising risk and vulnerability: Groups of children at particular risk > Adolescents > Suicide")
    assert suicide is not None
    assert "In all but two of the 17 suicide cases" in suicide
    # the two-column extraction printed the suicide findings' last paragraph after the CSE heading: the window keeps it
    assert "Almost half the SCRs recounted instances of the young person going missing" in suicide
    # ... but the SUDI figures several sections earlier are not in it
    assert "31" in numbers(sources.text(health).whole()) and "31" not in numbers(suicide)


def test_side_by_side_headings_share_their_interleaved_text(corpus: Corpus, sources: Sources) -> None:
    health = corpus.briefings["health-2011-14"]
    risk = sources.section_text(health, "Recognising risk and vulnerability > Parental risk factors and cumulative harm")
    assert risk is not None and "cumulative levels of risk the more are present (p77)" in risk


def test_a_source_text_replaced_or_edited_is_cut_from_its_new_text(corpus: Corpus) -> None:
    """A source text remembers the sections it has cut (the checks ask for each one for every point and check that
    cites it), but a copy with another text (``content terms`` drops a briefing's reading list that way) and a text
    edited in place are cut from their own words."""
    health = corpus.briefings["health-2011-14"]
    src = Sources(SEEDS).text(health)  # (its own Sources: the module's is shared, and this one is edited)
    assert src is not None
    path = "Recognising risk and vulnerability: Groups of children at particular risk > Adolescents > Suicide"
    full, whole = src.section(path), src.whole()
    later = "Almost half the SCRs recounted instances of the young person going missing"
    assert full is not None and later in full
    start = src.spans[path][0]
    shorter = src.text[: start + 200]
    copy = dataclasses.replace(src, text=shorter)
    cut = copy.section(path)
    assert cut is not None and len(cut) < len(full) and later not in cut
    assert copy.whole() == " ".join(shorter.split()) != whole
    src.text = shorter
    assert (src.section(path), src.whole()) == (cut, copy.whole())


def test_repeated_sub_headings_are_told_apart(corpus: Corpus, sources: Sources) -> None:
    research = corpus.briefings["research-2011-14"]
    finding = sources.section_text(research, "Key findings > Assessments", window=0)
    rec = sources.section_text(research, "Key recommendations for policy and practice > Assessments", window=0)
    assert finding is not None and rec is not None
    assert "saw assessments as a" in finding and "saw assessments as a" not in rec
    assert "ongoing process and include all information" in rec and "ongoing process and include all information" not in finding


def test_paragraphs_printed_under_another_heading_belong_to_their_own_section(corpus: Corpus, sources: Sources) -> None:
    research = corpus.briefings["research-2011-14"]
    uncertainty = sources.section_text(research, "Key recommendations for policy and practice > Dealing with uncertainty "
                                                 "and poor engagement")  # fmt: skip
    assert uncertainty is not None and "Unsubstantiated concerns, retracted allegations" in uncertainty
    assert "'was not brought'" in uncertainty  # the whole moved paragraph, to its end


def test_content_check_names_the_line_of_a_moved_paragraph_it_cannot_find(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    briefings = content / "briefings.yaml"
    text = briefings.read_text()
    assert 'elsewhere: ["Unsubstantiated concerns, retracted allegations"]' in text
    briefings.write_text(text.replace('["Unsubstantiated concerns, retracted allegations"]', '["Words that are nowhere"]'))
    line = next(i for i, row in enumerate(briefings.read_text().splitlines(), 1) if "Words that are nowhere" in row)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCR_")} | {"SCR_CONTENT_DIR": str(content)}
    result = warmstart.run([sys.executable, "-m", "bot", "content", "check", "--sources", str(SEEDS)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)  # fmt: skip
    assert result.returncode == 1
    assert (f"{briefings}:{line}: research-2011-14: 'Dealing with uncertainty and poor engagement': the paragraph "
            "opening 'Words that are nowhere' is not in the briefing's text") in result.stderr


def test_words_ignore_punctuation_quotes_and_broken_ligatures() -> None:
    assert words("o\ufffden di\ufffd cult, ‘staff’") == words("often difficult 'staff'")
    assert words("children’s social-care") == words("childrens social care")


# ----- content check rejects what a curator might get wrong ------------------------------------------
BASE = """\
  - id: {id}
    title: {title}
    summary: {summary}
    key_messages: [One message of our own., Another message of our own.]
    questions: ["What do we notice?", "What would help?"]
    themes: [suicide]
    sectors: [health]
    content_note: Refers to suicide.
    source: {{briefing: health-2011-14, section: "{section}", pages: [{pages}]}}
"""
SUICIDE = "Recognising risk and vulnerability: Groups of children at particular risk > Adolescents > Suicide"
SUPERVISION = "Supervision, information sharing and multi-agency coordination > Supervision and training"


def local_point(id: str, title: str = "A point of our own", summary: str = "Said in our own words.",
                section: str = SUICIDE, pages: str = "", quote: str | None = None) -> str:  # fmt: skip
    text = BASE.format(id=id, title=title, summary=summary, section=section, pages=pages)
    return text + (f"    quote: {quote}\n" if quote else "") + "    kind: practice\n"


def content_check(tmp_path: Path, points: str, *extra: str) -> subprocess.CompletedProcess[str]:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    (content / "points" / "mine.yaml").write_text("points:\n" + points)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    return warmstart.run([sys.executable, "-m", "bot", "content", "check", *extra], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)  # fmt: skip


def test_content_check_with_sources_passes_on_shipped_content() -> None:
    result = warmstart.run([sys.executable, "-m", "bot", "content", "check", "--sources", str(SEEDS)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={k: v for k, v in os.environ.items() if not k.startswith("SCR_")})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "fidelity OK" in result.stdout and "NOT checked" not in result.stdout


def test_content_check_rejects_an_invented_quote(tmp_path: Path) -> None:
    result = content_check(tmp_path, local_point("mine-quote", quote='"suicide is always predictable by practitioners"'),
                           "--sources", str(SEEDS))  # fmt: skip
    assert result.returncode == 1
    mine = tmp_path / "content" / "points" / "mine.yaml"
    assert f"{mine}:11: mine-quote: quote is not word for word in the cited section" in result.stderr
    assert "Traceback" not in result.stderr


def test_content_check_rejects_a_wrong_number(tmp_path: Path) -> None:
    result = content_check(tmp_path, local_point("mine-number", summary="In all but two of the 71 suicide cases the young "
                                                 "person was known to mental health services."),  # fmt: skip
                           "--sources", str(SEEDS))
    assert result.returncode == 1
    assert f"{tmp_path / 'content' / 'points' / 'mine.yaml'}:4: mine-number: summary: 71 is not in the cited section" in result.stderr


def test_content_check_rejects_a_number_from_another_section(tmp_path: Path, sources: Sources) -> None:
    """31 SUDI cases is true of the health briefing, but not of its section on supervision and training."""
    health = load_corpus(CONTENT_DIR).briefings["health-2011-14"]
    assert "31" in numbers(sources.section_text(health, "Recognising risk and vulnerability: Groups of children at "
                                                        "particular risk > Sudden unexpected deaths in infancy (SUDI) and co-sleeping"))  # fmt: skip
    assert "31" not in numbers(sources.section_text(health, SUPERVISION))
    result = content_check(tmp_path, local_point("mine-elsewhere", summary="Supervision was discussed in 31 of the reviews.",
                                                 section=SUPERVISION), "--sources", str(SEEDS))  # fmt: skip
    assert result.returncode == 1
    assert "mine.yaml:4: mine-elsewhere: summary: 31 is not in the cited section" in result.stderr


def test_content_check_rejects_a_page_the_briefing_does_not_give(tmp_path: Path) -> None:
    result = content_check(tmp_path, local_point("mine-page", pages="p999, p107"), "--sources", str(SEEDS))
    assert result.returncode == 1
    mine = tmp_path / "content" / "points" / "mine.yaml"
    assert f"{mine}:10: mine-page: page 'p999' is not given in the cited section" in result.stderr
    assert "mine-page: page 'p107'" not in result.stderr  # the suicide section does give p107


def test_content_check_finds_a_copy_that_punctuation_would_hide(tmp_path: Path) -> None:
    copied = ("Opportunities for prevention did arise, at different times, for health and other practitioners, "
              "but in order to adequately protect against suicides multi-agency work is required.")  # fmt: skip
    result = content_check(tmp_path, local_point("mine-copy", summary=copied), "--sources", str(SEEDS))
    assert result.returncode == 1
    assert "mine.yaml:4: mine-copy: summary: 15+ words copied from the briefing" in result.stderr


def test_content_check_without_sources_says_fidelity_was_not_checked(tmp_path: Path) -> None:
    result = content_check(tmp_path, local_point("mine-quote", quote='"an invented quotation"'))
    assert result.returncode == 0, result.stderr
    assert "fidelity NOT checked" in result.stdout
    assert "--sources DIR" in result.stdout and "SCR_SOURCES_DIR" in result.stdout
    assert "http://seriouscasereviews.rip.org.uk/resources" in result.stdout  # where to get the texts


def test_content_check_reads_the_sources_folder_from_the_environment(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    (content / "points" / "mine.yaml").write_text("points:\n" + local_point("mine-quote", quote='"an invented quotation"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SCR_CONTENT_DIR=str(content), SCR_SOURCES_DIR=str(SEEDS))
    result = warmstart.run([sys.executable, "-m", "bot", "content", "check"], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert "mine-quote: quote is not word for word" in result.stderr


def test_content_check_fails_when_a_briefing_text_is_missing_from_the_folder(tmp_path: Path) -> None:
    partial = tmp_path / "seeds"
    partial.mkdir()
    for f in SEEDS.glob("*.txt"):
        if f.name != "health-2011-14.txt":
            shutil.copy(f, partial / f.name)
    result = content_check(tmp_path, "", "--sources", str(partial))
    assert result.returncode == 1
    assert "briefings.yaml:" in result.stderr and "health-2011-14: source text 'health-2011-14.txt' not found" in result.stderr


@pytest.mark.skipif("terms" not in Point.model_fields, reason="points have no `terms` field yet")
def test_content_check_rejects_a_term_the_section_does_not_mention(tmp_path: Path) -> None:
    result = content_check(tmp_path, local_point("mine-terms") + "    terms: [CAMHS, fabricated illness]\n",
                           "--sources", str(SEEDS))  # fmt: skip
    assert result.returncode == 1
    assert "mine-terms: term 'fabricated illness' does not occur in the cited section" in result.stderr
    assert "'CAMHS'" not in result.stderr


def test_a_long_quote_is_rejected(tmp_path: Path) -> None:
    quote = textwrap.shorten("x " * 50, 400)
    result = content_check(tmp_path, local_point("mine-long", quote=f'"{quote}"'), "--sources", str(SEEDS))
    assert result.returncode == 1
    assert "mine-long: quote is 50 words; keep quotes short" in result.stderr
