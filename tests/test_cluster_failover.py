"""A Redis Cluster master SIGKILLed while the bot serves traffic: its replica is promoted, and the bot follows.

A real cluster (3 masters, 3 replicas, AOF fsynced on every write, tests/redis_cluster.py) and the bot as
a real process, fed signed requests at about 10 a second: lookups, and thread reflections for two
workspaces, one whose slot lives on the master that dies and one on a healthy master. The promises:

- the bot serves the failed-over workspace again within two breaker cool-downs of the promotion (one
  breaker per node: the dead master's open breaker must not stop the client learning the new slot map);
- the workspace on the healthy master is never refused while the other shard fails over;
- no request is answered 500 (redis-py's cluster errors are storage being down: 503, so Slack retries);
- every reflection the bot acknowledged is still there afterwards.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from redis_cluster import LocalCluster

from bot.content.corpus import Corpus
from bot.reflections.store import ReflectionStore
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage.embedded_redis import find_redis_server
from bot.storage.store import Workspace
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import (
    BotProcess,
    HttpResponse,
    distributed_env,
    free_port,
    install_workspace,
    start_bot,
    stop_bot,
)
from fakeslack import FakeSlack

pytestmark = pytest.mark.slow
COOLDOWN = 1  # SCR_REDIS_BREAKER_SECONDS for the bot under test
RATE = 10  # requests a second
CHANNEL = "C0FAIL"


@pytest.fixture
def replicated_cluster() -> Iterator[LocalCluster]:
    exe = find_redis_server()
    if not exe:
        pytest.fail("no redis-server found: install one (apt-get install redis-server)")
    # A 2 s node timeout: the replica is promoted about 3-4 s after its master dies.
    cluster = LocalCluster(exe, Path(tempfile.mkdtemp(prefix="scr-failover-")), replicas=1,
                           node_timeout_ms=2000).start()  # fmt: skip
    yield cluster
    cluster.stop()


def team_on(cluster: LocalCluster, want_master: int | None = None, avoid: int | None = None) -> tuple[str, int]:
    """A team id whose workspace's keys live on ``want_master`` (or on any master but ``avoid``)."""
    for i in range(10_000):
        team = f"T0F{i:05d}"
        master = cluster.master_of(Workspace(team).tag)
        if (want_master is None or master == want_master) and master != avoid:
            return team, master
    raise LookupError("no such team")


def reply(team: str, thread: str, n: int) -> dict:
    ts = f"1800000100.{n:06d}"
    return {"type": "message", "channel": CHANNEL, "user": "U0NURSE", "text": f"reflection {n} for {team}",
            "ts": ts, "thread_ts": thread, "event_ts": ts, "channel_type": "channel"}  # fmt: skip


def test_a_master_killed_under_traffic(replicated_cluster: LocalCluster, slack: FakeSlack, corpus: Corpus,
                                       tmp_path: Path) -> None:  # fmt: skip
    cluster = replicated_cluster
    victim_team, victim = team_on(cluster)
    healthy_team, healthy = team_on(cluster, avoid=victim)
    r = cluster.client()
    deliveries = SlackDeliveries(make_client("xoxb-test", slack.url), corpus)
    threads = {}
    for team in (victim_team, healthy_team):
        schedule = Schedule(id=f"s-{team}", team=team, channel=CHANNEL, sectors=("health",))
        threads[team] = WeeklyPoster(r, deliveries, corpus).deliver(schedule, ignore_time=True).ts

    # Two workspaces on two masters: a distributed install, each team with its own token (a single-token bot
    # serves only its token's workspace, whatever team a request names).
    env = distributed_env(slack, cluster.url, tmp_path, REDIS_CLUSTER="1", SCR_REDIS_BREAKER_SECONDS=str(COOLDOWN))
    bot: BotProcess = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        for team in (victim_team, healthy_team):
            install_workspace(bot, slack, team)
        n = itertools.count()
        lock = threading.Lock()
        # (kind, team, n, sent at, status, answered at)
        results: list[tuple[str, str, int, float, int, float]] = []

        def send(kind: str, team: str) -> None:
            i = next(n)
            sent = time.monotonic()
            if kind == "lookup":
                resp: HttpResponse = bot.command("neglect", team=team)
            else:
                resp = bot.event(reply(team, threads[team], i), team=team, event_id=f"EvF{i:06d}")
            with lock:
                results.append((kind, team, i, sent, resp.status, time.monotonic()))

        for team in (victim_team, healthy_team):  # warm: the bot knows the slot map and holds connections
            send("reflection", team)
        assert all(status == 200 for *_, status, _ in results), results

        kinds = itertools.cycle([("lookup", healthy_team), ("reflection", victim_team), ("reflection", healthy_team)])
        pending: list[Future[None]] = []
        promoted_at: float | None = None
        recovered_at: float | None = None
        with ThreadPoolExecutor(16) as pool:
            for _ in range(20):  # two seconds of steady traffic before the failure
                pending.append(pool.submit(send, *next(kinds)))
                time.sleep(1 / RATE)
            cluster.kill(victim)
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < 30:
                pending.append(pool.submit(send, *next(kinds)))
                time.sleep(1 / RATE)
                if promoted_at is None and cluster.master_of(Workspace(victim_team).tag) != victim:
                    promoted_at = time.monotonic()
                if promoted_at is not None:
                    with lock:
                        ok = [done for kind, team, _, sent, status, done in results
                              if team == victim_team and kind == "reflection" and status == 200 and sent > promoted_at]
                    if ok:
                        recovered_at = min(ok)
                    if recovered_at is not None and time.monotonic() - recovered_at > 1:
                        break  # a second of traffic after recovery
            for f in pending:
                f.result(timeout=30)

        assert promoted_at is not None, "the replica was never promoted"
        print(f"\npromoted {promoted_at - killed_at:.2f} s after the kill; the bot served the failed-over workspace "
              f"{(recovered_at or float('nan')) - promoted_at:.2f} s after the promotion; {len(results)} requests")
        assert recovered_at is not None and recovered_at - promoted_at <= 2 * COOLDOWN, \
            "the bot did not serve the failed-over workspace within 2 cool-downs of the promotion"
        statuses = sorted({status for *_, status, _ in results})
        assert 500 not in statuses, [x for x in results if x[4] == 500]
        refused = [x for x in results if x[1] == healthy_team and x[4] != 200]
        assert not refused, f"{len(refused)} requests for the workspace on a healthy master were refused: {refused[:5]}"
        assert all(status in (200, 503) for *_, status, _ in results), statuses

        # Everything acknowledged survived the failover (AOF always, and the replica had it).
        acked = {f"1800000100.{i:06d}" for kind, team, i, _, status, _ in results
                 if kind == "reflection" and team == victim_team and status == 200}
        after = cluster.client()
        stored = {x.message_ts for x in ReflectionStore(after, 365).for_thread(Workspace(victim_team), CHANNEL,
                                                                             threads[victim_team])}  # fmt: skip
        assert acked <= stored, sorted(acked - stored)
        assert "Traceback" not in bot.log()
    finally:
        stop_bot(bot)
