"""The weekly post: timing, rotation and exactly-once delivery, with real Redis and the local Slack.

Time is passed in explicitly (a controllable clock): nothing here sleeps to wait for a schedule.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from blockkit import assert_valid_message, dumps
from bot.content.corpus import Corpus
from bot.content.yamlfile import ProblemsError
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster, week_for
from bot.weekly.rotation import Rotation
from bot.weekly.schedules import Schedule, check_cron, load_yaml_schedules
from conftest import redis_env
from fakeslack import FakeSlack

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    """A London wall-clock time, e.g. at('2026-11-23 09:30')."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def schedule(**kw) -> Schedule:  # noqa: ANN003
    base = dict(id="team-a", team="T0AAA", channel="C0AAA", post="30 9 * * mon", summary="0 16 * * fri",
                timezone="Europe/London", sectors=("health",))  # fmt: skip
    base.update(kw)
    return Schedule(**base)


@pytest.fixture
def poster(redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> WeeklyPoster:
    return WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, lease_seconds=30)


# ----- timing ---------------------------------------------------------------------------------
def test_week_and_post_time_follow_the_london_wall_clock_across_clock_changes() -> None:
    s = schedule(post="0 9 * * mon")
    before = week_for(s, at("2026-03-25 12:00"))  # week of Mon 23 March (GMT)
    after = week_for(s, at("2026-04-01 12:00"))  # week of Mon 30 March (BST)
    assert before.post_at.astimezone(LONDON).hour == 9 and before.post_at.utcoffset().total_seconds() == 0
    assert after.post_at.astimezone(LONDON).hour == 9 and after.post_at.astimezone(UTC).hour == 8
    autumn = week_for(s, at("2026-10-28 12:00"))
    assert autumn.post_at.astimezone(UTC).hour == 9  # back to GMT after 25 October


def test_iso_week_uses_the_iso_year() -> None:
    assert week_for(schedule(), at("2027-01-01 12:00")).key == "2026-W53"
    assert week_for(schedule(), at("2024-12-30 12:00")).key == "2025-W01"


def test_daily_crons_are_refused() -> None:
    with pytest.raises(ValueError, match="more than once a week"):
        check_cron("30 9 * * *", "Europe/London")
    assert check_cron("30 9 * * mon", "Europe/London")


@pytest.mark.parametrize(
    ("cron", "zone", "problem"),
    [
        # Skipped local times on a day the schedule fires: the post would run late.
        ("30 1 * * sun", "Europe/London", "01:30 does not exist in Europe/London on Sunday 29 March 2026"),
        ("30 2 * * sun", "America/New_York", "02:30 does not exist in America/New_York on Sunday 8 March 2026"),
        ("0 2 * * sun", "Australia/Lord_Howe", "02:00 does not exist in Australia/Lord_Howe on Sunday 4 October 2026"),
        # Repeated local times: the post would be due twice.
        ("30 1 * * sun", "America/New_York", "01:30 happens twice in America/New_York on Sunday 1 November 2026"),
        ("30 2 * * sun", "Australia/Sydney", "02:30 happens twice in Australia/Sydney on Sunday 5 April 2026"),
        # No clock change on that day or at that time, or none at all in that zone: accepted.
        ("30 1 * * mon", "Europe/London", None),
        ("30 2 * * sun", "Europe/London", None),
        ("59 0 * * sun", "Europe/London", None),
        ("30 2 * * sun", "Asia/Kolkata", None),
        ("30 1 * * sun", "UTC", None),
        ("30 2 * * mon", "America/New_York", None),
    ],
)
def test_local_times_the_clock_change_skips_or_repeats_are_refused_in_any_zone(
        cron: str, zone: str, problem: str | None) -> None:  # fmt: skip
    from datetime import date

    if problem is None:
        assert check_cron(cron, zone, today=date(2026, 1, 1)) == cron
    else:
        with pytest.raises(ValueError, match=problem):
            check_cron(cron, zone, today=date(2026, 1, 1))


def test_not_due_before_post_time_and_never_stale_after_summary(poster: WeeklyPoster, slack: FakeSlack) -> None:
    s = schedule()
    assert poster.deliver(s, at("2026-11-23 09:29")).outcome == "not_due"
    assert poster.deliver(s, at("2026-11-27 16:00")).outcome == "stale"  # down all week: that week is skipped
    assert not slack.calls_to("chat.postMessage")
    caught_up = poster.deliver(s, at("2026-11-25 14:00"))  # came back mid-week: catch up once
    assert caught_up.outcome == "posted"
    assert poster.deliver(s, at("2026-11-25 14:05")).outcome == "already"
    assert len(slack.ok_calls("chat.postMessage")) == 1


