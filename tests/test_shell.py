"""The offline shell plays a whole week, driven through standard input like a person at a terminal.

`scr-bot shell` runs the real Bolt app, handlers and weekly poster against a real Redis; only Slack is
the local stand-in. One session subscribes #team, posts the week's point, replies in its thread as two
people (one reply with identifying details), fills in and submits the Reflect form, posts the summary,
opens App Home and exports the CPD record to a folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis
import warmstart

from conftest import ROOT, RedisServer

# `python -m bot` from the checkout (cwd=ROOT): the code under test, not whatever `scr-bot` script is installed.
COMMAND = [sys.executable, "-m", "bot"]

WEEK = [
    "help",
    "/scr week",
    "/scr subscribe health monday 09:30",
    "/scr week",
    "post",
    "reply What stood out for me was who gets invited to strategy discussions.",
    "as sam",
    "reply Visited Mrs Jones on 12/03/2024 and rang 07700 900123 afterwards; it made me think about who attends.",
    "as you",
    "thread",
    "1",  # Reflect, on the weekly post
    "Mrs Smith's case made me think about invitations",  # what stood out (a name with a title: masked)
    "Invite the police every time",  # what it means for practice
    "",  # one thing to do differently: skipped (optional)
    "3",  # time spent: 15 minutes
    "1",  # share in the thread
    "summary",
    "home",
    "2",  # Export my record
    "quit",
]


def play(lines: list[str], tmp: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(REDIS_URL=redis_url, SCR_DATA_DIR=str(tmp / "var"), PYTHONUNBUFFERED="1")
    return warmstart.run([*COMMAND, "shell"], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)  # fmt: skip


def between(out: str, start: str, end: str) -> str:
    """The shell's answer to one input line: from its echoed prompt to the next prompt."""
    a = out.index(f"> {start}\n")
    b = out.index(f"> {end}\n", a + 1) if end else len(out)
    return out[a:b]


def test_a_team_lead_plays_a_whole_week_in_the_shell(tmp_path: Path, redis_server: RedisServer,
                                                     redis_client: redis.Redis) -> None:  # fmt: skip
    result = play(WEEK, tmp_path, redis_server.url)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in out, result.stderr

    # The shell's own commands are listed in its help.
    helped = between(out, "help", "/scr week")
    for command in ("/scr ...", "<number>", "reply <text>", "as <name>", "home", "thread", "post [--force]",
                    "summary", "who", "quit"):  # fmt: skip
        assert command in helped, command

    # /scr week before and right after /scr subscribe.
    assert "No learning point of the week has been posted" in between(out, "/scr week", "/scr subscribe health monday 09:30")
    subscribed = out[out.index("> /scr subscribe health monday 09:30\n"):out.index("> post\n")]
    assert "set up a weekly learning point" in subscribed
    assert "This channel is subscribed" in subscribed and "Next post:" in subscribed

    # The weekly post, as the team sees it, with its buttons.
    posted = between(out, "post", "reply What stood out for me was who gets invited to strategy discussions.")
    assert "── @scr in #team ──" in posted and "LEARNING POINT OF THE WEEK" in posted
    assert "Questions for your team" in posted and "[1] Reflect" in posted

    # A reply with identifying details: only its author is told what was masked.
    sams = out[out.index("> reply Visited Mrs Jones"):out.index("> as you\n")]
    assert "(only visible to you)" in sams and "I removed" in sams and "phone number" in sams

    # The thread holds both people's replies.
    thread = between(out, "thread", "1")
    assert "@you (in the thread)" in thread and "@sam (in the thread)" in thread

    # The Reflect form: its fields are shown and asked for, then it is saved and shared in the thread.
    form = out[out.index("> 1\n"):out.index("> summary\n")]
    for field in ("What stood out for you?", "What does it mean for your practice", "Time spent", "Who sees it?"):
        assert field in form, field
    assert "15 minutes" in form and "Share in the thread with my team" in form
    assert "Reflection shared by @you" in form and "Invite the police every time" in form
    assert "Mrs Smith" not in form.split("Fill in the form")[1].split("Mrs Smith's case made me")[1]
    assert "Saved to your record. It's shared in the thread too." in form  # the form, updated after the post
    assert "To keep it anonymous I removed a name" in form

    # The summary counts the three shared reflections from two people, quoting no one.
    summary = between(out, "summary", "home")
    assert "@scr in #team (in the thread)" in summary
    assert "3 reflections from 2 people" in summary
    assert "invited" not in summary and "Jones" not in summary

    # App Home: this week's point in my channels, my two reflections, the team's participation.
    home = between(out, "home", "2")
    assert "Home" in home and "This week in your channels" in home and "#team" in home
    assert "Your reflections (2)" in home and "[2] Export my record" in home
    assert "#team: 1 post, 3 reflections shared" in home

    # The export is written to a local folder, as Markdown and CSV, masked.
    exported = between(out, "2", "quit")
    assert "direct message from @scr, with 2 file(s)" in exported
    files = sorted((tmp_path / "var" / "exports").iterdir())
    assert [f.suffix for f in files] == [".csv", ".md"], files
    for f in files:
        assert f"saved: {f.resolve()}" in exported
    md = files[1].read_text()
    assert "Invite the police every time" in md and "who gets invited to strategy discussions" in md
    assert "Mrs Smith" not in md and "Jones" not in md
    assert "15" in files[0].read_text()


