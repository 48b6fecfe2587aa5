"""The safety net: a live concern about a child is answered first with how to act now.

Table-driven (tests/safety_table.py): both error rates are printed and asserted. Every live-concern
lookup must get the safety net first; ordinary learning talk and topic lookups must (almost) never.
The content file is validated like all content, with file:line errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import warmstart
from safety_table import LIVE_LOOKUPS, LIVE_REFLECTIONS, NOT_LIVE

from blockkit import assert_valid_message, dumps
from bot.content.corpus import Corpus, load_corpus
from bot.content.yamlfile import ProblemsError
from bot.ops.textrender import render
from bot.search import safety
from bot.search.lookup import Lookup
from bot.slack import blocks
from conftest import CONTENT_DIR, ROOT

MAX_FALSE_POSITIVES = 0.05


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def test_the_table_is_big_enough_to_mean_something() -> None:
    assert len(LIVE_LOOKUPS) >= 25
    assert len(LIVE_LOOKUPS) + len(LIVE_REFLECTIONS) + len(NOT_LIVE) >= 100
    assert len(set(LIVE_LOOKUPS + LIVE_REFLECTIONS + NOT_LIVE)) == len(LIVE_LOOKUPS + LIVE_REFLECTIONS + NOT_LIVE)


def test_error_rates_over_the_table(lookup: Lookup) -> None:
    """Every live-concern lookup is answered with the safety net first; false alarms stay under 5%."""
    missed = [s for s in LIVE_LOOKUPS if lookup.answer(s).safety is None]
    missed_reflections = [s for s in LIVE_REFLECTIONS if safety.classify(s) is None]
    false_alarms = [(s, v) for s in NOT_LIVE if (v := safety.classify(s)) is not None]
    fp_rate = len(false_alarms) / len(NOT_LIVE)
    print(f"\nsafety net: missed {len(missed)}/{len(LIVE_LOOKUPS)} live lookups "
          f"({len(missed) / len(LIVE_LOOKUPS):.1%}), {len(missed_reflections)}/{len(LIVE_REFLECTIONS)} live reflections; "
          f"false positives {len(false_alarms)}/{len(NOT_LIVE)} ({fp_rate:.1%})")  # fmt: skip
    for s, v in false_alarms:
        print(f"  false positive: {s!r} ({v.cue}: {v.matched!r})")
    assert missed == [], missed
    assert missed_reflections == [], missed_reflections
    assert fp_rate <= MAX_FALSE_POSITIVES, false_alarms


@pytest.mark.parametrize("text", LIVE_LOOKUPS[:3] + ["a pupil told me her stepdad hurts her what do I do"])
def test_the_verdict_says_which_words_matched(text: str) -> None:
    verdict = safety.classify(text)
    assert verdict is not None and verdict.matched and verdict.matched in safety.normalise(text)


def test_safety_block_comes_before_any_learning_in_slack(lookup: Lookup, corpus: Corpus) -> None:
    answer = lookup.answer("a pupil told me her stepdad hurts her what do I do")
    msg = blocks.message(blocks.answer_blocks(corpus, answer, contact="Sam Patel, DSL, ext. 2134 <!channel>"),
                         blocks.fallback_text(answer))  # fmt: skip
    assert_valid_message(msg)
    first = msg["blocks"][0]
    assert first["type"] == "header" and first["text"]["text"] == corpus.safety.title
    text = dumps(msg)
    assert text.index("999") < text.index("result 1 of")  # how to act now, then learning
    assert "Parental mental health problems are not a risk in themselves" not in text
    for step in corpus.safety.steps:
        assert blocks.escape(step) in text
    assert corpus.safety.source.url in text and "HM Government, 2015" in text
    assert "Sam Patel, DSL, ext. 2134 &lt;!channel&gt;" in text  # the contact line, escaped
    assert msg["text"] == corpus.safety.title
    # The learning that follows is on disclosure, listening and the voice of the child.
    chosen = corpus.safety.learning

    def on_topic(p: object) -> bool:
        own = " ".join([p.title, p.summary, *p.key_messages]).lower()  # type: ignore[attr-defined]
        return bool(set(chosen.themes) & set(p.themes)) or any(w in own for w in chosen.words)  # type: ignore[attr-defined]

    assert answer.results and all(on_topic(p) for p in answer.results)
    assert "disclos" in answer.results[0].title.lower() and all(p.kind != "background" for p in answer.results)


def test_without_a_contact_the_answer_says_where_to_find_one(lookup: Lookup, corpus: Corpus) -> None:
    answer = lookup.answer("I'm worried about a child on my caseload")
    text = dumps(blocks.message(blocks.answer_blocks(corpus, answer), blocks.fallback_text(answer)))
    assert blocks.escape(corpus.safety.no_contact) in text


def test_topic_lookups_are_unchanged(lookup: Lookup) -> None:
    for text in ("neglect", "police information sharing", "was not brought", "disclosure"):
        answer = lookup.answer(text)
        assert answer.safety is None and answer.kind != "safety", text


def test_more_pages_keep_the_safety_net_first(lookup: Lookup, corpus: Corpus) -> None:
    answer = lookup.answer("she told me today that her uncle touches her", offset=5)
    msg = blocks.message(blocks.answer_blocks(corpus, answer), blocks.fallback_text(answer))
    assert msg["blocks"][0]["text"]["text"] == corpus.safety.title and "result 6 of" in dumps(msg)


def run_ask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    return warmstart.run([sys.executable, "-m", "bot", "ask", *args], capture_output=True, text=True, cwd=str(ROOT),
                          env={**base, "SCR_CONTENT_DIR": str(CONTENT_DIR), **env}, timeout=60)  # fmt: skip


def test_scr_bot_ask_shows_the_safety_net_first_as_text_and_json() -> None:
    text = run_ask("a pupil told me her stepdad hurts her what do I do", SCR_CONCERN_CONTACT="Ring the DSL on 0123")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("IF YOU ARE WORRIED ABOUT A CHILD NOW")
    assert "Ring the DSL on 0123" in text.stdout and text.stdout.index("999") < text.stdout.index("result 1 of")
    data = run_ask("--json", "a pupil told me her stepdad hurts her what do I do")
    out = json.loads(data.stdout)
    assert list(out)[:3] == ["query", "kind", "safety"] and out["kind"] == "safety"
    assert out["safety"]["contact"] is None and out["safety"]["no_contact"]
    assert out["safety"]["source"]["url"].startswith("https://www.gov.uk/")
    assert out["safety"]["cue"] and out["results"]


def test_the_shell_renders_the_same_blocks(lookup: Lookup, corpus: Corpus) -> None:
    answer = lookup.answer("child just told me her dad hits her")
    shown, _ = render(blocks.message(blocks.answer_blocks(corpus, answer, contact="DSL: Sam"), blocks.fallback_text(answer)))
    assert shown.splitlines()[0] == corpus.safety.title.upper() and "DSL: Sam" in shown


# ----- content/safety.yaml is validated like all content -------------------------------------------
@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


def problems(content: Path) -> list[str]:
    with pytest.raises(ProblemsError) as err:
        load_corpus(content)
    return [str(p) for p in err.value.problems]


def test_a_broken_safety_file_names_file_and_line(content: Path) -> None:
    path = content / "safety.yaml"
    text = path.read_text()
    lines = text.splitlines()
    theme_line = next(i for i, line in enumerate(lines, 1) if "themes: [voice]" in line)
    url_line = next(i for i, line in enumerate(lines, 1) if "what-to-do-if" in line)
    path.write_text(text.replace("themes: [voice]", "themes: [voice, nonsense]"))
    assert f"{path}:{theme_line}: unknown theme 'nonsense'" in problems(content)
    path.write_text(text.replace("url: https://www.gov.uk/government/publications/what-to-do", "url: http://example/what-to-do"))
    found = problems(content)
    assert any(p.startswith(f"{path}:{url_line}: source.url:") for p in found), found


def test_the_safety_advice_is_required(content: Path) -> None:
    (content / "safety.yaml").unlink()
    assert any("no 'safety:' section found" in p for p in problems(content))


def test_a_second_safety_section_is_refused(content: Path) -> None:
    (content / "local-safety.yaml").write_text((content / "safety.yaml").read_text())
    assert any("a second 'safety:' section" in p for p in problems(content))


def test_a_missing_step_list_is_reported(content: Path) -> None:
    path = content / "safety.yaml"
    path.write_text(textwrap.dedent("""\
        safety:
          title: Worried?
          intro: Act today.
          steps: [Call 999.]
          source: {title: T, publisher: P, url: "https://www.gov.uk/x"}
          no_contact: Ask your lead.
          reflection_note: Kept private.
        """))
    assert f"{path}:4: steps: List should have at least 3 items after validation, not 1" in problems(content)