# ----- the post -----------------------------------------------------------------------------------
def test_the_post_has_the_point_questions_citation_invitation_and_metadata(poster: WeeklyPoster, slack: FakeSlack,
                                                                          corpus: Corpus) -> None:
    result = poster.deliver(schedule(), at("2026-11-23 09:30"))
    assert result.outcome == "posted"
    (call,) = slack.ok_calls("chat.postMessage")
    msg = call.params
    assert_valid_message(msg)
    text = dumps(msg)
    point = corpus.by_id[result.point]
    assert msg["blocks"][0]["type"] == "header" and msg["blocks"][0]["text"]["text"] == "Learning point of the week"
    assert "Questions for your team" in text
    assert sum(q in text for q in point.questions) >= 2
    assert corpus.briefings[point.source.briefing].short_title in text
    assert "Talk it through in this thread" in text
    assert "scr_read_more" in text
    assert msg["metadata"]["event_type"] == "scr_weekly_post"
    assert msg["metadata"]["event_payload"] == {"key": "scr:{slack:-:T0AAA}:weekly:team-a:2026-W48", "schedule": "team-a",
                                                "week": "2026-W48", "point": point.id}  # fmt: skip
    if point.content_note:
        note = next(i for i, b in enumerate(msg["blocks"]) if "Content note" in json.dumps(b))
        assert note < next(i for i, b in enumerate(msg["blocks"]) if point.title in json.dumps(b))


def test_the_thread_is_recorded_for_reflections_and_week_lookup(poster: WeeklyPoster, redis_client: redis.Redis) -> None:
    result = poster.deliver(schedule(), at("2026-11-23 09:30"))
    record = json.loads(redis_client.get(f"scr:{{slack:-:T0AAA}}:thread:C0AAA:{result.ts}"))
    assert record["point"] == result.point and record["week"] == "2026-W48"
    assert 0 < redis_client.ttl(f"scr:{{slack:-:T0AAA}}:thread:C0AAA:{result.ts}") <= 365 * 86400
    assert json.loads(redis_client.get("scr:{slack:-:T0AAA}:channel-week:C0AAA"))["point"] == result.point


# ----- exactly once in one process -------------------------------------------------------------
def test_many_concurrent_deliveries_post_once(poster: WeeklyPoster, slack: FakeSlack) -> None:
    slack.delay["chat.postMessage"] = 0.3
    results = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        results.append(poster.deliver(schedule(), at("2026-11-23 09:30")))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.outcome for r in results).count("posted") == 1
    assert {r.outcome for r in results} <= {"posted", "busy", "already"}
    assert len(slack.ok_calls("chat.postMessage")) == 1


def test_force_posts_again(poster: WeeklyPoster, slack: FakeSlack) -> None:
    poster.deliver(schedule(), at("2026-11-23 09:30"))
    assert poster.deliver(schedule(), at("2026-11-23 10:00"), ignore_time=True).outcome == "already"
    assert poster.deliver(schedule(), at("2026-11-23 10:00"), force=True).outcome == "posted"
    assert len(slack.ok_calls("chat.postMessage")) == 2


def test_recovery_finds_a_post_that_reached_slack_before_a_crash(poster: WeeklyPoster, slack: FakeSlack,
                                                                 redis_client: redis.Redis) -> None:
    """State as a process leaves it when it dies after Slack accepted the post but before recording it."""
    s = schedule()
    slack.clock = at("2026-11-23 09:31").timestamp
    week = week_for(s, at("2026-11-23 09:30"))
    key = WeeklyPoster.claim_key(s, week.key)
    point = poster.rotation.next_point(s)
    redis_client.set(key + ":attempt", json.dumps({"point": point.id, "owner": "dead", "at": "x"}))
    make_client("xoxb-test", slack.url).chat_postMessage(
        channel="C0AAA", text="earlier", metadata={"event_type": "scr_weekly_post", "event_payload": {"key": key, "point": point.id}}
    )
    result = poster.deliver(s, at("2026-11-23 09:45"))
    assert result.outcome == "recovered" and result.point == point.id
    assert len(slack.ok_calls("chat.postMessage")) == 1  # only the "earlier" one
    assert slack.calls_to("conversations.history")[0].params["include_all_metadata"] in (True, "true", "1", 1)
    assert poster.deliver(s, at("2026-11-23 10:00")).outcome == "already"
    assert poster.rotation.state(s).posted == frozenset({point.id})


