"""A bank holiday moves the weekly post to the next working day, unless the schedule says skip or post.

In-process: a real ``WeeklyPoster`` against real Redis and the local Slack, time passed in. End to end: the
signed ``/scr subscribe`` into the running bot, then real ``scr-bot schedule run-due --now`` processes.
Dates: Monday 31 August 2026 is England's (and Northern Ireland's) summer bank holiday, not Scotland's;
Monday 3 August 2026 is Scotland's; Christmas week 2026 has Friday 25 December, then Monday 28 December
(Boxing Day observed) and Friday 1 January 2027.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.config import Settings
from bot.content.corpus import Corpus
from bot.content.yamlfile import ProblemsError
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.storage.wssettings import WorkspaceSettings
from bot.weekly.poster import WeeklyPoster, week_for
from bot.weekly.schedules import Schedule, load_yaml_schedules, parse_subscribe
from conftest import ROOT, BotProcess, RedisServer, bot_env, command_answer
from fakeslack import FakeSlack

LONDON = ZoneInfo("Europe/London")
ENGLAND, SCOTLAND = Workspace("T0ENG"), Workspace("T0SCO")


def at(text: str) -> datetime:
    """A London wall-clock time, e.g. at('2026-08-31 09:30')."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def schedule(ws: Workspace = ENGLAND, **kw) -> Schedule:  # noqa: ANN003
    base = dict(id=f"ward-{ws.team_id.lower()}", team=ws.team_id, channel=f"C{ws.team_id[1:]}", post="30 9 * * mon",
                summary="0 16 * * fri", timezone="Europe/London")  # fmt: skip
    base.update(kw)
    return Schedule(**base)


def weekly_posts(slack: FakeSlack, channel: str) -> list[dict]:
    return [m for m in slack.channel_messages(channel) if (m.get("metadata") or {}).get("event_type") == "scr_weekly_post"]


def posted_at(slack: FakeSlack, channel: str) -> list[str]:
    """When the local Slack received each weekly post, as a London date and time."""
    return [f"{datetime.fromtimestamp(float(m['ts']), LONDON):%Y-%m-%d %H:%M}" for m in weekly_posts(slack, channel)]


@pytest.fixture
def poster(redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> WeeklyPoster:
    return WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus,
                        lease_seconds=30, workspace_settings=WorkspaceSettings(redis_client, Settings()))  # fmt: skip


def run(poster: WeeklyPoster, slack: FakeSlack, s: Schedule, when: str) -> str:
    """The clock's sweep at ``when`` (London): the local Slack's clock says the same time."""
    now = at(when)
    slack.clock = now.timestamp
    (result,) = poster.deliver_all([s], now)
    return result.outcome


def test_the_summer_bank_holiday_moves_a_monday_post_to_tuesday_at_the_same_time(poster: WeeklyPoster,
                                                                                 slack: FakeSlack) -> None:
    s = schedule()
    assert run(poster, slack, s, "2026-08-31 09:30") == "not_due"  # the bank holiday: nothing
    assert run(poster, slack, s, "2026-08-31 15:00") == "not_due"
    assert run(poster, slack, s, "2026-09-01 09:29") == "not_due"
    assert run(poster, slack, s, "2026-09-01 09:30") == "posted"
    assert run(poster, slack, s, "2026-09-01 12:00") == "already"  # exactly once: the claim is still the week's
    assert posted_at(slack, s.channel) == ["2026-09-01 09:30"]
    assert weekly_posts(slack, s.channel)[0]["metadata"]["event_payload"]["week"] == "2026-W36"
    assert run(poster, slack, s, "2026-09-07 09:30") == "posted"  # an ordinary week after it is not moved
    assert posted_at(slack, s.channel) == ["2026-09-01 09:30", "2026-09-07 09:30"]


def test_skip_posts_nothing_that_week_and_post_posts_on_the_monday(poster: WeeklyPoster, slack: FakeSlack) -> None:
    skip = schedule(id="ward-skip", channel="C0SKIP", on_bank_holiday="skip")
    keep = schedule(id="ward-post", channel="C0POST", on_bank_holiday="post")
    assert run(poster, slack, skip, "2026-08-31 09:29") == "not_due"
    for when in ("2026-08-31 09:30", "2026-09-01 09:30", "2026-09-04 15:59"):
        assert run(poster, slack, skip, when) == "holiday"
    assert weekly_posts(slack, "C0SKIP") == []
    assert run(poster, slack, skip, "2026-09-07 09:30") == "posted"  # the next week as usual
    assert run(poster, slack, keep, "2026-08-31 09:30") == "posted"
    assert posted_at(slack, "C0POST") == ["2026-08-31 09:30"]


