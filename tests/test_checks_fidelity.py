"""Knowledge checks are held to the same fidelity checks as the learning points they cite.

Each check's `evidence` (the briefing's words that make the right answer right) is word for word in its
point's cited section, the right answer's numbers are in that evidence, every number in the question,
answer and explanation is in the section, nothing else is copied, and the checks cover every briefing.
These are ``bot.content.fidelity``'s checks, the ones ``scr-bot content check --sources`` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import warmstart

from bot.content.corpus import Corpus
from bot.content.fidelity import check_corpus
from bot.content.sources import NUMBER, Sources, normalise
from conftest import CONTENT_DIR, ROOT

SEEDS = Path(os.environ.get("SCR_SOURCES_DIR") or os.environ.get("SCR_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed briefings not found at {SEEDS} (set SCR_SOURCES_DIR)")


def test_there_are_at_least_60_checks_across_every_briefing(corpus: Corpus) -> None:
    assert len(corpus.checks) >= 60
    assert {corpus.point(c.point).source.briefing for c in corpus.checks} == set(corpus.briefings)


@needs_seeds
def test_every_check_is_faithful_to_its_points_cited_section(corpus: Corpus) -> None:
    report = check_corpus(corpus, Sources(SEEDS), ["checks"])
    assert not report.problems, "\n".join(str(p) for p in report.problems)
    assert len(report.checked) == len(corpus.briefings)


def _value(number: str) -> float:
    return float(number.replace(",", ""))


def test_distractors_are_clearly_wrong_not_tricks(corpus: Corpus) -> None:
    """No trick questions: a distractor never restates the answer, and a numeric one is far from the right figure
    (at least a quarter away), so a reader who remembers the point roughly still gets it right."""
    problems = []
    for check in corpus.checks:
        answer_numbers = NUMBER.findall(check.answer)
        for d in check.distractors:
            if normalise(d).casefold() == normalise(check.answer).casefold():
                problems.append(f"{check.id}: distractor {d!r} restates the answer")
            numbers = NUMBER.findall(d)
            if answer_numbers and numbers:  # the headline figures (shared context such as "of 166" may repeat)
                a, b = _value(answer_numbers[0]), _value(numbers[0])
                if abs(a - b) < 0.25 * max(a, b):
                    problems.append(f"{check.id}: distractor {d!r} is too close to the answer's {a:g}")
    assert not problems, "\n".join(problems)


# ----- a curator's mistakes are caught, with file:line -------------------------------------------
BAD = """\
checks:
  - id: k-mine
    point: p19-data-social-care
    question: What share of children had never been known to children's social care?
    answer: {answer}
    distractors: [Almost all of them, None of them]
    explanation: {explanation}
    evidence: {evidence}
"""


def content_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    (content / "checks" / "mine.yaml").write_text(textwrap.dedent(text))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    return warmstart.run([sys.executable, "-m", "bot", "content", "check", "--sources", str(SEEDS)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip


@needs_seeds
def test_evidence_from_another_section_and_invented_numbers_are_rejected(tmp_path: Path) -> None:
    # True of the 2017-19 briefing, but said in its section on disability, not the one this point cites.
    text = BAD.format(answer="One in four (25%)", explanation="Nearly a third (31%) were never known.",
                      evidence="One in four (25%) children at the centre of the SCRs analysed in depth")
    result = content_check(tmp_path, text)
    mine = tmp_path / "content" / "checks" / "mine.yaml"
    assert result.returncode == 1, result.stdout
    assert f"{mine}:8: k-mine: evidence is not word for word in the cited section" in result.stderr
    assert f"{mine}:7: k-mine: explanation: 31 is not in the cited section" in result.stderr
    assert "Traceback" not in result.stderr


@needs_seeds
def test_an_answer_whose_figure_is_not_in_its_evidence_is_rejected(tmp_path: Path) -> None:
    text = BAD.format(answer="About one in three (33%)", explanation="Many had never been known.",
                      evidence="had never been known to children's social care")
    result = content_check(tmp_path, text)
    assert result.returncode == 1
    assert "mine.yaml:5: k-mine: the answer's 33 is not in its evidence" in result.stderr
