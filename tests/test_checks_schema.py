"""Knowledge-check YAML is validated like the points: every mistake as `file:line: message`, nothing half-loads."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.content.corpus import load_corpus
from bot.content.yamlfile import ProblemsError
from conftest import CONTENT_DIR

GOOD = """\
checks:
  - id: k-local
    point: h14-was-not-brought
    question: What does WNB stand for?
    answer: Was not brought
    distractors: [Went to a new borough, Was not booked]
    explanation: The child depends on carers to bring them.
    evidence: Was Not Brought
"""


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


def problems_for(content: Path, text: str) -> tuple[Path, list[str]]:
    path = content / "checks" / "local.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ProblemsError) as err:
        load_corpus(content)
    return path, [str(p) for p in err.value.problems]


def test_a_curator_can_add_a_checks_file(content: Path) -> None:
    (content / "checks" / "local.yaml").write_text(GOOD)
    corpus = load_corpus(content)
    check = corpus.check("k-local")
    assert check is not None and check in corpus.checks_for("h14-was-not-brought")
    assert sorted(check.options) == sorted(["Was not brought", "Went to a new borough", "Was not booked"])


def test_mistakes_name_file_and_line(content: Path) -> None:
    path, found = problems_for(content, GOOD.replace("point: h14-was-not-brought", "point: no-such-point"))
    assert found == [f"{path}:3: unknown point 'no-such-point'"]
    path, found = problems_for(content, GOOD.replace("What does WNB stand for?", "What does WNB stand for"))
    assert found == [f"{path}:4: question: a check's question should end with '?'"]


def test_answer_among_distractors_and_too_few_distractors_are_refused(content: Path) -> None:
    path, found = problems_for(content, GOOD.replace("[Went to a new borough, Was not booked]", "[Was not brought, X]"))
    assert f"{path}:5: the answer is also listed as a distractor" in found
    path, found = problems_for(content, GOOD.replace("[Went to a new borough, Was not booked]", "[Only one]"))
    assert any(p.startswith(f"{path}:6: distractors:") for p in found)


def test_missing_evidence_and_duplicate_ids_are_reported(content: Path) -> None:
    path, found = problems_for(content, GOOD.replace("    evidence: Was Not Brought\n", ""))
    assert found == [f"{path}:2: evidence: is required"]
    path, found = problems_for(content, GOOD + GOOD.split("\n", 1)[1])
    assert found == [f"{path}:9: duplicate check id 'k-local' (first defined at {path}:2)"]


def test_options_are_shuffled_per_check_but_stable(corpus) -> None:  # noqa: ANN001
    firsts = [c.options.index(c.answer) for c in corpus.checks]
    assert len(set(firsts)) > 1  # the right answer is not always in the same place
    assert [c.options for c in corpus.checks] == [c.options for c in load_corpus(CONTENT_DIR).checks]
