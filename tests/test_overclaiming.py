"""Over-claiming: the warnings of ``scr-bot content check --sources`` (bot.fidelity).

A point must keep the hedges ("sometimes", "may", "suggests", "one proposal") and the population ("a child with a
learning disability", "some children") of the section it cites, and a knowledge check must lean on a point that says
its answer. Each warning is shown to fire on a small crafted corpus (a local briefing whose section text we write),
and the shipped content is shown to have none.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import warmstart

from bot.content.corpus import Corpus, load_corpus
from bot.content.fidelity import OVERCLAIM_ALLOWED, check_corpus, claims, paired_claims
from bot.content.sources import Sources
from conftest import CONTENT_DIR, ROOT

SEEDS = Path(os.environ.get("SCR_SOURCES_DIR") or os.environ.get("SCR_SEEDS_DIR") or ROOT.parent / "shared" / "seeds")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed briefings not found at {SEEDS} (set SCR_SOURCES_DIR)")

SECTION = (
    "Sometimes the early help assessment was used inappropriately for problems like sexual abuse or neglect when a "
    "referral should have been made to children's social care. It was often during missing episodes that young "
    "people were most vulnerable to exploitation and harm. Professionals should not assume that challenging "
    "behaviour in a child with a learning disability is due to their underlying condition. An alternative to the "
    "default position would be to presume that information bearing on child welfare should be shared with partners. "
    "Some children in these reviews had been excluded from school before the incident."
)

BRIEFING = f"""\
briefings:
  - id: anytown
    local: true
    title: "Anytown test briefing (made up for the tests)"
    short_title: "Anytown test briefing"
    authors: "Anytown test partnership"
    publisher: "Anytown test partnership"
    year: 2026
    period: "2025-26"
    sector: multi-agency
    page_refs: none
    sections:
      - heading: Findings
        text: "{SECTION}"
