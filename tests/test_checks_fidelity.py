"""Knowledge checks are faithful to the briefings, like the learning points they cite.

Every check's `evidence` is word for word in its briefing, the right answer's numbers are in that
evidence, every number in the question, answer and explanation is in the briefing, and the checks
cover the briefings broadly (at least 60, every briefing).
"""

from __future__ import annotations

import pytest
from test_content_fidelity import NUMBER, SEEDS, normalise, seed, seed_numbers

from bot.content import Corpus

pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed briefings not found at {SEEDS} (set SCR_SEEDS_DIR)")


def test_there_are_at_least_60_checks_across_every_briefing(corpus: Corpus) -> None:
    assert len(corpus.checks) >= 60
    briefings = {corpus.point(c.point).source.briefing for c in corpus.checks}
    assert briefings == set(corpus.briefings)


def test_every_checks_evidence_is_word_for_word_in_its_briefing(corpus: Corpus) -> None:
    problems = []
    for check in corpus.checks:
        briefing = corpus.briefings[corpus.point(check.point).source.briefing]
        if normalise(check.evidence).lower() not in normalise(seed(briefing.seed)).lower():
            problems.append(f"{check.id}: evidence not found in {briefing.seed}: {check.evidence!r}")
        if len(check.evidence.split()) > 40:
            problems.append(f"{check.id}: evidence is {len(check.evidence.split())} words; keep it short (<= 40)")
    assert not problems, "\n".join(problems)


def test_every_number_in_a_check_appears_in_its_briefing(corpus: Corpus) -> None:
    problems = []
    for check in corpus.checks:
        briefing = corpus.briefings[corpus.point(check.point).source.briefing]
        known = seed_numbers(briefing.seed)
        for field, text in (("question", check.question), ("answer", check.answer), ("explanation", check.explanation)):
            for number in NUMBER.findall(text):
                if number not in known:
                    problems.append(f"{check.id}.{field}: {number} is not in {briefing.seed}")
    assert not problems, "\n".join(problems)


def test_the_right_answers_numbers_are_in_its_evidence(corpus: Corpus) -> None:
    problems = []
    for check in corpus.checks:
        evidence = NUMBER.findall(check.evidence)
        for number in NUMBER.findall(check.answer):
            if number not in evidence:
                problems.append(f"{check.id}: the answer's {number} is not in its evidence")
    assert not problems, "\n".join(problems)


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
