"""The offline shell runs a whole 7-minute briefing session, a knowledge check and the digest (issue 24 item 6).

Driven through standard input of a real `python -m bot shell` process, against a real Redis; only Slack is
the shell's local stand-in. The shell's clock ('clock <date>') sends what the scheduler would send then,
through the same senders as `scr-bot schedule run-due`. Bad input (no theme matches, a due date in the
past, an owner not in #team) gets its clear message in the shell too, and nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
import test_shell as ts

from bot.config import WorkingHours
from conftest import RedisServer

HOURS = WorkingHours()  # the shell's workspace has the default working days and bank holidays (England and Wales)


def working_day_on_or_after(day: date) -> date:
    while not HOURS.working_day(day):
        day += timedelta(days=1)
    return day


def first_quiz_and_digest_day_after(day: date) -> date:
    """A Tuesday to Thursday in the first 7 days of a month, a working day: a knowledge check and the digest."""
    day += timedelta(days=1)
    while not (day.day <= 7 and day.weekday() in HOURS.quiz_days and HOURS.working_day(day)):
        day += timedelta(days=1)
    return day


def test_the_shell_runs_a_briefing_session_a_knowledge_check_and_the_digest(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:  # fmt: skip
    today = datetime.now(ZoneInfo("Europe/London")).date()
    due = working_day_on_or_after(today + timedelta(days=14))
    check_day = first_quiz_and_digest_day_after(due)
    lines = [
        "/scr subscribe",
        "/scr digest add @you",
        "/scr quiz on",
        "/scr briefing nothingmatcheszzz",  # no theme matches: one line, nothing written
        "/scr briefing neglect",
        "4",  # Run in channel (after the three Swap buttons)
        "as sam",
        "1",  # I was there
        "as you",
        "2",  # Agree an action
        "Ask about <fathers> & carers at every visit",
        "zed",  # an owner who is not in #team
        "2020-01-01",  # a due date in the past: refused in the form
        due.isoformat(),
        "",  # the form comes back (zed is not in #team): the words kept
        "sam",
        "",
        "/scr actions",
        f"clock {due.isoformat()}",
        "as sam",
        "1",  # Done, on the follow-up DM
        "Fathers are on the visit checklist now",
        "/scr export",
        "as you",
        f"clock {check_day.isoformat()}",
        "1",  # answer the knowledge check
        "/scr digest",
        "clock 2020-01-01",
        "quit",
    ]
    result = ts.play(lines, tmp_path, redis_server.url)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in out, result.stderr[-3000:]

    assert "No theme or learning point matches" in ts.between(out, "/scr briefing nothingmatcheszzz", "/scr briefing neglect")
    run = ts.between(out, "4", "as sam")
    assert "7-MINUTE BRIEFING: NEGLECT" in run and "I was there" in run and "Agree an action" in run
    assert "Recorded: you were at this briefing" in ts.between(out, "1", "as you")

    form = out[out.index("> 2\n", out.index("> as you\n")):out.index("> /scr actions\n")]
    assert "is in the past: choose today or a later date" in form
    assert "The owner you chose is not in this channel, so nothing was recorded" in form
    # The form comes back with the words kept, and shows them (Enter keeps them), not blanks.
    back = form[form.index("The owner you chose is not in this channel"):]
    assert "What: Ask about <fathers> & carers at every visit" in back and "What: ____" not in back
    assert f"Due date: {due.isoformat()}" in back and "Due date: ____" not in back
    assert "Agreed action: Ask about <fathers> & carers at every visit" in form and "Owner @sam" in form

    listed = ts.between(out, "/scr actions", f"clock {due.isoformat()}")
    assert "Team action list" in listed and "@sam" in listed and f"{due:%d %b %Y}" in listed

    followup = ts.between(out, f"clock {due.isoformat()}", "as sam")
    assert "direct message from @scr to @sam" in followup and "Today is the due date" in followup
    assert "follow-up (due): sent" in followup
    answered = out[out.index("What changed: Fathers are on the visit checklist now\n"):out.index("> /scr export\n")]
    assert "Thanks, saved" in answered

    exported = ts.between(out, "/scr export", "as you")
    assert "1 team briefing and 1 action" in exported
    record = next((tmp_path / "var" / "exports").glob("sam-*.md")).read_text()
    assert "## Team briefings attended" in record and "7-minute briefing: Neglect" in record
    assert "Fathers are on the visit checklist now" in record and "| Done |" in record

    checked = ts.between(out, f"clock {check_day.isoformat()}", "1")
    assert "YOUR KNOWLEDGE CHECK" in checked and "knowledge check to @you: sent" in checked
    assert "Learning digest for" in checked and "digest to @you: sent" in checked
    assert "7-minute briefings run" in checked
    start = out.index(f"> clock {check_day.isoformat()}\n")
    quiz = out[start:out.index("> /scr digest\n", start)]
    assert "You chose:" in quiz[quiz.index("> 1\n"):]  # the answer, with the right one and the point
    digest = ts.between(out, "/scr digest", "clock 2020-01-01")
    assert "7-minute briefings run" in digest
    assert "The clock only goes forward" in ts.between(out, "clock 2020-01-01", "quit")

    # Bad input wrote nothing: one session, one action, in Redis.
    actions = [k for k in redis_client.scan_iter("scr:*:action:*")]
    sessions = [k for k in redis_client.scan_iter("scr:*:session:*") if not k.endswith((":attended", ":actions"))]
    assert len(actions) == 1 and len(sessions) == 1, (actions, sessions)


def test_another_persons_home_never_takes_the_buttons_and_session_shows_the_post_again(
        tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> None:  # fmt: skip
    """An action agreed for sam refreshes sam's App Home: the person at the screen (you) is told, not shown it,
    and the next '1' is not sam's "Export my record". 'session' numbers the session post's buttons again."""
    lines = [
        "/scr briefing neglect",
        "4",  # Run in channel
        "2",  # Agree an action (as you)
        "Update the neglect screening checklist",
        "sam",
        "+14d",
        "1",  # whatever is 1 now must not be sam's Export / Delete my record
        "session",
        "1",  # I was there, on the session post shown again
        "quit",
    ]
    result = ts.play(lines, tmp_path, redis_server.url)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in out, result.stderr[-3000:]
    agreed = ts.between(out, "2", "1")  # the form's fields are answered inside this turn
    assert "@sam's App Home was updated" in agreed, agreed
    assert "Export my record" not in agreed and "Delete my record" not in agreed, agreed
    pressed = ts.between(out, "1", "session")
    assert "Export my record" not in pressed and "Delete my record" not in pressed and "Export" not in pressed, pressed
    assert "Recorded: you were at this briefing" in pressed, pressed  # the session post's own button 1 still
    again = ts.between(out, "session", "1")
    assert "I was there" in again and "Agree an action" in again, again
    attended = out[out.rindex("> 1\n"):]
    assert "Recorded: you were at this briefing" in attended, attended
    assert [k for k in redis_client.scan_iter("scr:*:session:*:attended")], "nothing recorded"