def test_scotland_posts_on_englands_bank_holiday_and_moves_on_its_own(poster: WeeklyPoster, slack: FakeSlack,
                                                                      redis_client: redis.Redis) -> None:
    WorkspaceSettings(redis_client, Settings()).change(SCOTLAND, "bank-holidays", "scotland")
    scots, english = schedule(SCOTLAND), schedule(ENGLAND)
    # Both workspaces in one run: each its own calendar (the cached week is keyed by the calendar too).
    now = at("2026-08-31 09:30")
    slack.clock = now.timestamp
    outcomes = {r.schedule: r.outcome for r in poster.deliver_all([english, scots], now)}
    assert outcomes == {english.id: "not_due", scots.id: "posted"}
    assert run(poster, slack, scots, "2026-08-03 09:30") == "not_due"  # Scotland's summer bank holiday
    assert run(poster, slack, english, "2026-08-03 09:30") == "posted"
    assert run(poster, slack, scots, "2026-08-04 09:30") == "posted"
    assert posted_at(slack, scots.channel) == ["2026-08-31 09:30", "2026-08-04 09:30"]  # in the order run


def test_christmas_week_2026(poster: WeeklyPoster, slack: FakeSlack) -> None:
    friday = schedule(id="ward-fri", channel="C0FRI", post="30 9 * * fri", summary="0 16 * * fri")
    monday = schedule(id="ward-mon", channel="C0MON")
    # Friday 25 December: no working day is left that week before the summary, so no post; nor on 1 January.
    assert run(poster, slack, friday, "2026-12-18 09:30") == "posted"
    assert run(poster, slack, friday, "2026-12-25 09:30") == "holiday"
    assert run(poster, slack, friday, "2026-12-26 10:00") == "holiday"
    assert run(poster, slack, friday, "2027-01-01 09:30") == "holiday"
    assert run(poster, slack, friday, "2027-01-08 09:30") == "posted"
    assert posted_at(slack, "C0FRI") == ["2026-12-18 09:30", "2027-01-08 09:30"]
    # Monday 21 December is a working day; Monday 28 December (Boxing Day observed) moves to Tuesday 29.
    assert run(poster, slack, monday, "2026-12-21 09:30") == "posted"
    assert run(poster, slack, monday, "2026-12-28 09:30") == "not_due"
    assert run(poster, slack, monday, "2026-12-29 09:30") == "posted"
    assert posted_at(slack, "C0MON") == ["2026-12-21 09:30", "2026-12-29 09:30"]


def test_a_move_never_lands_after_the_summary_and_the_summary_time_stays() -> None:
    from bot.config import WorkingHours

    england = WorkingHours()
    moved = week_for(schedule(summary="0 16 * * wed"), at("2026-08-31 12:00"), england)
    assert moved.post_at == at("2026-09-01 09:30") and moved.summary_at == at("2026-09-02 16:00")
    assert moved.planned_at == at("2026-08-31 09:30") and moved.holiday.isoformat() == "2026-08-31"
    # The summary on Tuesday at 09:00: Tuesday 09:30 would come after it, so that week has no post.
    tight = week_for(schedule(summary="0 9 * * tue"), at("2026-08-31 12:00"), england)
    assert tight.skipped and tight.summary_at == at("2026-09-01 09:00")
    # A workspace that works Monday to Thursday, with Thursday off that week: the move skips to Thursday.
    four_days = WorkingHours(days=frozenset({0, 3}))
    assert week_for(schedule(), at("2026-08-31 12:00"), four_days).post_at == at("2026-09-03 09:30")


def test_the_bank_holiday_settings_are_read_once_per_run_not_once_per_post(poster: WeeklyPoster,
                                                                           redis_client: redis.Redis) -> None:
    many = [schedule(ws, id=f"ward-{ws.team_id.lower()}-{i}", channel=f"C{i:04d}") for ws in (ENGLAND, SCOTLAND)
            for i in range(20)]  # fmt: skip
    redis_client.config_resetstat()
    results = poster.deliver_all(many, at("2026-08-31 08:00"))  # nothing due yet: only the calendars are read
    assert {r.outcome for r in results} == {"not_due"}
    assert redis_client.info("commandstats")["cmdstat_hgetall"]["calls"] == 2  # one per workspace


