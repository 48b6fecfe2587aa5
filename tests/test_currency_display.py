"""Every point a person sees carries its briefing's period and, where a verified change touches it, one
"Since this briefing" line: the weekly post, a lookup answer (Block Kit, the terminal and `ask --json`), the
explanation after a knowledge check, and the CPD export. An unverified change never reaches any of them.

The corpus is the shipped content with changes.yaml replaced by two changes that both touch the "was not
brought" point: one verified (its line carries "<" and "&", which must be escaped for Slack), one not."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import warmstart
import yaml

from blockkit import assert_no_user_markup, assert_valid_message, dumps
from bot.content.corpus import Corpus, Point, load_corpus
from bot.learning import cpd
from bot.learning.quiz import Answer
from bot.ops.textrender import render
from bot.reflections.store import MODAL, PRIVATE, Reflection
from bot.search.lookup import Lookup
from bot.slack import blocks
from bot.slack.quiz_blocks import answered_message
from conftest import CONTENT_DIR, ROOT

TOUCHED = "h14-was-not-brought"  # uses "did not attend", which both changes supersede
PERIOD = "Incidents from 1 April 2011 to 31 March 2014"  # its briefing's period, as briefings.yaml states it
SHOWN_PERIOD = "Briefing covers incidents from 1 April 2011 to 31 March 2014"
LINE = "Record it as <was not brought> & keep asking."
SINCE = f"Since this briefing (Jul 2022): {LINE}"
UNCHECKED = "UNCHECKED"  # in the unverified change's title and line: must never be shown

VERIFIED = {"id": "wnb-now", "date": "2022-07-01", "title": "Was not brought now the usual wording", "line": LINE,
            "source": "https://www.gov.uk/example", "jurisdictions": ["england"], "supersedes": ["did not attend"],
            "verified": True}
UNVERIFIED = {"id": "not-yet-checked", "date": "2023-01-01", "title": f"{UNCHECKED} title",
              "line": f"{UNCHECKED} claim that nobody has checked.", "source": "https://www.gov.uk/unchecked",
              "jurisdictions": ["england"], "supersedes": ["did not attend", "LSCB"], "verified": False}


def write_content(target: Path, changes: list[dict[str, Any]]) -> Path:
    content = target / "content"
    if not content.exists():
        shutil.copytree(CONTENT_DIR, content)
    (content / "changes.yaml").write_text(yaml.safe_dump({"changes": changes}, sort_keys=False))
    return content


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_content(tmp_path_factory.mktemp("currency"), [VERIFIED, UNVERIFIED])


@pytest.fixture(scope="module")
def corpus(content: Path) -> Corpus:
    # The unverified change, were it shown, would fit in the same line: "... Also (Jan 2023): UNCHECKED title."
    return load_corpus(content)


@pytest.fixture(scope="module")
def untouched(corpus: Corpus) -> Point:
    """A point from another briefing that neither change touches."""
    return next(p for p in corpus.points if p.source.briefing == "police-2017-19")


def slack_text(msg: dict[str, Any]) -> str:
    return dumps(msg)


def test_the_weekly_post_shows_the_period_under_the_citation_and_the_since_line(corpus: Corpus) -> None:
    msg = blocks.weekly_post(corpus, corpus.by_id[TOUCHED], date(2026, 11, 23), "Friday")
    assert_valid_message(msg)
    assert_no_user_markup(msg)
    text = slack_text(msg)
    assert f":date: {SHOWN_PERIOD}" in text
    assert ":clock3: Since this briefing (Jul 2022): Record it as &lt;was not brought&gt; &amp; keep asking." in text
    assert UNCHECKED not in text
    assert text.index(":books:") < text.index(":date:") < text.index(":clock3:")  # a context line under the citation


def test_a_point_no_verified_change_touches_shows_its_period_and_no_since_line(corpus: Corpus, untouched: Point) -> None:
    msg = blocks.weekly_post(corpus, untouched, date(2026, 11, 23), "Friday")
    assert_valid_message(msg)
    text = slack_text(msg)
    assert ":date: Briefing covers SCRs published April 2017 to September 2019" in text  # an acronym stays as written
    assert "Since this briefing" not in text and UNCHECKED not in text


def test_a_lookup_answer_shows_period_and_since_in_block_kit_and_the_terminal(corpus: Corpus) -> None:
    answer = Lookup(corpus).answer("was not brought")
    assert answer.top is not None and answer.top.id == TOUCHED
    msg = blocks.message(blocks.answer_blocks(corpus, answer, reflect_button=True), blocks.fallback_text(answer))
    assert_valid_message(msg)
    assert_no_user_markup(msg)
    text = slack_text(msg)
    assert SHOWN_PERIOD in text and "Record it as &lt;was not brought&gt; &amp; keep asking." in text
    assert UNCHECKED not in text
    shown, _ = render(msg)
    assert f"📅 {SHOWN_PERIOD}" in shown
    assert "🕒 Since this briefing (Jul 2022): Record it as <was not brought> & keep asking." in " ".join(shown.split())
    assert ":date:" not in shown and ":clock3:" not in shown


def ask(content: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    return warmstart.run([sys.executable, "-m", "bot", "ask", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)  # fmt: skip


def test_ask_json_gives_each_result_its_period_and_since(content: Path, corpus: Corpus) -> None:
    result = ask(content, "--json", "was", "not", "brought")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    results = {r["id"]: r for r in data["results"]}
    assert results[TOUCHED]["period"] == PERIOD
    assert results[TOUCHED]["since"] == SINCE  # the data is plain text: no Slack escaping
    for r in data["results"]:
        briefing = corpus.briefings[corpus.by_id[r["id"]].source.briefing]
        assert r["period"] == " ".join(briefing.period.split())
        assert "since" in r
    assert UNCHECKED not in result.stdout


def test_ask_in_the_terminal_shows_period_and_since(content: Path) -> None:
    result = ask(content, "was", "not", "brought")
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert f"📅 {SHOWN_PERIOD}" in flat and f"🕒 {SINCE}" in flat
    assert UNCHECKED not in result.stdout


def test_the_explanation_after_a_check_shows_period_and_since(corpus: Corpus) -> None:
    check = next(c for c in corpus.checks if c.point == TOUCHED)
    for chosen in range(len(check.options)):  # right or not, the point comes with its period
        msg = answered_message(corpus, check, chosen, card=None)
        assert_valid_message(msg)
        assert_no_user_markup(msg)
        text = slack_text(msg)
        assert f":date: {SHOWN_PERIOD}" in text
        assert ":clock3: Since this briefing (Jul 2022): Record it as &lt;was not brought&gt; &amp; keep asking." in text
        assert UNCHECKED not in text


def reflection(point: str, ts: float, **kw: Any) -> Reflection:
    return Reflection(id=f"r-{point}-{ts}", user="U0A", point=point, kind=MODAL, visibility=PRIVATE, created_at=ts,
                      updated_at=ts, stood_out="Something stood out", **kw)  # fmt: skip


def test_the_cpd_export_records_period_and_since(corpus: Corpus, untouched: Point) -> None:
    when = datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()
    records = [reflection(TOUCHED, when), reflection(untouched.id, when + 60)]
    check = next(c for c in corpus.checks if c.point == TOUCHED)
    answers = [Answer(check=check.id, point=TOUCHED, correct=True, chosen=check.answer, sent_day="2026-11-25",
                      answered_at=when + 120)]  # fmt: skip
    md = cpd.to_markdown(corpus, records, who="Slack user U0A", exported=datetime(2026, 11, 24, tzinfo=UTC),
                         answers=answers)  # fmt: skip
    assert f"- **Briefing period:** {PERIOD}" in md
    assert f"- **Since this briefing** (Jul 2022): {LINE}" in md
    assert "- **Briefing period:** SCRs published April 2017 to September 2019" in md
    assert md.count("**Since this briefing**") == 1  # only the touched reflection; the untouched one has none
    table = [line for line in md.splitlines() if line.startswith(f"| {date(2026, 11, 23)}")]
    assert len(table) == 1 and table[0].endswith(f"| {PERIOD} | {SINCE} |")
    assert UNCHECKED not in md

    rows = list(csv.DictReader(io.StringIO(cpd.to_csv(corpus, records, answers))))
    assert [(r["learning_point_id"], r["briefing_period"], r["since_this_briefing"]) for r in rows] == [
        (TOUCHED, PERIOD, SINCE),
        (untouched.id, "SCRs published April 2017 to September 2019", ""),
        (TOUCHED, PERIOD, SINCE),
    ]
    assert UNCHECKED not in cpd.to_csv(corpus, records, answers)


def test_with_only_an_unverified_change_a_point_shows_its_period_and_nothing_since(tmp_path: Path) -> None:
    corpus = load_corpus(write_content(tmp_path, [{**VERIFIED, "verified": False}, UNVERIFIED]))
    point = corpus.by_id[TOUCHED]
    check = next(c for c in corpus.checks if c.point == TOUCHED)
    answer = Lookup(corpus).answer("was not brought")
    shown = [
        slack_text(blocks.weekly_post(corpus, point, date(2026, 11, 23), "Friday")),
        slack_text(blocks.message(blocks.answer_blocks(corpus, answer), blocks.fallback_text(answer))),
        slack_text(answered_message(corpus, check, 0, card=None)),
    ]
    for text in shown:
        assert SHOWN_PERIOD in text
        assert "Since this briefing" not in text and UNCHECKED not in text and "keep asking" not in text
    record = cpd.to_csv(corpus, [reflection(TOUCHED, 1.8e9)])
    assert PERIOD in record and "Since this briefing" not in record and UNCHECKED not in record


def test_a_change_to_changes_yaml_gives_the_content_a_new_version(tmp_path: Path) -> None:
    """Rendered answers are cached by the content's version; the since line comes from changes.yaml, so
    verifying (or unverifying) a change must give a new version, or a stale line would be served."""
    before = load_corpus(write_content(tmp_path, [VERIFIED, UNVERIFIED])).version
    after = load_corpus(write_content(tmp_path, [VERIFIED, {**UNVERIFIED, "verified": True}])).version
    assert before != after
