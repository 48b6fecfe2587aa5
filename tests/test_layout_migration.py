"""The start-up migration to the platform-qualified key layout (``bot.storage.keys.migrate``), against a real
single Redis server and a real three-master Redis Cluster.

Keys written by both older layouts (``scr:-:T:...`` and ``scr:{-:T}:...``), of every type the bot uses and
with lifetimes, must come out under their new names with the same type, value and (about the same) TTL; global
index entries must be rewritten with their platform; a second start-up must not SCAN; a migration cut off
halfway must complete when run again; two processes starting at once must not lose or duplicate anything.
On a Cluster the new name usually hashes to another slot, which is what the previous RENAMENX-based
migration could not do (CROSSSLOT).
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
import redis

from bot.learning.quiz import QuizStore
from bot.storage import keys
from bot.storage.purge import Purger
from bot.storage.store import Workspace
from bot.weekly.schedules import Schedule, Subscriptions

CURRENT = re.compile(r"^scr:\{(_|_oauth|slack:(-|E\w+):T\w+)\}:")
BULK = 40  # extra keys per older layout, so batches and every cluster node are exercised
HOUR = 3600


def nodes(client: Any) -> list[redis.Redis]:
    """A plain client per primary (the one server if not a Cluster)."""
    if hasattr(client, "get_primaries"):
        return [n.redis_connection for n in client.get_primaries()]
    return [client]


def all_keys(client: Any) -> list[str]:
    return sorted(k for node in nodes(client) for k in node.scan_iter("*", count=1000))


def scans(client: Any) -> int:
    """SCAN commands the server(s) have run so far (INFO commandstats)."""
    return sum(int(node.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)) for node in nodes(client))


def snapshot(client: Any, key: str) -> tuple[str, Any]:
    kind = client.type(key)
    value = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
             "zset": lambda k: client.zrange(k, 0, -1, withscores=True)}[kind](key)  # fmt: skip
    return kind, value


def seed(r: Any) -> dict[str, tuple[str, int]]:
    """Data as the two previous versions wrote it; {old key: (expected new key, TTL in seconds or -1)}."""
    now = time.time()
    sched = Schedule(id="slack-t0old-c0old", team="T0OLD", channel="C0OLD", source="slack", sectors=("health",))
    expect: dict[str, tuple[str, int]] = {}

    def put(old: str, new: str, ttl: int = -1) -> None:
        if ttl > 0:
            r.expire(old, ttl)
        expect[old] = (new, ttl)

    # layout 1: no hash tag
    r.set("scr:-:T0OLD:subscription:C0OLD", sched.to_json())
    put("scr:-:T0OLD:subscription:C0OLD", "scr:{slack:-:T0OLD}:subscription:C0OLD")
    r.set("scr:-:T0OLD:refl:r1", json.dumps({"text": "Kept across the upgrade"}))
    put("scr:-:T0OLD:refl:r1", "scr:{slack:-:T0OLD}:refl:r1", HOUR)
    r.zadd("scr:-:T0OLD:refl-user:U0OLD", {"r1": now, "r0": now - 60})
    put("scr:-:T0OLD:refl-user:U0OLD", "scr:{slack:-:T0OLD}:refl-user:U0OLD", 2 * HOUR)
    r.hset("scr:E0ORG:T0OLD:schedule-status:s1", mapping={"last_week": "2026-W47", "error": ""})
    put("scr:E0ORG:T0OLD:schedule-status:s1", "scr:{slack:E0ORG:T0OLD}:schedule-status:s1")
    r.sadd("scr:_:subscriptions", "-|T0OLD|C0OLD")
    put("scr:_:subscriptions", keys.SUBSCRIPTIONS)
    # layout 2: hash-tagged, no platform
    r.set("scr:{-:T0TWO}:weekly:s2:2026-W48", json.dumps({"state": "done"}), ex=3 * HOUR)
    put("scr:{-:T0TWO}:weekly:s2:2026-W48", "scr:{slack:-:T0TWO}:weekly:s2:2026-W48", 3 * HOUR)
    r.hset("scr:{E0ORG:T0TWO}:quiz:people", mapping={"U1": json.dumps({"user": "U1"}), "U2": "{}"})
    put("scr:{E0ORG:T0TWO}:quiz:people", "scr:{slack:E0ORG:T0TWO}:quiz:people")
    r.sadd("scr:{-:T0TWO}:posted-channels", "C1", "C2")
    put("scr:{-:T0TWO}:posted-channels", "scr:{slack:-:T0TWO}:posted-channels", 4 * HOUR)
    r.zadd("scr:{-:T0TWO}:channel-posts:C1", {"1.1": 1.0, "2.2": 2.0})
    put("scr:{-:T0TWO}:channel-posts:C1", "scr:{slack:-:T0TWO}:channel-posts:C1")
    r.sadd("scr:{_}:subscriptions", "E0ORG|T0TWO|C2")  # the global index also exists in layout 2
    r.sadd(keys.QUIZ_WORKSPACES, "E0ORG|T0TWO", "-|T0OLD")
    r.sadd(keys.PURGE_PENDING, "-|T0GONE")
    r.hset(keys.INSTALLATIONS, "E0ORG|T0TWO", json.dumps({"team_id": "T0TWO", "enterprise_id": "E0ORG"}))
    for i in range(BULK):
        r.set(f"scr:-:T0B{i}:refl:x{i}", f"one-{i}", ex=HOUR)
        put(f"scr:-:T0B{i}:refl:x{i}", f"scr:{{slack:-:T0B{i}}}:refl:x{i}", HOUR)
        r.set(f"scr:{{-:T0C{i}}}:refl:y{i}", f"two-{i}")
        put(f"scr:{{-:T0C{i}}}:refl:y{i}", f"scr:{{slack:-:T0C{i}}}:refl:y{i}")
    # already current, or not a tenant's: left alone
    r.set("scr:{slack:-:T0CUR}:refl:z", "current")
    r.set("scr:{_oauth}:state:abc", "{}", ex=600)
    return expect


def expected_values(r: Any, expect: dict[str, tuple[str, int]]) -> dict[str, tuple[str, Any]]:
    values = {new: snapshot(r, old) for old, (new, _) in expect.items()}
    values[keys.SUBSCRIPTIONS] = ("set", {"slack|-|T0OLD|C0OLD", "slack|E0ORG|T0TWO|C2"})  # merged, rewritten
    return values


def check_migrated(r: Any, expect: dict[str, tuple[str, int]], values: dict[str, tuple[str, Any]]) -> None:
    for old, (new, ttl) in expect.items():
        assert r.exists(old) == 0, f"{old} still there"
        assert snapshot(r, new) == values[new], new
        if ttl > 0:
            assert ttl - 60 <= r.ttl(new) <= ttl, (new, r.ttl(new))
        else:
            assert r.ttl(new) == -1, new
    assert r.smembers(keys.QUIZ_WORKSPACES) == {"slack|E0ORG|T0TWO", "slack|-|T0OLD"}
    assert r.smembers(keys.PURGE_PENDING) == {"slack|-|T0GONE"}
    assert list(r.hgetall(keys.INSTALLATIONS)) == ["slack|E0ORG|T0TWO"]
    assert r.get("scr:{slack:-:T0CUR}:refl:z") == "current"
    assert 0 < r.ttl("scr:{_oauth}:state:abc") <= 600
    assert r.get(keys.LAYOUT) == str(keys.LAYOUT_VERSION)
    left = [k for k in all_keys(r) if not CURRENT.match(k)]
    assert left == []
    # the bot reads the migrated data through its own code
    assert "slack-t0old-c0old" in [s.id for s in Subscriptions(r).all()]
    assert Workspace("T0TWO", "E0ORG") in QuizStore(r).workspaces()
    assert Purger(r).pending() == [Workspace("T0GONE")]


def test_keys_of_both_older_layouts_move_with_type_value_and_ttl(any_redis: Any) -> None:
    expect = seed(any_redis)
    values = expected_values(any_redis, expect)
    result = keys.migrate(any_redis, batch=7)
    # every key moved, but the layout-1 subscriptions index, merged into the layout-2 one already there
    assert (result.moved, result.kept) == (len(expect) - 1, 1) and result.entries == 6, result
    check_migrated(any_redis, expect, values)


def test_a_second_start_reads_the_marker_and_does_not_scan(any_redis: Any) -> None:
    expect = seed(any_redis)
    values = expected_values(any_redis, expect)
    before = scans(any_redis)
    assert keys.migrate(any_redis, batch=50).moved == len(expect) - 1
    assert scans(any_redis) > before  # the counter does see the first run's SCANs
    after_first = scans(any_redis)
    for _ in range(3):
        assert keys.migrate(any_redis) == keys.Migration(current=True)
    assert scans(any_redis) == after_first
    check_migrated(any_redis, expect, values)


def limited(client: Any, name: str) -> Any:
    """A client logged in as an ACL user that may read every key but may not write the new name of any
    tenant ``T0Z...`` (on each node): its migration fails partway with NOPERM, as a crash would cut it."""
    for node in nodes(client):
        node.acl_setuser(name, enabled=True, passwords=["+pw"], commands=["+@all"], reset=True,
                         keys=["%R~*", "%W~scr:[^{]*", "~scr:{_}*", "%W~scr:{-:*", "%W~scr:{E0ORG:*",
                               "%W~scr:{slack:*:T0[^Z]*"])  # fmt: skip
    node = nodes(client)[0].connection_pool.connection_kwargs
    if hasattr(client, "get_primaries"):
        return redis.cluster.RedisCluster(host=node["host"], port=node["port"], username=name, password="pw",
                                          decode_responses=True)  # fmt: skip
    return redis.Redis(host=node["host"], port=node["port"], username=name, password="pw", decode_responses=True)


def test_a_migration_cut_off_halfway_completes_when_run_again(any_redis: Any) -> None:
    """Redis refuses one key's RESTORE partway (an ACL): keys of earlier batches are moved, those of the failing
    batch restored under the new name with the old one still there, the rest untouched, index entries still
    in the old form, no marker. A rerun finishes the job without losing or duplicating anything."""
    expect = seed(any_redis)
    any_redis.set("scr:-:T0ZZ:refl:z", "the key whose restore fails", ex=HOUR)
    expect["scr:-:T0ZZ:refl:z"] = ("scr:{slack:-:T0ZZ}:refl:z", HOUR)
    values = expected_values(any_redis, expect)
    cut = limited(any_redis, "cut-off-migrator")
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            keys.migrate(cut, batch=5)
    finally:
        cut.close()
        for node in nodes(any_redis):
            node.acl_deluser("cut-off-migrator")
    tenants = {old: new for old, (new, _) in expect.items() if new != keys.SUBSCRIPTIONS}
    both = [old for old, new in tenants.items() if any_redis.exists(old) and any_redis.exists(new)]
    untouched = [old for old, new in tenants.items() if any_redis.exists(old) and not any_redis.exists(new)]
    assert both and untouched  # it really stopped partway, between RESTORE and DEL for some keys
    assert any_redis.get(keys.LAYOUT) is None and any_redis.get(keys.LAYOUT_LOCK) is None
    assert any_redis.sismember(keys.PURGE_PENDING, "-|T0GONE")  # index entries not rewritten yet
    result = keys.migrate(any_redis, batch=5)
    assert result.kept >= len(both)  # restored copies kept, their old names deleted
    check_migrated(any_redis, expect, values)


def test_a_lock_left_by_a_dead_migrator_expires_and_the_next_start_migrates(any_redis: Any) -> None:
    expect = seed(any_redis)
    values = expected_values(any_redis, expect)
    any_redis.set(keys.LAYOUT_LOCK, "a-process-that-was-killed", px=1500)
    started = time.monotonic()
    assert keys.migrate(any_redis, batch=9, wait=20).moved == len(expect) - 1
    assert time.monotonic() - started >= 1.0  # it waited for the lock rather than migrating beside it
    check_migrated(any_redis, expect, values)


def test_two_processes_starting_at_once_move_each_key_exactly_once(any_redis: Any) -> None:
    expect = seed(any_redis)
    values = expected_values(any_redis, expect)
    results: list[keys.Migration] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def start() -> None:
        try:
            gate.wait()
            results.append(keys.migrate(any_redis, batch=3, wait=60))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(r.current for r in results) == [False, True]  # one migrated, the other waited for it
    assert sum(r.moved for r in results) == len(expect) - 1 and sum(r.kept for r in results) == 1
    check_migrated(any_redis, expect, values)


def test_a_cluster_holding_old_keys_migrates_across_slots(redis_cluster: Any) -> None:
    """The previous migration renamed keys in place (RENAMENX): on a Cluster the new name is in another slot,
    and the whole start-up migration failed with CROSSSLOT. It must move them."""
    redis_cluster.flush()
    client = redis_cluster.client()
    try:
        client.set("scr:-:T0OLD:refl:r1", "old layout 1", ex=HOUR)
        client.set("scr:{-:T0OLD}:refl:r2", "old layout 2")
        keys.migrate(client)
        assert client.get("scr:{slack:-:T0OLD}:refl:r1") == "old layout 1"
        assert client.get("scr:{slack:-:T0OLD}:refl:r2") == "old layout 2"
        assert 0 < client.ttl("scr:{slack:-:T0OLD}:refl:r1") <= HOUR
        assert [k for k in all_keys(client) if not CURRENT.match(k)] == []
    finally:
        client.close()


def test_per_channel_digest_readers_merge_into_their_workspaces_once_across_slots(any_redis: Any) -> None:
    """Layout 3 kept digest readers per channel; layout 4 per workspace. Two processes starting at once merge
    every channel's list into its own workspace's (on a Cluster, workspaces in many slots, each merge one
    script in its workspace's slot), delete the old lists, and a later full run changes nothing."""
    any_redis.set(keys.LAYOUT, "3")
    expected: dict[Workspace, set[str]] = {}
    for i in range(BULK):
        ws = Workspace(f"T0R{i}", "E0ORG" if i % 3 == 0 else None)
        for c in range(3):
            any_redis.sadd(f"{ws.tag}:digest:readers:C{c}", f"U0{i}X{c}", "U0SHARED")
        expected[ws] = {f"U0{i}X{c}" for c in range(3)} | {"U0SHARED"}
    named = Workspace("T0R0", "E0ORG")
    any_redis.sadd(keys.digest_readers(named), "U0ALREADY")  # a reader named in the workspace since: kept
    expected[named].add("U0ALREADY")
    any_redis.sadd("scr:{slack:-:T0R1}:digest:readers:C9:odd", "U0NOT")  # not a channel's list: left alone

    results: list[keys.Migration] = []
    threads = [threading.Thread(target=lambda: results.append(keys.migrate(any_redis, batch=7, wait=60)))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(r.current for r in results) == [False, True]
    assert sum(r.readers for r in results) == 3 * BULK
    for ws, readers in expected.items():
        assert any_redis.smembers(keys.digest_readers(ws)) == readers, ws
    left = [k for k in all_keys(any_redis) if re.search(r":digest:readers:C\d+$", k)]
    assert left == [] and any_redis.get(keys.LAYOUT) == str(keys.LAYOUT_VERSION)
    assert any_redis.smembers("scr:{slack:-:T0R1}:digest:readers:C9:odd") == {"U0NOT"}

    before = {k: snapshot(any_redis, k) for k in all_keys(any_redis)}
    any_redis.delete(keys.LAYOUT)  # a full second run, as after a restore of this data
    again = keys.migrate(any_redis, batch=7)
    assert (again.moved, again.kept, again.entries, again.readers) == (0, 0, 0, 0)
    assert {k: snapshot(any_redis, k) for k in all_keys(any_redis)} == before
