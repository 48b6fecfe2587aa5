"""Questions in full sentences and odd input (issue 23, item 4).

Practitioners type sentences, roles, Slack commands and, now and then, something that is not a question at
all. Each must be answered for what it is: a sentence by its content rather than its frame, a role by the
points that name it, code by "nothing close" (echoed escaped), a Slack command by where it works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import warmstart

from blockkit import assert_valid_message, dumps
from bot.content.corpus import Corpus
from bot.search.lookup import Lookup
from bot.slack import blocks
from conftest import CONTENT_DIR, ROOT

CODE = ["' OR 1=1 --", "<script>alert(1)</script>", "DROP TABLE", "{{7*7}}", "../../etc/passwd",
        "1; DROP TABLE points; --", "${jndi:ldap://x}", "<img src=x onerror=alert(1)>"]


@pytest.fixture(scope="module")
def lookup(corpus: Corpus) -> Lookup:
    return Lookup(corpus)


def top3(lookup: Lookup, text: str) -> list[str]:
    return [p.id for p in lookup.answer(text).results[:3]]


@pytest.mark.parametrize("text", CODE)
def test_code_finds_nothing_close_and_is_echoed_escaped(lookup: Lookup, corpus: Corpus, text: str) -> None:
    answer = lookup.answer(text)
    assert answer.kind == "not_found" and not answer.results and not answer.suggestions, (answer.kind, answer.results)
    msg = blocks.message(blocks.answer_blocks(corpus, answer), blocks.fallback_text(answer))
    assert_valid_message(msg)
    shown = dumps(msg)
    assert "Nothing in these briefings is close to that" in shown
    assert "<script" not in shown and "<img" not in shown  # what was typed is echoed escaped


def test_words_that_only_look_like_code_are_still_searched(lookup: Lookup) -> None:
    """The probe patterns must not swallow ordinary questions that share a word with them."""
    for text in ("children under 1 = babies", "drop in attendance", "select the right threshold", "table of key data"):
        assert lookup.answer(text).kind != "not_found" or lookup.answer(text).suggestions, text


def test_a_question_is_ranked_by_its_content_not_its_frame(lookup: Lookup) -> None:
    assert "r14-finding-uncertainty" in top3(lookup, "child protection plan ended too early")
    assert "h14-was-not-brought" in top3(lookup, "missed immunisations")  # not "missing" children
    assert "h14-ask-about-children" in top3(lookup, "think family")
    assert "p14-going-missing" in top3(lookup, "return home interview")
    assert {"p19-system-wide", "p14-organisational-change"} & set(top3(lookup, "how do high caseloads and staff shortages affect safeguarding"))
    # The frame "what does the research say about" is not the "research" theme.
    assert lookup.parse("what does the research say about assessment being ongoing").themes == ["assessment"]


def test_a_what_do_i_do_question_keeps_the_safety_net_and_leads_with_its_topic(lookup: Lookup) -> None:
    answer = lookup.answer("what should I do if a parent won't let me see the child")
    assert answer.safety is not None and answer.kind == "safety"  # how to act now, first
    assert {"r14-finding-uncertainty", "h14-was-not-brought"} & {p.id for p in answer.results[:3]}
    # A disclosure described keeps the disclosure learning alone.
    told = lookup.answer("a pupil told me her stepdad hurts her what do I do")
    assert "disclos" in told.results[0].title.lower()


@pytest.mark.parametrize("text", ["knife crime", "start again syndrome", "police protection powers",
                                  "is there anything on knife crime in schools"])
def test_topics_the_briefings_do_not_cover_say_so(lookup: Lookup, text: str) -> None:
    assert lookup.answer(text).kind == "not_covered"


@pytest.mark.parametrize(("role", "says"), [
    ("gp", "gp"), ("midwife", "midwi"), ("health visitor", "health visitor"), ("school nurse", "school nurse"),
    ("police officer", "officer"), ("social worker", "social worker"), ("teacher", "teacher"),
])
def test_a_role_leads_with_points_written_for_it(lookup: Lookup, role: str, says: str) -> None:
    answer = lookup.answer(role)
    top = answer.results[0]
    own = " ".join([top.title, top.summary, *top.key_messages, top.quote or "", *top.questions]).lower()
    assert says in own, (role, top.id)


def test_dsl_leads_with_education_points(lookup: Lookup) -> None:
    """No point says "designated safeguarding lead": the education sector's own points lead."""
    assert all("education" in p.sectors for p in lookup.answer("dsl").results[:3])


def run_ask(*args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    return warmstart.run([sys.executable, "-m", "bot", "ask", *args], capture_output=True, text=True, cwd=str(ROOT),
                          env={**base, "SCR_CONTENT_DIR": str(CONTENT_DIR)}, timeout=60)  # fmt: skip


def test_scr_bot_ask_a_slack_command_says_where_it_works() -> None:
    for command in ("subscribe", "settings zone Europe/London"):
        out = run_ask(command)
        assert out.returncode == 0, out.stderr
        assert "works in Slack" in out.stdout and "scr-bot shell" in out.stdout, out.stdout
        assert "couldn't find" not in out.stdout
    as_json = json.loads(run_ask("--json", "quiz").stdout)
    assert as_json["kind"] == "command" and as_json["results"] == []
