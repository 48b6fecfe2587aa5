"""Forgetting a workspace: everything it stored goes, in batches, and no other workspace is touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
from test_installations import installation

from bot.content.corpus import Corpus
from bot.reflections.store import SHARED, THREAD, Reflection, ReflectionStore, message_id
from bot.slack.app import make_client
from bot.slack.installations import RedisInstallationStore
from bot.slack.localslack import LocalSlack
from bot.storage import keys
from bot.storage.purge import Purger
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule, Subscriptions

NOW = datetime(2026, 11, 23, 9, 31, tzinfo=UTC)  # a Monday, just after the default post time


def fill(r: redis.Redis, slack: LocalSlack, corpus: Corpus, ws: Workspace, channels: int = 3) -> None:
    """What a workspace leaves in Redis in a normal week: tokens, subscriptions, posts, reflections."""
    RedisInstallationStore(r).save(installation(team=ws.team_id, enterprise=ws.enterprise_id, user_token="xoxp-u",
                                                bot_token=f"xoxb-{ws.team_id}"))  # fmt: skip
    subs = Subscriptions(r)
    poster = WeeklyPoster(r, make_client("xoxb-test", slack.url), corpus, lease_seconds=30, clock=lambda: NOW)
    store = ReflectionStore(r, 365, clock=NOW.timestamp)
    for i in range(channels):
        channel = f"C{ws.team_id}{i}"
        schedule = Schedule(id=f"s-{ws.team_id}-{i}", team=ws.team_id, enterprise=ws.enterprise_id, channel=channel,
                            source="slack")  # fmt: skip
        subs.save(schedule)
        result = poster.deliver(schedule, NOW)
        assert result.outcome == "posted"
        for u in range(2):
            ts = f"{NOW.timestamp() + u:.6f}"
            store.add(ws, Reflection(id=message_id(channel, ts), user=f"U{u}", point=result.point or "", kind=THREAD,
                                     visibility=SHARED, created_at=NOW.timestamp(), updated_at=NOW.timestamp(),
                                     channel=channel, thread_ts=result.ts, message_ts=ts, text="we talked"))  # fmt: skip


def snapshot(r: redis.Redis, needle: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in r.scan_iter("*"):
        if needle in key:
            kind = r.type(key)
            out[key] = {"string": r.get, "hash": r.hgetall, "set": r.smembers, "zset": lambda k: r.zrange(k, 0, -1)}[kind](key)
    return out


@pytest.mark.parametrize("batch", [3, 500])
def test_purge_leaves_nothing_of_one_workspace_and_touches_no_other(any_redis: redis.Redis, slack: LocalSlack,
                                                                    corpus: Corpus, batch: int) -> None:
    one, two = Workspace("T0ONE"), Workspace("T0TWO", "E0GRID")
    fill(any_redis, slack, corpus, one)
    fill(any_redis, slack, corpus, two)
    assert len(snapshot(any_redis, "T0ONE")) > 15
    before = snapshot(any_redis, "T0TWO")
    report = Purger(any_redis, batch=batch).purge(one)
    assert report.subscriptions_removed == 3 and report.keys_deleted > 15
    assert snapshot(any_redis, "T0ONE") == {}
    # The global indexes (subscriptions the clock walks, installations) no longer name it either.
    assert [s.team for s in Subscriptions(any_redis).all()] == ["T0TWO"] * 3
    assert [i.workspace for i in RedisInstallationStore(any_redis).installed()] == [two]
    after = snapshot(any_redis, "T0TWO")
    assert after == before


def test_purge_is_repeatable_and_resumes_after_a_crash(any_redis: redis.Redis, slack: LocalSlack, corpus: Corpus) -> None:
    one = Workspace("T0ONE")
    fill(any_redis, slack, corpus, one, channels=1)
    purger = Purger(any_redis)
    # A process that died mid-purge left the workspace pending and some keys behind.
    any_redis.sadd(keys.PURGE_PENDING, "slack|-|T0ONE")
    assert purger.pending() == [one]
    reports = purger.resume()
    assert [r.workspace for r in reports] == [one] and purger.pending() == []
    assert snapshot(any_redis, "T0ONE") == {}
    assert purger.purge(one).keys_deleted == 0  # again: nothing to do, no error
