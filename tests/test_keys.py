"""The key schema (``bot.storage.keys``): one hash-tagged layout, lifetimes on per-week keys, and the start-up
migration of keys an older version wrote, all against a real Redis."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart
from redis.crc import key_slot

from bot.content.corpus import Corpus
from bot.reflections.store import SHARED, THREAD, Reflection, ReflectionStore, message_id
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage import keys
from bot.storage.store import Workspace
from bot.weekly.poster import EVENT_TYPE, WeeklyPoster
from bot.weekly.schedules import Schedule, Subscriptions
from bot.weekly.summary import SummaryPoster
from conftest import ROOT, RedisServer, redis_env
from fakeslack import FakeSlack

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=LONDON)
FRIDAY = datetime(2026, 11, 27, 16, 0, tzinfo=LONDON)
LAYOUT = re.compile(r"^scr:\{(_|slack:(-|E\w+):T\w+)\}:")


def test_workspace_ids_cannot_reach_another_workspace() -> None:
    a, b, grid = Workspace("T1"), Workspace("T2"), Workspace("T1", enterprise_id="E1")
    assert len({keys.reflection(ws, "x") for ws in (a, b, grid)}) == 3
    assert keys.reflection(a, "x") == "scr:{slack:-:T1}:refl:x"
    assert keys.reflection(grid, "x") == "scr:{slack:E1:T1}:refl:x"
    for bad in ("T1:evil", "T1}x", "T{1", "", "T1|x"):
        with pytest.raises(ValueError):
            Workspace(bad)


def test_the_platform_is_part_of_the_identity() -> None:
    """The same id on two platforms names two tenants: their keys, slots' tags and index entries differ."""
    slack, teams = Workspace("T1"), Workspace("T1", platform="teams")
    assert keys.reflection(teams, "x") == "scr:{teams:-:T1}:refl:x"
    assert keys.reflection(slack, "x") != keys.reflection(teams, "x")
    assert keys.workspace_entry(slack) == "slack|-|T1" != keys.workspace_entry(teams)
    assert keys.subscription_entry(teams, "C1") == "teams|-|T1|C1"
    for ws in (slack, teams, Workspace("T2", "E1")):
        assert keys.parse_workspace_entry(keys.workspace_entry(ws)) == ws
        assert keys.parse_subscription_entry(keys.subscription_entry(ws, "C9")) == (ws, "C9")
    # entries an older version wrote are Slack's
    assert keys.parse_workspace_entry("E1|T2") == Workspace("T2", "E1")
    assert keys.parse_subscription_entry("-|T1|C1") == (slack, "C1")
    assert not keys.workspace_pattern(teams).startswith(keys.workspace_pattern(slack)[:-1])
    assert keys.org_pattern("E1") == "scr:{slack:E1:*"
    for bad in ("", "Slack", "sl:ack", "sl|ack", "_", "t{x"):
        with pytest.raises(ValueError):
            Workspace("T1", platform=bad)


def test_everything_the_bot_writes_is_in_the_layout_and_one_slot_per_workspace(
        redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> None:  # fmt: skip
    ws = Workspace("T0AAA", "E0ORG")
    sched = Schedule(id="team-a", team=ws.team_id, enterprise=ws.enterprise_id, channel="C0AAA", sectors=("health",))
    Subscriptions(redis_client).save(sched)
    poster = WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus)
    posted = poster.deliver(sched, MONDAY)
    assert posted.outcome == "posted"
    store = ReflectionStore(redis_client, 365)
    now = time.time()
    store.add(ws, Reflection(id=message_id("C0AAA", "2.2"), user="U1", point=posted.point or "", kind=THREAD,
                             visibility=SHARED, created_at=now, updated_at=now, channel="C0AAA", thread_ts=posted.ts,
                             text="A thought"))  # fmt: skip
    assert SummaryPoster(poster, store, corpus).deliver(sched, FRIDAY).outcome == "posted"

    written = sorted(redis_client.scan_iter("*"))
    assert len(written) >= 12, written
    assert all(LAYOUT.match(k) for k in written), [k for k in written if not LAYOUT.match(k)]
    slots = {key_slot(k.encode()) for k in written if not k.startswith(keys.GLOBAL)}
    assert len(slots) == 1  # a Cluster keeps every multi-key operation on this workspace valid


