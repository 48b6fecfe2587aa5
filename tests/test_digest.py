"""The learning lead's digest and the audit report, without Slack: counts per month, themes covered and not,
small groups suppressed, no one's words; the chart; the monthly timing; the settings."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.config import ConfigError, WorkingHours, load_settings
from bot.content.corpus import Corpus
from bot.learning.chart import participation_png
from bot.learning.digest import build, digest_text, last_months, report_csv, report_markdown
from bot.learning.digest_sender import DigestReaders, due
from bot.learning.quiz import Answer, QuizStore
from bot.reflections.store import Reflection, ReflectionStore
from bot.storage import keys
from bot.storage.store import Workspace
from conftest import ROOT

WS = Workspace("T0DIG")
CHANNEL = "C0DIG"
NOV = datetime(2026, 11, 10, 12, 0, tzinfo=UTC).timestamp()
OCT = datetime(2026, 10, 13, 12, 0, tzinfo=UTC).timestamp()


def post(r: redis.Redis, point: str, at: float, week: str) -> str:
    ts = f"{at:.6f}"
    with r.pipeline() as pipe:
        keys.record_weekly_post(pipe, WS, "s1", CHANNEL, ts, f'{{"point": "{point}", "week": "{week}", "ts": "{ts}"}}',
                                {"last_week": week}, 365 * 86400)  # fmt: skip
        pipe.execute()
    return ts


def reflect(store: ReflectionStore, user: str, ts: str, at: float, text: str, shared: bool = True) -> None:
    store.add(WS, Reflection(id=f"m-{user}-{ts}-{at}", user=user, point="p", kind="thread",
                             visibility="thread" if shared else "private", created_at=at, updated_at=at,
                             channel=CHANNEL, thread_ts=ts, text=text))  # fmt: skip


@pytest.fixture
def team(redis_client: redis.Redis, corpus: Corpus) -> redis.Redis:
    """October: one post, two people reflect (a small group). November: one post, three people, three checks."""
    clock = lambda: datetime(2026, 12, 1, tzinfo=UTC).timestamp()  # noqa: E731
    store = ReflectionStore(redis_client, 365, clock=clock)
    neglect = next(p for p in corpus.points if "neglect" in p.themes and "info-sharing" not in p.themes)
    voice = next(p for p in corpus.points if "voice" in p.themes and "info-sharing" not in p.themes)
    october = post(redis_client, neglect.id, OCT, "2026-W42")
    reflect(store, "U1", october, OCT + 60, "Secret words one")
    reflect(store, "U2", october, OCT + 120, "Secret words two")
    november = post(redis_client, voice.id, NOV, "2026-W46")
    for i, user in enumerate(("U1", "U2", "U3")):
        reflect(store, user, november, NOV + i, f"Secret words {user}")
    reflect(store, "U4", november, NOV + 9, "Kept to myself", shared=False)
    quiz = QuizStore(redis_client, 365, clock=clock)
    for user in ("U1", "U2", "U3"):
        quiz.record_answer(WS, user, Answer(corpus.checks[0].id, "p", user != "U1", "x", "2026-11-10", NOV, CHANNEL), "2026-W46")
    return redis_client


def test_digest_counts_per_month_themes_and_recurring_gaps(team: redis.Redis, corpus: Corpus) -> None:
    d = build(corpus, team, WS, CHANNEL, ["2026-09", "2026-10", "2026-11"])
    assert [(m.month, m.posts, m.reflections, m.people, m.checks) for m in d.months] == [
        ("2026-09", 0, 0, 0, 0), ("2026-10", 1, 2, 2, 0), ("2026-11", 1, 3, 3, 3)]  # private reflections not counted
    covered = dict(d.covered)
    assert covered["neglect"] == 1 and covered["voice"] == 1
    assert "voice" not in d.not_covered and "info-sharing" in d.not_covered and "escalation" in d.not_covered


def test_digest_text_suppresses_small_groups_and_quotes_no_one(team: redis.Redis, corpus: Corpus) -> None:
    text = digest_text(corpus, build(corpus, team, WS, CHANNEL, ["2026-10", "2026-11"]))
    assert "• 2026-10: 1 · fewer than 3 · fewer than 3 · 0" in text  # two people: not shown as 2
    assert "• 2026-11: 1 · 3 · 3 · 3" in text
    assert "Information sharing" in text.split("not covered yet:")[1]
    assert "Secret words" not in text and "Kept to myself" not in text and "U1" not in text


def test_report_gives_dates_points_themes_and_suppressed_counts(team: redis.Redis, corpus: Corpus) -> None:
    d = build(corpus, team, WS, CHANNEL, ["2026-10", "2026-11"])
    csv_text = report_csv(corpus, [d])
    lines = csv_text.splitlines()
    assert lines[0] == ("team,channel,week,date_posted,point_id,point_title,themes,reflections_shared,people,"
                        "row,month,sessions_run,actions_agreed,done,partly,not_yet,overdue")
    assert lines[1].startswith("T0DIG,C0DIG,2026-W42,2026-10-13,") and lines[1].endswith(",<3,<3,weekly post,2026-10,,,,,,")
    assert lines[2].startswith("T0DIG,C0DIG,2026-W46,2026-11-10,") and lines[2].endswith(",3,3,weekly post,2026-11,,,,,,")
    md = report_markdown(corpus, [d], "2026-10-01")
    assert "| 2026-10 | 1 | fewer than 3 | fewer than 3 | 0 |" in md and "| 2026-11 | 1 | 3 | 3 | 3 |" in md
    for text in (csv_text, md):
        assert "Secret words" not in text and "Kept to myself" not in text and "U1" not in text


def test_chart_is_a_png_and_matplotlib_is_not_loaded_for_lookups(team: redis.Redis, corpus: Corpus) -> None:
    png = participation_png(build(corpus, team, WS, CHANNEL, last_months(datetime(2026, 12, 1, tzinfo=UTC))), "Test")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    probe = ("import sys, bot.slack.app, bot.ops.cli, bot.ops.clock, bot.learning.digest_sender, bot.handlers.commands; "
             "print('matplotlib' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_last_months_and_monthly_timing() -> None:
    assert last_months(datetime(2026, 2, 3, tzinfo=UTC), 3) == ["2025-11", "2025-12", "2026-01"]
    assert last_months(datetime(2026, 2, 3, tzinfo=UTC), 2, include_current=True) == ["2026-01", "2026-02"]
    hours = WorkingHours()
    london = ZoneInfo("Europe/London")
    assert due(hours, datetime(2026, 12, 1, 10, 0, tzinfo=london))  # Tuesday 1 December, in hours
    assert not due(hours, datetime(2026, 12, 1, 8, 0, tzinfo=london))  # before work
    assert not due(hours, datetime(2026, 11, 1, 10, 0, tzinfo=london))  # a Sunday
    assert due(hours, datetime(2026, 11, 2, 10, 0, tzinfo=london))  # the first working day
    assert not due(hours, datetime(2026, 11, 10, 10, 0, tzinfo=london))  # past the first week


def test_readers_named_by_the_admin_or_by_the_workspace(redis_client: redis.Redis) -> None:
    readers = DigestReaders(redis_client, ("U0ADMIN",))
    assert readers.readers(WS) == ["U0ADMIN"] and readers.named(WS) == []
    assert not readers.is_reader(WS, "U0ANY") and readers.is_reader(WS, "U0ADMIN")
    readers.add(WS, "U0LL")
    assert readers.readers(WS) == ["U0ADMIN", "U0LL"] and readers.is_reader(WS, "U0LL") and readers.named(WS) == ["U0LL"]
    other = DigestReaders(redis_client)  # a many-workspace install: the environment names no one
    assert other.readers(Workspace("T0OTHER")) == [] and not other.is_reader(Workspace("T0OTHER"), "U0LL")


def test_learning_settings_are_read_and_bad_ones_explained() -> None:
    s = load_settings({"SCR_WORK_HOURS": "08:00-16:00", "SCR_QUIZ_DAYS": "wed", "SCR_DIGEST_USERS": "U01, U02"})
    hours = s.working_hours()
    assert (hours.start.hour, hours.end.hour, hours.quiz_days) == (8, 16, frozenset({2}))
    assert s.digest_users == ("U01", "U02")
    for env, words in (({"SCR_WORK_HOURS": "17:00-09:00"}, "after the start"), ({"SCR_QUIZ_DAYS": "someday"}, "weekday"),
                       ({"SCR_DIGEST_USERS": "@alice"}, "user ids")):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            load_settings(env)


def test_figures_are_suppressed_by_the_number_of_people_behind_them_not_their_own_size(corpus: Corpus) -> None:
    """Two people giving five answers and five reflections: "never for fewer than 3 people" hides the 5s."""
    from bot.learning.digest import Digest, MonthRow, PostRow

    d = Digest("T0", "C0", [MonthRow("2026-11", 1, 5, 2, 5, 2)], [], [],
               [PostRow("2026-W48", "2026-11-23", "p", "A point", [], 5, 2)])  # fmt: skip
    month_line = next(line for line in digest_text(corpus, d).splitlines() if line.startswith("• 2026-11"))
    assert "5" not in month_line.split(":", 1)[1].replace("1 ·", ""), month_line
    md = report_markdown(corpus, [d], "2026-11")
    assert "| 5 |" not in md, md
    assert ",5," not in report_csv(corpus, [d]) and ",5,<3," not in report_csv(corpus, [d])


def test_the_chart_hides_a_figure_by_the_people_behind_it_as_the_text_does(corpus: Corpus) -> None:
    """Five reflections and five answers from two people each: the text says "fewer than 3", so the chart must
    draw the same picture as for one reflection and one answer from one person (no bars, "<3"). The old chart
    hid by the figure's own size and drew bars of 5."""
    from bot.learning.digest import Digest, MonthRow

    def png(reflections: int, people: int, checks: int, check_people: int) -> bytes:
        row = MonthRow("2026-11", posts=4, reflections=reflections, people=people, checks=checks,
                       check_people=check_people)  # fmt: skip
        return participation_png(Digest(team="T0", channel="C0", months=[row], covered=[], not_covered=[]), "Test")

    two_people = png(5, 2, 5, 2)
    text = digest_text(corpus, Digest(team="T0", channel="C0", covered=[], not_covered=[],
                                      months=[MonthRow("2026-11", 4, 5, 2, 5, 2)]))  # fmt: skip
    assert "fewer than 3" in text and "5" not in text
    assert two_people == png(1, 1, 1, 1)  # hidden exactly as a figure of one person is
    assert png(5, 3, 5, 3) != png(1, 1, 1, 1)  # three people: shown (the comparison can tell)
