"""redis-py's Redis Cluster errors are storage being down, and a process can start from any listed node.

``RedisClusterException`` and ``SlotNotCoveredError`` are not ``redis.RedisError``: unconverted, a slot
no master serves would reach the Bolt error handler as an unknown error (500 and a traceback) instead of
503 (Slack retries). The slot is really unassigned here (``CLUSTER DELSLOTS`` on a real cluster), and the
bot is a real process. ``REDIS_CLUSTER_NODES`` lets a new process discover the cluster while the node in
``REDIS_URL`` is down; when none answers, the error names the nodes it tried.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_cluster import LocalCluster

from bot.config import load_settings
from bot.storage.embedded_redis import find_redis_server
from bot.storage.store import Store, Workspace
from conftest import bot_env, free_port, start_bot, stop_bot
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of this module's own: a test unassigns a slot in it."""
    exe = find_redis_server()
    if not exe:
        pytest.fail("no redis-server found: install one (apt-get install redis-server)")
    local = LocalCluster(exe, Path(tempfile.mkdtemp(prefix="scr-clustererr-"))).start()
    yield local
    local.stop()


def cluster_store(url: str, **env: str) -> Store:
    return Store(load_settings({"REDIS_URL": url, "REDIS_CLUSTER": "1", **env}, dotenv=False))


def test_a_new_process_starts_from_another_node_when_the_first_is_down(cluster: LocalCluster) -> None:
    dead = free_port()
    store = cluster_store(f"redis://127.0.0.1:{dead}/0", REDIS_CLUSTER_NODES=f"127.0.0.1:{cluster.ports[1]}").start()
    try:
        assert store.health() == {"ok": True, "kind": "cluster"}
        store.client.set(f"{Workspace('T0NODES').tag}:probe", "1")
        assert store.client.get(f"{Workspace('T0NODES').tag}:probe") == "1"
    finally:
        store.close()


def test_no_node_reachable_names_the_nodes_it_tried() -> None:
    dead, also_dead = free_port(), free_port()
    store = cluster_store(f"redis://127.0.0.1:{dead}/0", REDIS_CLUSTER_NODES=f"127.0.0.1:{also_dead}").start()
    try:
        with pytest.raises(redis.ConnectionError) as caught:
            store.client.ping()
        assert f"127.0.0.1:{dead}" in str(caught.value) and f"127.0.0.1:{also_dead}" in str(caught.value)
        assert store.health()["ok"] is False
    finally:
        store.close()


def test_redis_cluster_nodes_must_be_host_and_port() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="REDIS_CLUSTER_NODES"):
        load_settings({"REDIS_CLUSTER_NODES": "10.0.0.2"}, dotenv=False)


def test_a_slot_no_master_serves_answers_503_not_500(cluster: LocalCluster, slack: FakeSlack,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """The bot (and a store) learn the slot map first; then the slot loses its master. The first command
    finds the slot unserved (CLUSTERDOWN), the client refreshes its map, and from then on redis-py raises
    ``SlotNotCoveredError`` before sending anything: that must answer like any Redis failure."""
    team = "T0NOSLOT"
    key = f"{Workspace(team).tag}:probe"
    store = cluster_store(cluster.url).start()
    bot = start_bot(["run", "--no-scheduler"], bot_env(slack, cluster.url, tmp_path, REDIS_CLUSTER="1"),
                    tmp_path / "bot.log", free_port())  # fmt: skip
    nodes = [redis.Redis(host="127.0.0.1", port=p, decode_responses=True) for p in cluster.ports]
    owner_node = nodes[cluster.ports.index(cluster.master_of(key))]
    slot = int(owner_node.execute_command("CLUSTER KEYSLOT", key))
    try:
        store.client.set(key, "1")
        assert bot.command("reflections", team=team, channel="C0X").status == 200  # the bot knows the map
        for node in [owner_node, *(n for n in nodes if n is not owner_node)]:
            node.execute_command("CLUSTER DELSLOTS", slot)
        deadline = time.monotonic() + 10
        while any(int(first) <= slot <= int(last) for n in nodes for first, last, *_ in n.execute_command("CLUSTER SLOTS")):
            assert time.monotonic() < deadline, "the slot stayed assigned"
            time.sleep(0.05)

        errors = []
        for _ in range(3):
            try:
                store.client.set(key, "2")
            except Exception as exc:  # noqa: BLE001 - which kind is the point
                errors.append(exc)
        assert errors and all(isinstance(e, redis.ConnectionError | redis.ResponseError) for e in errors), errors

        home = {"type": "app_home_opened", "user": "U0HOME", "tab": "home", "event_ts": "1.1"}
        statuses, answers = [], []
        for i in range(3):
            reflection = {"type": "message", "channel": "C0X", "user": "U0NURSE", "text": "a reflection",
                          "ts": f"1800000000.00000{i}", "thread_ts": "1800000000.000000",
                          "event_ts": f"1800000000.00000{i}", "channel_type": "channel"}  # fmt: skip
            statuses += [bot.event(home, team=team, event_id=f"EvHome{i}").status,
                         bot.event(reflection, team=team, event_id=f"EvRefl{i}").status]  # fmt: skip
            answers.append(bot.command("reflections", team=team, channel="C0X"))
        lookup = bot.command("neglect", team=team)
        log = bot.log()
        assert 500 not in statuses and "Traceback" not in log, (statuses, log[-3000:])
        assert 503 in statuses, statuses
        for answer in answers:
            assert answer.status == 200 and "can't reach my storage" in answer.json()["text"], answer.body[:300]
        assert lookup.status == 200 and lookup.json()["blocks"]
    finally:
        stop_bot(bot)
        store.close()
        owner_node.execute_command("CLUSTER ADDSLOTS", slot)  # the owner claims it back; gossip tells the rest
        for node in nodes:
            node.close()
