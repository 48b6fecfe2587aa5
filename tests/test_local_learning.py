"""Local learning, end to end: the README's worked example takes a curator from nothing to a point that
passes `scr-bot content check` and shows in `/scr`, labelled "Local learning" in every rendering."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import warmstart

from blockkit import assert_valid_message
from bot.content.corpus import load_corpus
from bot.content.yamlfile import ProblemsError
from bot.slack import blocks
from conftest import (
    CONTENT_DIR,
    ROOT,
    BotProcess,
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    start_bot,
    stop_bot,
)
from fakeslack import FakeSlack

EXAMPLE = ROOT / "examples" / "local-learning"
SEEDS = Path(os.environ.get("SCR_SOURCES_DIR") or ROOT.parent / "shared" / "seeds")
POINT = "anytown-escalation-steps"


def with_example(target: Path) -> Path:
    """What the README tells a curator to do: copy the example into content/local/."""
    content = target / "content"
    shutil.copytree(CONTENT_DIR, content)
    (content / "local").mkdir()
    for f in EXAMPLE.glob("*.yaml"):
        shutil.copy(f, content / "local" / f.name)
    return content


def cli(content: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    return warmstart.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)  # fmt: skip


def edit(content: Path, old: str, new: str) -> Path:
    path = next((content / "local").glob("*.yaml"))
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


def test_the_example_is_not_enabled_by_default() -> None:
    shipped = load_corpus(CONTENT_DIR)
    assert not any(b.local for b in shipped.briefings.values())
    assert POINT not in shipped.by_id
    assert not EXAMPLE.is_relative_to(CONTENT_DIR)


def test_the_example_passes_content_check(tmp_path: Path) -> None:
    content = with_example(tmp_path)
    plain = cli(content, "content", "check")
    assert plain.returncode == 0, plain.stderr
    assert "local learning OK" in plain.stdout and "anytown-7mb-resolving-differences" in plain.stdout
    assert "warning" not in plain.stdout  # every local heading has a point
    if SEEDS.is_dir():
        full = cli(content, "content", "check", "--sources", str(SEEDS))
        assert full.returncode == 0, full.stderr
        assert "fidelity OK" in full.stdout and "local learning OK" in full.stdout


def test_terminal_and_json_answers_label_it_local_learning(tmp_path: Path) -> None:
    content = with_example(tmp_path)
    text = cli(content, "ask", POINT)
    assert text.returncode == 0, text.stderr
    assert "📍 Local learning" in text.stdout
    assert "From the local source:" in text.stdout and "From the briefing" not in text.stdout
    assert "Local learning · Anytown SCP 7-minute briefing (example)" in text.stdout.replace("\n  ", " ")
    found = json.loads(cli(content, "ask", "--json", "search", "working", "days").stdout)
    mine = next(r for r in found["results"] if r["id"] == POINT)
    assert mine["source"] == {"briefing": "anytown-7mb-resolving-differences", "section": "What to do", "pages": [],
                              "local": True, "label": "Local learning"}  # fmt: skip
    national = next(r for r in found["results"] if r["id"] != POINT and not r["id"].startswith("anytown"))
    assert national["source"]["label"] == "National SCR briefing"


@pytest.fixture(scope="module")
def local_bot(module_slack: FakeSlack, redis_server: RedisServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("localbot")
    content = with_example(tmp)
    proc = start_bot(["run", "--no-scheduler"], bot_env(module_slack, redis_server.url, tmp, SCR_CONTENT_DIR=str(content)),
                     tmp / "bot.log", free_port())  # fmt: skip
    yield proc
    stop_bot(proc)


def test_scr_shows_the_local_point_labelled_in_block_kit(local_bot: BotProcess, module_slack: FakeSlack) -> None:
    msg = command_answer(local_bot, module_slack, POINT)
    assert_valid_message(msg)
    flat = json.dumps(msg["blocks"], ensure_ascii=False)
    assert ":round_pushpin: *Local learning* · from Anytown Safeguarding Children Partnership (example)" in flat
    assert "Local learning · Anytown SCP 7-minute briefing (example)" in flat
    listed = command_answer(local_bot, module_slack, "search record each step working days")
    texts = json.dumps(listed["blocks"], ensure_ascii=False)
    assert "Talk first, then take it up a level after 2 working days" in texts


def test_the_weekly_post_of_a_local_point_is_labelled(tmp_path: Path) -> None:
    corpus = load_corpus(with_example(tmp_path))
    msg = blocks.weekly_post(corpus, corpus.by_id[POINT], date(2026, 11, 23), "Friday")
    assert_valid_message(msg)
    assert "*Local learning*" in json.dumps(msg["blocks"], ensure_ascii=False)


def test_content_check_rejects_an_invented_quote_in_local_learning(tmp_path: Path) -> None:
    """No sources folder needed: the local section's own text is the source."""
    content = with_example(tmp_path)
    path = edit(content, '"Record each step and the reasons in the child\'s file."', '"Always escalate to the director."')
    result = cli(content, "content", "check")
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and "anytown-escalation-steps: quote is not word for word" in result.stderr


def test_content_check_rejects_a_number_the_local_text_does_not_give(tmp_path: Path) -> None:
    content = with_example(tmp_path)
    edit(content, "has not settled it within 2 working days", "has not settled it within 5 working days")
    result = cli(content, "content", "check")
    assert result.returncode == 1
    assert "anytown-escalation-steps: summary: 5 is not in the cited section 'What to do'" in result.stderr


def test_a_local_section_without_text_cannot_carry_a_quote(tmp_path: Path) -> None:
    content = with_example(tmp_path)
    path = next((content / "local").glob("*.yaml"))
    text = path.read_text()
    without = re.sub(r"(      - heading: What to do\n)        text: >-\n(?:          .*\n)+", r"\1", text)
    assert without != text
    path.write_text(without)
    result = cli(content, "content", "check")
    assert result.returncode == 1
    assert "anytown-escalation-steps: quote cannot be checked: the cited section has no text" in result.stderr
    edit(content, '    quote: "Record each step and the reasons in the child\'s file."\n', "")
    ok = cli(content, "content", "check")
    assert ok.returncode == 0, ok.stderr
    assert "note: 1 local point(s) cite a section with no text" in ok.stdout


def test_a_national_briefing_needs_its_seed_but_a_local_one_does_not(tmp_path: Path) -> None:
    content = with_example(tmp_path)
    edit(content, "    local: true\n", "")
    with pytest.raises(ProblemsError) as err:
        load_corpus(content)
    assert any("a national briefing needs 'seed'" in p.message and "mark your own source 'local: true'" in p.message
               for p in err.value.problems)  # fmt: skip