def test_the_shell_says_what_to_do_when_there_is_nothing_to_act_on(tmp_path: Path, redis_server: RedisServer,
                                                                    redis_client: redis.Redis) -> None:  # fmt: skip
    result = play(["reply hello", "thread", "summary", "7", "/remind me", "quit"], tmp_path, redis_server.url)
    out = result.stdout
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "no weekly post in #team to reply to yet: type 'post' first" in out
    assert "#team has no weekly post yet: /scr subscribe, then 'post'." in out
    assert "There are no buttons to click yet." in out
    assert "Unknown command /remind: this bot answers /scr" in out


def test_at_name_is_a_mention_and_a_mistyped_command_is_not_a_search(tmp_path: Path, redis_server: RedisServer,
                                                                     redis_client: redis.Redis) -> None:  # fmt: skip
    result = play(["/scr subscribe", "/scr digest add @sam", "thred", "pots", "summery", "neglect", "quit"],
                  tmp_path, redis_server.url)  # fmt: skip
    out = result.stdout
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    # Typed as a person types it in Slack: @sam is Sam, not "Say who, with a mention".
    added = between(out, "/scr digest add @sam", "thred")
    assert "will get this workspace's learning digest" in added and "Say who" not in added, added
    assert "Unknown command 'thred': did you mean 'thread'?" in between(out, "thred", "pots")
    assert "did you mean 'post'?" in between(out, "pots", "summery")
    assert "did you mean 'summary'?" in between(out, "summery", "neglect")
    assert "Neglect" in between(out, "neglect", "quit") and "Unknown command" not in between(out, "neglect", "quit")


def test_after_a_restart_the_weekly_post_is_reachable_and_quit_leaves_from_inside_the_form(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:  # fmt: skip
    first = play(["post", "quit"], tmp_path, redis_server.url)
    assert first.returncode == 0 and "[1] Reflect" in first.stdout, first.stderr
    again = play(["thread", "1", "quit", "/scr neglect"], tmp_path, redis_server.url)  # a new process: Slack is empty
    out = again.stdout
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    thread = between(out, "thread", "1")
    assert "LEARNING POINT OF THE WEEK" in thread and "[1] Reflect" in thread, thread
    form = out[out.index("> 1\n"):]
    assert "What stood out for you?" in form
    assert "(form closed without saving)" in form and form.rstrip().endswith("Bye."), form
    assert "> /scr neglect" not in out  # 'quit' left the shell; it was not saved as a reflection
    assert not any(k for k in redis_client.scan_iter("*:refl:*")), "a reflection was saved from 'quit'"


def test_two_people_exporting_the_same_day_keep_both_files(tmp_path: Path, redis_server: RedisServer,
                                                           redis_client: redis.Redis) -> None:  # fmt: skip
    result = play(["post", "reply Who is invited to strategy meetings matters.", "home", "2",
                   "as sam", "reply Checking who acts on a worry.", "home", "2", "quit"], tmp_path, redis_server.url)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    files = sorted(f.name for f in (tmp_path / "var" / "exports").iterdir())
    assert len(files) == 4, files  # one Markdown and one CSV for each person, none overwritten
    assert sum(f.startswith("you-") for f in files) == 2 and sum(f.startswith("sam-") for f in files) == 2, files
    mine = next((tmp_path / "var" / "exports").glob("you-*.md")).read_text()
    sams = next((tmp_path / "var" / "exports").glob("sam-*.md")).read_text()
    assert "strategy meetings" in mine and "strategy meetings" not in sams and "acts on a worry" in sams


def test_the_shell_previews_a_briefing_and_runs_it_in_the_channel(tmp_path: Path, redis_server: RedisServer,
                                                                  redis_client: redis.Redis) -> None:  # fmt: skip
    done = play(["/scr briefing neglect", "4", "quit"], tmp_path, redis_server.url)
    assert done.returncode == 0, done.stderr
    preview = between(done.stdout, "/scr briefing neglect", "4")
    assert "(only visible to you)" in preview and "7-MINUTE BRIEFING: NEGLECT" in preview
    assert "[1] Swap" in preview and "[4] Run in channel" in preview and "7 · What to do" in preview
    ran = between(done.stdout, "4", "quit")
    assert "── @scr in #team ──" in ran and "── @scr in #team (in the thread) ──" in ran