# ----- failures and fan-out --------------------------------------------------------------------
def test_permanent_failure_is_recorded_and_does_not_block_other_channels(poster: WeeklyPoster, slack: FakeSlack,
                                                                        redis_client: redis.Redis) -> None:
    slack.channel_errors["C0GONE"] = "not_in_channel"
    good = [schedule(id=f"ok-{i}", channel=f"C0OK{i}") for i in range(5)]
    bad = schedule(id="gone", channel="C0GONE")
    results = {r.schedule: r for r in poster.deliver_all([bad, *good], at("2026-11-23 09:30"))}
    assert results["gone"].outcome == "failed" and results["gone"].error == "not_in_channel"
    assert all(results[s.id].outcome == "posted" for s in good)
    status = poster.status(bad)
    assert status["last_error"] == "not_in_channel" and status["last_error_week"] == "2026-W48"
    assert poster.deliver(bad, at("2026-11-23 09:40")).outcome == "failed"  # not hammered every sweep


def test_rate_limit_and_server_errors_are_retried(poster: WeeklyPoster, slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=1, error="ratelimited", times=1)
    slack.fail("chat.postMessage", status=500, retry_after=None, error="internal_error", times=1)
    result = poster.deliver(schedule(), at("2026-11-23 09:30"))
    assert result.outcome == "posted"
    calls = [(c.method, c.status) for c in slack.calls if c.method in ("chat.postMessage", "conversations.history")]
    # 429: Slack did nothing, so it is retried at once; 500: it might have posted, so the history is checked first.
    # (The post's time is pretended, the poster's clock is real: the check reads the slice around each.)
    assert calls[:2] == [("chat.postMessage", 429), ("chat.postMessage", 500)]
    assert calls[2:-1] in ([("conversations.history", 200)], [("conversations.history", 200)] * 2)
    assert calls[-1] == ("chat.postMessage", 200)


def test_transient_failure_releases_the_claim_for_the_next_sweep(poster: WeeklyPoster, slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=503, retry_after=None, error="service_unavailable", times=10)
    first = poster.deliver(schedule(), at("2026-11-23 09:30"))
    assert first.outcome == "retry"
    slack.faults.clear()
    second = poster.deliver(schedule(), at("2026-11-23 09:40"))
    assert second.outcome in ("posted", "recovered")
    assert len(slack.ok_calls("chat.postMessage")) == 1


# ----- rotation ----------------------------------------------------------------------------------
def test_rotation_covers_every_point_before_repeating(redis_client: redis.Redis, corpus: Corpus) -> None:
    s = schedule(sectors=("education",), themes=())
    rotation = Rotation(redis_client, corpus)
    pool = {p.id for p in rotation.candidates(s)}
    seen = []
    for i in range(len(pool)):
        point = rotation.next_point(s)
        rotation.commit(s, point, f"2026-W{i:02d}")
        seen.append(point.id)
    assert sorted(seen) == sorted(pool)  # every matching point once
    nxt = rotation.next_point(s)
    rotation.commit(s, nxt, "2027-W01")
    assert rotation.state(s).cycle == 1 and rotation.state(s).posted == frozenset({nxt.id})


def test_rotation_avoids_the_same_theme_in_consecutive_weeks(redis_client: redis.Redis, corpus: Corpus) -> None:
    s = schedule(sectors=("police",))
    rotation = Rotation(redis_client, corpus)
    weeks = rotation.preview(s, 30)
    repeats = sum(1 for a, b in zip(weeks, weeks[1:], strict=False) if a.themes[0] == b.themes[0])
    assert repeats == 0


def test_rotation_order_is_the_same_in_every_process_and_commit_is_idempotent(redis_client: redis.Redis,
                                                                              redis_server, corpus: Corpus) -> None:  # noqa: ANN001
    s = schedule()
    a, b = Rotation(redis_client, corpus), Rotation(redis_server.client(), corpus)  # two connections, as two processes
    assert [p.id for p in a.preview(s, 8)] == [p.id for p in b.preview(s, 8)]
    first = a.next_point(s)
    a.commit(s, first, "2026-W48")
    b.commit(s, first, "2026-W48")  # the recovery path may commit the same week again
    assert a.state(s).posted == frozenset({first.id})
    assert a.preview(s, 1)[0].id != first.id
    other = schedule(id="team-b")
    assert [p.id for p in a.preview(other, 8)] != [p.id for p in a.preview(s, 8)]  # each schedule its own order