def test_per_week_keys_expire(redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> None:
    sched = Schedule(id="team-a", team="T0AAA", channel="C0AAA", sectors=("health",))
    poster = WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, retention_days=30)
    assert poster.deliver(sched, MONDAY).outcome == "posted"
    ws = sched.workspace
    for key in (keys.channel_posts(ws, "C0AAA"), keys.posted_channels(ws), keys.schedule_status(ws, "team-a"),
                keys.channel_week(ws, "C0AAA"), keys.weekly_claim(ws, "team-a", "2026-W48")):  # fmt: skip
        assert 0 < redis_client.ttl(key) <= 60 * 86400, key


def test_a_post_whose_metadata_names_the_old_key_is_recognised_after_the_upgrade(
        redis_client: redis.Redis, slack: FakeSlack, corpus: Corpus) -> None:  # fmt: skip
    """A crash mid-post just before an upgrade: the message in Slack carries the old key string."""
    sched = Schedule(id="team-a", team="T0AAA", channel="C0AAA", sectors=("health",))
    poster = WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus)
    claim = poster.claim_key(sched, "2026-W48")
    old = keys.legacy_name(claim)
    assert old == "scr:{-:T0AAA}:weekly:team-a:2026-W48"  # the previous version's name for the claim
    slack.clock = MONDAY.timestamp
    point = corpus.points[0].id
    make_client("xoxb-test", slack.url).chat_postMessage(
        channel="C0AAA", text="earlier", metadata={"event_type": EVENT_TYPE, "event_payload": {"key": old, "point": point}})
    redis_client.set(keys.attempt(claim), json.dumps({"point": point, "at": MONDAY.isoformat()}))
    assert poster.deliver(sched, MONDAY).outcome == "recovered"
    assert len(slack.channel_messages("C0AAA")) == 1


def old_layout(r: redis.Redis) -> dict[str, str]:
    """Data as the previous version wrote it: ``scr:<enterprise or ->:<team>:...`` and ``scr:_:...``."""
    now = time.time()
    sched = Schedule(id="slack-t0old-c0old", team="T0OLD", channel="C0OLD", source="slack", sectors=("health",))
    refl = Reflection(id="m-C0OLD-1.1", user="U0OLD", point="h14-sudi", kind=THREAD, visibility=SHARED,
                      created_at=now, updated_at=now, channel="C0OLD", thread_ts="1.0", text="Kept across the upgrade")
    r.sadd("scr:_:subscriptions", "-|T0OLD|C0OLD")
    r.set("scr:-:T0OLD:subscription:C0OLD", sched.to_json())
    r.set(f"scr:-:T0OLD:refl:{refl.id}", refl.to_json(), ex=86400)
    r.zadd("scr:-:T0OLD:refl-user:U0OLD", {refl.id: now})
    r.set("scr:-:T0OLD:weekly:slack-t0old-c0old:2026-W48", json.dumps({"state": "done", "owner": "x"}), ex=3600)
    r.hset("scr:E0ORG:T0OLD:schedule-status:s1", mapping={"last_week": "2026-W47"})
    return {"subscription": sched.id, "text": refl.text}


