"""Content validation: curators get `file:line: message` for every mistake, and nothing half-loads."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.content.corpus import Corpus, load_corpus
from bot.content.yamlfile import ProblemsError
from conftest import CONTENT_DIR

GOOD_POINT = """\
  - id: local-good
    title: A locally written point
    summary: A short summary.
    key_messages: [One message., Another message.]
    questions: ["What do we notice?", "What would help?"]
    themes: [neglect]
    sectors: [health]
    source: {briefing: health-2011-14, section: "Introduction"}
    kind: practice
"""


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


def problems_for(content: Path, yaml_text: str, name: str = "local.yaml") -> list[str]:
    path = content / "points" / name
    path.write_text(textwrap.dedent(yaml_text))
    with pytest.raises(ProblemsError) as err:
        load_corpus(content)
    return [str(p) for p in err.value.problems]


def test_authors_can_add_their_own_files(content: Path) -> None:
    (content / "points" / "local.yaml").write_text("points:\n" + GOOD_POINT)
    corpus = load_corpus(content)
    assert corpus.point("local-good") is not None
    assert len(corpus.points) == len(load_corpus(CONTENT_DIR).points) + 1


def test_unknown_theme_and_sector_name_the_line(content: Path) -> None:
    text = "points:\n" + GOOD_POINT.replace("themes: [neglect]", "themes: [neglect, nonsense]").replace(
        "sectors: [health]", "sectors: [plumbing]"
    )
    found = problems_for(content, text)
    path = content / "points" / "local.yaml"
    assert f"{path}:7: unknown theme 'nonsense'" in found
    assert f"{path}:8: unknown sector 'plumbing'" in found


def test_duplicate_id_points_at_both_places(content: Path) -> None:
    found = problems_for(content, "points:\n" + GOOD_POINT.replace("local-good", "p14-what-is-an-scr"))
    assert len(found) == 1
    assert "duplicate point id 'p14-what-is-an-scr'" in found[0]
    assert "police-2011-14.yaml" in found[0]  # says where the first one is


def test_missing_field_over_long_title_and_empty_questions(content: Path) -> None:
    text = "points:\n" + GOOD_POINT.replace("A locally written point", "x" * 151).replace(
        'questions: ["What do we notice?", "What would help?"]', "questions: []"
    ).replace("    summary: A short summary.\n", "")
    found = "\n".join(problems_for(content, text))
    path = content / "points" / "local.yaml"
    assert f"{path}:2: summary: is required" in found
    assert f"{path}:3: title: String should have at most 150 characters" in found
    assert f"{path}:5: questions: List should have at least 2 items" in found


def test_unknown_field(content: Path) -> None:
    found = problems_for(content, "points:\n" + GOOD_POINT + "    colour: red\n")
    assert found == [f"{content / 'points' / 'local.yaml'}:11: colour: is not a known field"]


def test_unknown_section_heading(content: Path) -> None:
    found = problems_for(content, "points:\n" + GOOD_POINT.replace('section: "Introduction"', 'section: "No such heading"'))
    assert found == [
        f"{content / 'points' / 'local.yaml'}:9: section 'No such heading' is not a heading of briefing 'health-2011-14'"
    ]


def test_yaml_syntax_error_names_file_and_line(content: Path) -> None:
    found = problems_for(content, "points:\n  - id: x\n    title: 'unclosed\n    summary: y\n")
    assert len(found) == 1
    assert found[0].startswith(f"{content / 'points' / 'local.yaml'}:")
    assert "YAML syntax error" in found[0]


def test_all_problems_are_reported_together(content: Path) -> None:
    (content / "points" / "a.yaml").write_text("points:\n" + GOOD_POINT.replace("local-good", "a1").replace("[neglect]", "[zz]"))
    found = problems_for(content, "points:\n" + GOOD_POINT.replace("local-good", "b1").replace("[health]", "[yy]"), "b.yaml")
    assert any("a.yaml" in p for p in found) and any("b.yaml" in p for p in found)


def test_coverage_every_heading_has_a_point(corpus: Corpus) -> None:
    assert corpus.uncovered() == []


def test_coverage_detects_a_heading_with_no_point(content: Path) -> None:
    path = content / "points" / "education-2011-14.yaml"
    text = path.read_text().replace('section: "Awareness and understanding > Home education"', 'section: "Introduction"')
    path.write_text(text)
    assert ("education-2011-14", "Awareness and understanding > Home education") in load_corpus(content).uncovered()


def test_corpus_size_and_taxonomy(corpus: Corpus) -> None:
    assert len(corpus.points) >= 80
    assert 20 <= len(corpus.themes) <= 30
    assert {"police", "health", "education", "social-care", "multi-agency"} <= set(corpus.sectors)
    empty = [t for t in corpus.themes if not corpus.points_for(theme=t)]
    assert not empty, f"themes with no points: {empty}"
    for briefing in corpus.briefings.values():
        assert any(p.source.briefing == briefing.id for p in corpus.points)


def test_sensitive_points_carry_a_content_note(corpus: Corpus) -> None:
    """Trauma-informed delivery: death, sexual abuse, suicide and self-harm are flagged before the detail."""
    sensitive = {"suicide", "csa", "cse", "sudi", "nai"}
    missing = [p.id for p in corpus.points if sensitive & set(p.themes) and not p.content_note]
    assert not missing, f"points needing a content note: {missing}"


def test_points_that_speak_of_death_abuse_or_suicide_carry_a_content_note(corpus: Corpus) -> None:
    """Trauma-informed delivery, judged by what a point says (not only its themes)."""
    import re

    sensitive = re.compile(r"\b(died|death|deaths|dead|killed|suicides?|self-harm|self harm|sexual abuse|sexually|"
                           r"raped?|fatal|filicide|homicide)\b", re.IGNORECASE)  # fmt: skip
    missing = []
    for p in corpus.points:
        text = " ".join([p.title, p.summary, *p.key_messages, p.quote or ""]).replace("Child Death Overview Panel", "")
        if sensitive.search(text) and not p.content_note:
            missing.append(p.id)
    assert not missing, f"points needing a content note: {missing}"


def test_every_point_says_what_kind_of_learning_it_is(content: Path) -> None:
    missing = problems_for(content, "points:\n" + GOOD_POINT.replace("    kind: practice\n", ""))
    assert missing == [f"{content / 'points' / 'local.yaml'}:2: kind: is required"]
    wrong = problems_for(content, "points:\n" + GOOD_POINT.replace("kind: practice", "kind: trivia"))
    assert len(wrong) == 1 and ":10: kind: Input should be 'practice', 'key-data' or 'background'" in wrong[0]


def test_background_is_what_an_scr_is_who_a_briefing_is_for_and_method(corpus: Corpus) -> None:
    kinds = {p.id: p.kind for p in corpus.points}
    assert kinds["p19-what-was-an-scr"] == kinds["h14-for-all-health-practitioners"] == kinds["r14-method"] == "background"
    assert kinds["p19-data-neglect"] == "key-data" and kinds["h14-was-not-brought"] == "practice"
    assert sum(k == "practice" for k in kinds.values()) > len(kinds) / 2