def test_a_full_year_of_weekly_posts_brings_practice_and_key_data_but_no_background(redis_client: redis.Redis,
                                                                                    corpus: Corpus) -> None:
    s = schedule(sectors=(), themes=())
    rotation = Rotation(redis_client, corpus)
    year = rotation.preview(s, 52)
    assert {p.kind for p in year} == {"practice", "key-data"}
    background = [p.id for p in corpus.points if p.kind == "background"]
    assert background and not set(background) & {p.id for p in rotation.candidates(s)}


def test_a_team_that_asks_for_background_gets_it_in_rotation(redis_client: redis.Redis, corpus: Corpus) -> None:
    s = schedule(sectors=("police",), themes=(), background=True)
    pool = {p.id for p in Rotation(redis_client, corpus).candidates(s)}
    assert {"p19-what-was-an-scr", "p14-about-this-briefing"} <= pool
    assert pool == {p.id for p in corpus.points if s.matches(p)}


def test_filters_that_match_only_background_still_post(redis_client: redis.Redis, corpus: Corpus) -> None:
    """A team whose filters match nothing but background has, in effect, asked for background."""
    background_only = Corpus(briefings=corpus.briefings, sectors=corpus.sectors, themes=corpus.themes,
                             points=[p for p in corpus.points if p.kind == "background"])  # fmt: skip
    s = schedule(sectors=(), themes=())
    picked = Rotation(redis_client, background_only).preview(s, 3)
    assert len(picked) == 3 and {p.kind for p in picked} == {"background"}


def test_few_matching_points_warn_when_the_first_repeat_comes(corpus: Corpus) -> None:
    from bot.weekly.rotation import repeat_warning

    narrow = schedule(sectors=("police",), themes=("cse",))
    n = len([p for p in corpus.points if narrow.matches(p) and p.kind != "background"])
    assert 0 < n < 13
    text = repeat_warning(corpus, narrow, at("2026-11-23 12:00"))
    assert text is not None and f"Only {n} learning points match" in text
    first_repeat = at("2026-11-30 09:30") + timedelta(weeks=n)  # Mondays from 30 Nov; the (n+1)-th post repeats
    assert f"from {first_repeat:%-d %B %Y}" in text
    assert repeat_warning(corpus, schedule(sectors=("police",), themes=()), at("2026-11-23 12:00")) is None


# ----- YAML schedules ------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "schedules"
    d.mkdir(exist_ok=True)
    (d / "s.yaml").write_text(text)
    return d


def test_yaml_schedules_load(tmp_path: Path, corpus: Corpus) -> None:
    d = write(tmp_path, """schedules:
  - id: ward-7
    channel: C0WARD7
    when: {day: tuesday, time: "08:45"}
    summary: {cron: "0 15 * * thu"}
    sectors: [health]
    themes: [sudi, infants]
""")
    (s,) = load_yaml_schedules(d, corpus, "Europe/London", None)
    assert (s.post, s.summary, s.sectors, s.themes, s.team) == ("45 8 * * tue", "0 15 * * thu", ("health",),
                                                                ("sudi", "infants"), "")  # fmt: skip
    assert s.background is False


def test_a_yaml_schedule_can_ask_for_background_points(tmp_path: Path, corpus: Corpus, redis_client: redis.Redis) -> None:
    d = write(tmp_path, "schedules:\n  - id: induction\n    channel: C0NEW\n    when: {day: monday, time: '09:30'}\n"
                        "    themes: [case-reviews]\n    background: true\n")  # fmt: skip
    (s,) = load_yaml_schedules(d, corpus, "Europe/London", None)
    kinds = {p.kind for p in Rotation(redis_client, corpus).candidates(s)}
    assert s.background and "background" in kinds


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('  - id: a\n    channel: C0A\n    when: {day: funday, time: "09:00"}\n', 4, "day 'funday'"),
        ('  - id: a\n    channel: C0A\n    when: {day: sunday, time: "01:30"}\n', 4, "the clocks go forward"),
        ('  - id: a\n    channel: C0A\n    when: {cron: "0 9 * * mon"}\n    sectors: [plumbing]\n', 5, "unknown sector"),
        ('  - id: a\n    channel: C0A\n    when: {cron: "0 9 * * *"}\n', 4, "more than once a week"),
        ('  - id: a\n    channel: nope\n    when: {cron: "0 9 * * mon"}\n', 3, "channel"),
        ('  - id: a\n    channel: C0A\n    when: {cron: "0 9 * * mon"}\n    timezone: Mars/Base\n', 5, "unknown time zone"),
    ],
)
def test_bad_yaml_schedules_name_file_and_line(tmp_path: Path, corpus: Corpus, body: str, line: int, message: str) -> None:
    d = write(tmp_path, "schedules:\n" + body)
    with pytest.raises(ProblemsError) as err:
        load_yaml_schedules(d, corpus, "Europe/London", None)
    text = str(err.value)
    assert f"{d / 's.yaml'}:" in text and message in text, text
    assert any(p.line == line for p in err.value.problems), [(p.line, p.message) for p in err.value.problems]