def run(redis_server: RedisServer, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **redis_env(redis_server), "SCR_DATA_DIR": str(tmp), "HOME": str(tmp)}
    return warmstart.run([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def test_start_up_migrates_keys_written_by_the_previous_version(redis_client: redis.Redis, redis_server: RedisServer,
                                                                tmp_path: Path) -> None:
    before = old_layout(redis_client)
    listed = run(redis_server, tmp_path, "schedule", "list")
    assert listed.returncode == 0, listed.stderr
    assert before["subscription"] in listed.stdout  # the old subscription is found after the upgrade
    exported = run(redis_server, tmp_path, "reflections", "export", "--team", "T0OLD", "--user", "U0OLD")
    assert exported.returncode == 0, exported.stderr
    assert before["text"] in exported.stdout  # and the person's record too

    now = sorted(redis_client.scan_iter("*"))
    assert all(LAYOUT.match(k) for k in now), now
    assert "scr:{slack:E0ORG:T0OLD}:schedule-status:s1" in now
    assert 0 < redis_client.ttl("scr:{slack:-:T0OLD}:weekly:slack-t0old-c0old:2026-W48") <= 3600  # lifetimes move too
    assert keys.migrate(redis_client).current  # idempotent: nothing left to do
    assert sorted(redis_client.scan_iter("*")) == now


def test_migration_never_overwrites_newer_data(redis_client: redis.Redis) -> None:
    redis_client.set("scr:-:T0X:refl:a", "old")
    redis_client.set("scr:{-:T0X}:refl:a", "new")
    redis_client.set("scr:-:T0X:refl:b", "only-old")
    redis_client.set("scr:{slack:-:T0X}:refl:a", "newer")
    redis_client.set("scr:{-:T0X}:refl:c", "old")
    result = keys.migrate(redis_client)
    assert (result.moved, result.kept) == (2, 2)
    assert redis_client.get("scr:{slack:-:T0X}:refl:a") == "newer"
    assert redis_client.get("scr:{slack:-:T0X}:refl:b") == "only-old"
    assert redis_client.get("scr:{slack:-:T0X}:refl:c") == "old"


def test_an_action_is_sealed_an_older_plaintext_one_still_reads_and_rotation_seals_and_moves_it(
        redis_client: redis.Redis) -> None:  # fmt: skip
    """An agreed action's record is sealed with the workspace's data key (its words are a team's and a
    person's); one an older version wrote in clear still reads, its next write seals it, ``keys rotate`` seals
    what is left, and ``keys rotate --data-keys`` moves it to the new data key, still readable."""
    import json
    from dataclasses import asdict

    from bot.briefings.sessions import Action, SessionStore
    from bot.config import parse_master_key
    from bot.storage import crypto
    from conftest import MASTER_KEY

    ws = Workspace("T0ACT")
    sessions = SessionStore(redis_client, 30)
    new = Action(id="V0SEALED", channel="C1", ts="1.0", theme="neglect", what="Ring the health visitor weekly",
                 owner="U0ANN", due="2099-01-01", facilitator="U0LEAD", created_at=1.0)  # fmt: skip
    assert sessions.add_action(ws, new) and not sessions.add_action(ws, new)  # a retry: one action
    raw = redis_client.get(keys.action(ws, new.id))
    assert raw.startswith(crypto.SEALED) and "health visitor" not in raw
    assert sessions.action(ws, new.id) == new and [a.id for a in sessions.actions_of(ws, "U0ANN")] == [new.id]

    old = Action(id="V0PLAIN", channel="C1", ts="1.0", theme="neglect", what="Check the chronology monthly",
                 owner="U0BEN", due="2099-01-01", facilitator="U0LEAD", created_at=2.0)  # fmt: skip
    redis_client.set(keys.action(ws, old.id), json.dumps(asdict(old)), ex=3600)  # as an older version wrote it
    assert keys.is_sealed(keys.action(ws, old.id))
    assert sessions.action(ws, old.id) == old
    keyring = crypto.Keyring(parse_master_key("SCR_MASTER_KEY", MASTER_KEY))  # the tests' key (conftest)
    assert crypto.rotate(redis_client, keyring).sealed >= 1
    assert redis_client.get(keys.action(ws, old.id)).startswith(crypto.SEALED)
    assert 0 < redis_client.ttl(keys.action(ws, old.id)) <= 3600
    kid = redis_client.get(keys.action(ws, new.id)).split(":")[1]
    crypto.rotate_data_keys(redis_client, keyring, grace=0)
    assert redis_client.get(keys.action(ws, new.id)).split(":")[1] != kid  # re-encrypted under the new data key
    assert sessions.action(ws, new.id) == new and sessions.action(ws, old.id) == old