"""


def _point(pid: str, title: str, summary: str, messages: list[str]) -> str:
    km = "".join(f'      - "{m}"\n' for m in messages)
    return (f"  - id: {pid}\n    kind: practice\n    title: {title}\n    summary: \"{summary}\"\n    key_messages:\n{km}"
            f"    questions: [\"What do we notice?\", \"What would help?\"]\n    themes: [case-reviews]\n"
            f"    sectors: [multi-agency]\n    source: {{briefing: anytown, section: Findings}}\n")  # fmt: skip


FAITHFUL = _point(
    "any-faithful", "Early help was sometimes used where a referral was needed",
    "In some reviews an early help assessment was used for sexual abuse or neglect when a referral to children's "
    "social care should have been made.",
    ["Young people were often most vulnerable to exploitation while missing.",
     "One proposal is to presume that information bearing on child welfare should be shared."])


def _corpus(tmp_path: Path, points: str, checks: str = "", section: str = SECTION) -> Path:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    local = content / "local"
    local.mkdir(exist_ok=True)
    briefing = BRIEFING.replace(SECTION, section)
    (local / "anytown.yaml").write_text(briefing + "points:\n" + points + (f"checks:\n{checks}" if checks else ""))
    return content


def _warnings(tmp_path: Path, points: str, checks: str = "", only: tuple[str, ...] = (), section: str = SECTION) -> list[str]:
    corpus = load_corpus(_corpus(tmp_path, points, checks, section))
    report = check_corpus(corpus, Sources(None), only or ["hedges", "populations", "check-points"])
    return [str(w) for w in report.warnings]


# ----- the pairing ---------------------------------------------------------------------------------------------
def test_a_point_sentence_pairs_with_the_section_sentence_that_makes_the_same_claim() -> None:
    section = claims(SECTION)
    paired = paired_claims("Young people were most vulnerable to exploitation while missing.", section)
    assert paired and paired[0].startswith("It was often during missing episodes")
    assert paired_claims("The weather was fine on the day of the visit.", section) == []


# ----- each warning fires on a crafted corpus, and names file:line -------------------------------------------------
def test_an_edited_point_or_section_is_judged_on_its_new_words_in_the_same_process(tmp_path: Path) -> None:
    """The checks remember what they work out from a text (its claims, the claims a sentence pairs with, the hedges
    near them), because a run compares thousands of sentences: what they remember must follow the words, so a point
    edited after a check, or a section whose text changed, is judged again, not recalled by its id."""
    dropped = _point("any-faithful", "Early help was sometimes used where a referral was needed",
                     "In some reviews an early help assessment was used for sexual abuse or neglect when a referral to "
                     "children's social care should have been made.",
                     ["Young people were most vulnerable to exploitation while missing.",
                      "One proposal is to presume that information bearing on child welfare should be shared."])  # fmt: skip
    assert _warnings(tmp_path / "faithful", FAITHFUL) == []
    found = _warnings(tmp_path / "edited", dropped)
    assert len(found) == 1 and "key_messages[0]: drops the section's hedge ('often')" in found[0], found
    assert _warnings(tmp_path / "faithful-again", FAITHFUL) == []
    # the section edited: without its "often" the edited point drops nothing
    assert _warnings(tmp_path / "section-edited", dropped, section=SECTION.replace("It was often during", "It was during")) == []
    assert len(_warnings(tmp_path / "edited-again", dropped)) == 1


def test_a_faithful_point_has_no_warnings(tmp_path: Path) -> None:
    assert _warnings(tmp_path, FAITHFUL) == []


def test_a_hedge_turned_into_a_rule_is_a_warning(tmp_path: Path) -> None:
    """The e14-suicide-caf case: 'Sometimes ... used inappropriately ... when a referral should have been made'
    became 'is not the route for suspected sexual abuse or neglect'."""
    point = _point("any-rule", "Early help and referrals", "A summary of our own.",
                   ["An early help assessment is not the route for suspected sexual abuse or neglect; these call for a "
                    "referral to children's social care.", "Another message of our own."])  # fmt: skip
    found = _warnings(tmp_path, point, only=("hedges",))
    assert len(found) == 1, found
    mine = tmp_path / "content" / "local" / "anytown.yaml"
    line = next(i for i, row in enumerate(mine.read_text().splitlines(), 1) if "is not the route" in row)
    assert found[0].startswith(f"{mine}:{line}: any-rule: warning: key_messages[0]: states as 'is not the route'")
    assert "'sometimes'" in found[0]


def test_a_dropped_often_is_a_warning(tmp_path: Path) -> None:
    point = _point("any-often", "Missing episodes", "A summary of our own.",
                   ["Young people were most vulnerable to exploitation while missing.", "Another message of our own."])
    found = _warnings(tmp_path, point, only=("hedges",))
    assert len(found) == 1 and "drops the section's hedge ('often')" in found[0], found


def test_a_hedge_is_not_read_across_a_superlative_taken_out(tmp_path: Path) -> None:
    """"the most" is a superlative, not a scope hedge, so it is taken out before hedges are looked for; the words
    either side must not then read as one ("at the most times" is not "at times", a hedge that would keep 'often')."""
    point = _point("any-most", "Missing episodes", "A summary of our own.",
                   ["Young people were at the most times vulnerable to exploitation while missing.",
                    "Another message of our own."])  # fmt: skip
    found = _warnings(tmp_path, point, only=("hedges",))
    assert len(found) == 1 and "drops the section's hedge ('often')" in found[0], found


def test_an_each_where_the_section_says_often_is_a_warning(tmp_path: Path) -> None:
    point = _point("any-each", "Missing episodes", "A summary of our own.",
                   ["Each missing episode left young people most vulnerable to exploitation.", "Another of our own."])
    found = _warnings(tmp_path, point, only=("hedges",))
    assert len(found) == 1 and "states as 'each'" in found[0], found


def test_a_proposal_titled_as_an_instruction_is_a_warning(tmp_path: Path) -> None:
    point = _point("any-proposal", "Presume that information bearing on child welfare should be shared",
                   "A summary of our own.", ["One message of our own.", "Another message of our own."])
    found = _warnings(tmp_path, point, only=("hedges",))
    assert len(found) == 1 and "title: drops the section's hedge" in found[0] and "would be" in found[0], found


def test_a_widened_population_is_a_warning(tmp_path: Path) -> None:
    """The p19-behaviour-as-communication case: 'a child with a learning disability' became 'a disabled child'."""
    point = _point("any-population", "Behaviour and disability", "A summary of our own.",
                   ["Do not assume that challenging behaviour in a disabled child is due to their underlying condition.",
                    "Another message of our own."])  # fmt: skip
    found = _warnings(tmp_path, point, only=("populations",))
    assert len(found) == 1 and "widens the section's population (a child with a learning disability)" in found[0]


def test_some_children_become_children_is_a_warning(tmp_path: Path) -> None:
    point = _point("any-some", "Exclusion", "A summary of our own.",
                   ["Children in these reviews had been excluded from school before the incident.", "Another of ours."])
    found = _warnings(tmp_path, point, only=("populations",))
    assert len(found) == 1 and "(some of them, not all)" in found[0], found


CHECK = """\
  - id: k-any
    point: {point}
    question: What was sometimes used when a referral should have been made?
    answer: An early help assessment
    distractors: [A court order, A school trip]
    explanation: In some reviews early help was used where a referral to social care was needed.
    evidence: Sometimes the early help assessment was used inappropriately for problems like sexual abuse or neglect