def test_shipped_example_schedule_is_valid(corpus: Corpus) -> None:
    from conftest import ROOT

    (example,) = load_yaml_schedules(ROOT / "schedules", corpus, "Europe/London", None)
    assert example.enabled is False and example.channel.startswith("C")


# ----- the summary's recovery, and the clock's jobs -------------------------------------------------
def test_summary_found_in_the_thread_after_a_crash_is_not_posted_again(poster: WeeklyPoster, slack: FakeSlack,
                                                                       redis_client: redis.Redis, corpus: Corpus) -> None:
    from bot.reflections.store import ReflectionStore
    from bot.weekly.summary import EVENT_TYPE, SummaryPoster

    s = schedule()
    slack.clock = at("2026-11-23 09:30").timestamp
    posted = poster.deliver(s, at("2026-11-23 09:30"))
    summaries = SummaryPoster(poster, ReflectionStore(redis_client, 365), corpus)
    key = "scr:{slack:-:T0AAA}:summary:team-a:2026-W48"
    redis_client.set(key + ":attempt", json.dumps({"thread_ts": posted.ts}))  # a process died mid-summary...
    make_client("xoxb-test", slack.url).chat_postMessage(  # ...after Slack had accepted it
        channel="C0AAA", thread_ts=posted.ts, text="summary", metadata={"event_type": EVENT_TYPE,
                                                                        "event_payload": {"key": key}})  # fmt: skip
    result = summaries.deliver(s, at("2026-11-27 16:05"))
    assert result.outcome == "recovered"
    assert len([m for m in slack.thread("C0AAA", posted.ts) if (m.get("metadata") or {}).get("event_type") == EVENT_TYPE]) == 1
    assert summaries.deliver(s, at("2026-11-27 16:10")).outcome == "already"


def test_the_clock_keeps_its_jobs_in_step_with_the_schedules(redis_client: redis.Redis, slack: FakeSlack,
                                                            redis_server, tmp_path: Path) -> None:  # noqa: ANN001
    from bot.config import load_settings
    from bot.ops.clock import Clock
    from bot.services import Services
    from bot.weekly.schedules import Subscriptions

    (tmp_path / "none").mkdir()  # an empty schedules folder: no admin schedules
    settings = load_settings({**redis_env(redis_server), "SCR_SCHEDULES_DIR": str(tmp_path / "none")}, dotenv=False)
    services = Services.create(settings)
    clock = Clock(services, make_client("xoxb-test", slack.url))
    subs = Subscriptions(redis_client)
    subs.save(schedule(id="slack-a", channel="C0A", source="slack"))
    clock.sync()
    clock.scheduler.start(paused=True)
    try:
        post, summary = clock.scheduler.get_job("post:slack-a"), clock.scheduler.get_job("summary:slack-a")
        assert post.next_run_time.astimezone(LONDON).strftime("%a %H:%M") == "Mon 09:30"
        assert summary.next_run_time.astimezone(LONDON).strftime("%a %H:%M") == "Fri 16:00"
        assert post.misfire_grace_time == 3600 and post.coalesce is True and post.max_instances == 1
        subs.save(schedule(id="slack-a", channel="C0A", source="slack", post="45 8 * * tue"))
        clock.sync()
        assert clock.scheduler.get_job("post:slack-a").next_run_time.astimezone(LONDON).strftime("%a %H:%M") == "Tue 08:45"
        subs.delete(Workspace("T0AAA"), "C0A")
        clock.sync()
        assert clock.scheduler.get_job("post:slack-a") is None and clock.scheduler.get_job("summary:slack-a") is None
    finally:
        clock.scheduler.shutdown(wait=False)
        services.store.close()