# ----- the schedule's rule: YAML and /scr subscribe ----------------------------------------------
def test_yaml_schedules_take_a_rule_and_a_wrong_one_is_a_file_line_error(tmp_path: Path, corpus: Corpus) -> None:
    (tmp_path / "a.yaml").write_text(
        "schedules:\n"
        "  - id: ward-skip\n    channel: C0SKIP\n    when: {day: monday, time: '09:30'}\n    on_bank_holiday: skip\n"
        "  - id: ward-default\n    channel: C0DEF\n    when: {day: monday, time: '09:30'}\n"
    )
    rules = {s.id: s.on_bank_holiday for s in load_yaml_schedules(tmp_path, corpus, "Europe/London", None)}
    assert rules == {"ward-skip": "skip", "ward-default": "move"}
    (tmp_path / "a.yaml").write_text(
        "schedules:\n  - id: ward-x\n    channel: C0X\n    when: {day: monday, time: '09:30'}\n    on_bank_holiday: later\n"
    )
    with pytest.raises(ProblemsError) as err:
        load_yaml_schedules(tmp_path, corpus, "Europe/London", None)
    (problem,) = err.value.problems
    assert str(problem).startswith(f"{tmp_path / 'a.yaml'}:5: ") and "move, skip, post" in str(problem)


def test_subscribe_takes_holidays_and_a_rule() -> None:
    def resolve(word: str) -> None:
        return None

    assert parse_subscribe(["monday", "09:30"], resolve).on_bank_holiday == "move"
    req = parse_subscribe(["monday", "holidays", "skip", "10:00"], resolve)
    assert (req.on_bank_holiday, req.time, req.unknown) == ("skip", "10:00", [])
    assert parse_subscribe(["Holidays", "POST"], resolve).on_bank_holiday == "post"
    assert parse_subscribe(["holidays", "later"], resolve).unknown == ["holidays later"]
    assert parse_subscribe(["holidays"], resolve).unknown == ["holidays"]


# ----- end to end: /scr subscribe, then the clock's run-due processes ------------------------------
def test_end_to_end_a_subscribed_channel_moves_and_one_that_said_skip_does_not_post(
        bot: BotProcess, module_slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis,
        tmp_path: Path) -> None:  # fmt: skip
    moved = command_answer(bot, module_slack, "subscribe monday 09:30", channel="C0MOVE")
    assert moved["text"].startswith("<@U0AAA> set up"), moved
    skipped = command_answer(bot, module_slack, "subscribe monday 09:30 holidays skip", channel="C0NOPOST")
    assert skipped["text"].startswith("<@U0AAA> set up") and "skips" in skipped["text"], skipped
    env = bot_env(module_slack, redis_server.url, tmp_path)

    def run_due(when: str, **extra: str) -> str:
        module_slack.clock = at(when).timestamp
        done = warmstart.run([sys.executable, "-m", "bot", "schedule", "run-due", "--now", at(when).isoformat()],
                              capture_output=True, text=True, env={**env, **extra}, cwd=ROOT, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    monday = run_due("2026-08-31 09:31")
    assert "slack-t0aaa-c0move 2026-W36: not_due" in monday and "slack-t0aaa-c0nopost 2026-W36: holiday" in monday
    assert weekly_posts(module_slack, "C0MOVE") == [] and weekly_posts(module_slack, "C0NOPOST") == []
    tuesday = run_due("2026-09-01 09:31")
    assert "slack-t0aaa-c0move 2026-W36: posted" in tuesday, tuesday
    assert "slack-t0aaa-c0nopost 2026-W36: holiday" in tuesday
    assert "slack-t0aaa-c0move 2026-W36: already" in run_due("2026-09-01 09:45")
    assert len(weekly_posts(module_slack, "C0MOVE")) == 1 and weekly_posts(module_slack, "C0NOPOST") == []
    # SCR_BANK_HOLIDAYS is the default for workspaces that set none: Scotland's 3 August moves the post too.
    assert "slack-t0aaa-c0move 2026-W32: not_due" in run_due("2026-08-03 09:31", SCR_BANK_HOLIDAYS="scotland")
    assert "slack-t0aaa-c0move 2026-W32: posted" in run_due("2026-08-04 09:31", SCR_BANK_HOLIDAYS="scotland")