"""
UNRELATED = _point("any-unrelated", "Sharing with partners", "Information should travel quickly between partners.",
                   ["Say what the information means.", "Ask what the receiver needs."])


def test_a_check_linked_to_a_point_that_does_not_back_it_is_a_warning(tmp_path: Path) -> None:
    found = _warnings(tmp_path, FAITHFUL + UNRELATED, CHECK.format(point="any-unrelated"), only=("check-points",))
    assert len(found) == 1, found
    assert "k-any: warning: point any-unrelated does not back this check" in found[0]
    assert _warnings(tmp_path / "again", FAITHFUL + UNRELATED, CHECK.format(point="any-faithful"),
                     only=("check-points",)) == []  # fmt: skip


def test_a_reviewed_allow_list_entry_silences_only_its_own_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point = _point("any-often", "Missing episodes", "A summary of our own.",
                   ["Young people were most vulnerable to exploitation while missing.", "Another message of our own."])
    monkeypatch.setitem(OVERCLAIM_ALLOWED, ("any-often", "hedges", "summary"), "a different field")
    assert len(_warnings(tmp_path, point, only=("hedges",))) == 1
    monkeypatch.setitem(OVERCLAIM_ALLOWED, ("any-often", "hedges", "key_messages[0]"), "reviewed for this test")
    assert _warnings(tmp_path / "again", point, only=("hedges",)) == []


def test_content_check_exits_1_on_a_warning_and_says_so(tmp_path: Path) -> None:
    point = _point("any-often", "Missing episodes", "A summary of our own.",
                   ["Young people were most vulnerable to exploitation while missing.", "Another message of our own."])
    content = _corpus(tmp_path, point)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    args = [sys.executable, "-m", "bot", "content", "check"] + (["--sources", str(SEEDS)] if SEEDS.is_dir() else [])
    result = warmstart.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "any-often: warning: key_messages[0]: drops the section's hedge ('often')" in result.stderr
    assert "1 fidelity warning(s)" in result.stderr


# ----- shipped content ------------------------------------------------------------------------------------------
@needs_seeds
def test_shipped_content_has_no_overclaiming_warnings(corpus: Corpus) -> None:
    report = check_corpus(corpus, Sources(SEEDS), ["hedges", "populations", "check-points"])
    assert not report.warnings, "\n".join(str(w) for w in report.warnings)


def test_the_allow_list_is_small_and_every_entry_has_a_reason(corpus: Corpus) -> None:
    assert len(OVERCLAIM_ALLOWED) <= 10
    for (oid, kind, label), reason in OVERCLAIM_ALLOWED.items():
        assert oid in corpus.by_id or oid in corpus.check_by_id, oid
        assert kind in {"hedges", "populations", "check-points"} and label and len(reason) > 30
