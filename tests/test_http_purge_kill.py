"""Uninstall is crash-safe: the bot killed in the middle of a purge finishes it when it comes back.

The real bot in distributed mode over HTTP, a real Redis, the fake Slack's OAuth. A workspace with
tens of thousands of keys (a purge of many batches) uninstalls; the bot process is killed outright
while the purge is under way (seen from Redis: the pending mark is there and keys are partly gone);
the restarted bot's clock finishes the purge, and the other workspace keeps every key it had.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import redis
from test_http_distribution import CHANNEL, ONE, TWO, install, keys_of

from bot.storage import keys
from bot.storage.purge import BATCH
from bot.storage.store import Workspace
from conftest import BotProcess, RedisServer, bot_env, command_answer, free_port, start_bot, stop_bot
from fakeslack import FakeSlack

FILLER = 50_000  # reflections of workspace one: ~100 purge batches of 500


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (gunicorn's workers under its master)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def left(r: redis.Redis, team: str) -> int:
    """How many keys the workspace has (its own hash tag: no scan of the other workspace's keys)."""
    return sum(1 for _ in r.scan_iter(match=keys.workspace_pattern(Workspace(team)), count=5000))


def kill_now(bot: BotProcess) -> None:
    """Freeze the web server's workers where they stand (mid-purge), then kill them and their master outright."""
    workers = children(bot.process.pid)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    for pid in [bot.process.pid, *workers]:
        os.kill(pid, signal.SIGKILL)
    bot.process.wait(10)


def test_bot_killed_mid_purge_finishes_it_after_restart_and_the_other_workspace_is_intact(
        slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret)  # fmt: skip
    web = start_bot(["run", "--no-scheduler"], env, tmp_path / "web.log", free_port())
    try:
        for n, team in enumerate((ONE, TWO)):
            install(web, slack, f"code-{n}", team)
            sub = command_answer(web, slack, "subscribe monday 09:30", team=team, channel=CHANNEL[team], user="U0LEAD")
            assert sub["response_type"] == "in_channel", sub
        # Years of a large organisation's reflections in workspace one (and some in workspace two).
        for team, count in ((ONE, FILLER), (TWO, 500)):
            with shared_redis.pipeline(transaction=False) as pipe:
                for i in range(count):
                    pipe.set(keys.reflection(Workspace(team), f"{CHANNEL[team]}-{i}"), json.dumps({"text": f"r{i}"}))
                pipe.execute()
        two_before = keys_of(shared_redis, TWO)
        total = shared_redis.dbsize()
        entry = keys.workspace_entry(Workspace(ONE))

        slack.oauth.uninstall(ONE)
        assert web.event({"type": "app_uninstalled"}, team=ONE, event_id="EvGone").status == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait for the purge to be well under way, then kill
            now_total = shared_redis.dbsize()
            if shared_redis.sismember(keys.PURGE_PENDING, entry) and now_total <= total - 3 * BATCH:
                kill_now(web)
                break
        else:
            raise AssertionError(f"the purge never got under way:\n{web.log()[-3000:]}")
    finally:
        if web.process.poll() is None:
            stop_bot(web)
    # Killed mid-purge: marked pending, some of workspace one's keys gone and many still there.
    remaining = left(shared_redis, ONE)
    assert shared_redis.sismember(keys.PURGE_PENDING, entry)
    assert 0 < remaining < FILLER, remaining

    # The bot comes back (web server and clock): the clock's first sweep finishes the purge.
    again = start_bot(["run"], env, tmp_path / "again.log", free_port())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (shared_redis.sismember(keys.PURGE_PENDING, entry)
                                               or left(shared_redis, ONE)):  # fmt: skip
            time.sleep(0.2)
        assert left(shared_redis, ONE) == 0, again.log()[-3000:]
        assert keys_of(shared_redis, ONE) == {}
        assert not shared_redis.sismember(keys.PURGE_PENDING, entry)
        assert not [e for e in shared_redis.smembers(keys.SUBSCRIPTIONS) if ONE in e]
        two_after = keys_of(shared_redis, TWO)
        changed = {k for k, v in two_before.items() if two_after.get(k) != v}
        assert not changed, sorted(changed)  # every key the other workspace had, byte for byte
        assert "Neglect" in again.command("neglect", team=TWO, channel=CHANNEL[TWO]).body.decode()
    finally:
        stop_bot(again)


def test_reinstall_after_an_interrupted_purge_keeps_the_new_install_and_the_sweep_deletes_only_old_data(
        slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    """Uninstall, purge killed half way, reinstall, subscribe, the clock's next sweep: the new install survives."""
    from test_http_distribution import install as oauth_install

    from bot.slack.installations import RedisInstallationStore
    from bot.storage.purge import Purger
    from bot.weekly.schedules import Subscriptions

    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret)  # fmt: skip
    one, two = Workspace(ONE), Workspace(TWO)
    web = start_bot(["run", "--no-scheduler"], env, tmp_path / "web.log", free_port())
    try:
        for n, team in enumerate((ONE, TWO)):
            oauth_install(web, slack, f"code-{n}", team)
        assert command_answer(web, slack, "subscribe monday 09:30", team=ONE, channel=CHANNEL[ONE],
                              user="U0LEAD")["response_type"] == "in_channel"  # fmt: skip
        with shared_redis.pipeline(transaction=False) as pipe:
            for i in range(FILLER // 2):
                pipe.set(keys.reflection(one, f"old-{i}"), json.dumps({"text": f"r{i}"}))
            pipe.execute()
        total = shared_redis.dbsize()
        entry = keys.workspace_entry(one)
        slack.oauth.uninstall(ONE)
        assert web.event({"type": "app_uninstalled"}, team=ONE, event_id="EvGone").status == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if shared_redis.sismember(keys.PURGE_PENDING, entry) and shared_redis.dbsize() <= total - 3 * BATCH:
                kill_now(web)
                break
        else:
            raise AssertionError(f"the purge never got under way:\n{web.log()[-3000:]}")
    finally:
        if web.process.poll() is None:
            stop_bot(web)
    assert shared_redis.sismember(keys.PURGE_PENDING, entry) and 0 < left(shared_redis, ONE) < FILLER // 2

    # The workspace adds the app again, through OAuth, and subscribes a channel.
    web = start_bot(["run", "--no-scheduler"], env, tmp_path / "web2.log", free_port())
    try:
        oauth_install(web, slack, "code-again", ONE)
        assert command_answer(web, slack, "subscribe monday 10:30", team=ONE, channel=CHANNEL[ONE],
                              user="U0LEAD")["response_type"] == "in_channel"  # fmt: skip
    finally:
        stop_bot(web)
    token = RedisInstallationStore(shared_redis).find_bot(enterprise_id=None, team_id=ONE).bot_token
    assert slack.oauth.grants[token].team_id == ONE
    # Another workspace's uninstall is also left pending (its process died right after the ack): the
    # sweep finishing it shows the sweep ran.
    Purger(shared_redis).begin(two)

    again = start_bot(["run"], env, tmp_path / "again.log", free_port())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and shared_redis.sismember(keys.PURGE_PENDING, keys.workspace_entry(two)):
            time.sleep(0.2)
        assert not shared_redis.sismember(keys.PURGE_PENDING, keys.workspace_entry(two)), again.log()[-3000:]
        assert left(shared_redis, TWO) == 0
        # The new token and subscription survived; nothing of the old install's reflections is left.
        bot = RedisInstallationStore(shared_redis).find_bot(enterprise_id=None, team_id=ONE)
        assert bot is not None and bot.bot_token == token, again.log()[-3000:]
        assert [(s.team, s.channel) for s in Subscriptions(shared_redis).all()] == [(ONE, CHANNEL[ONE])]
        assert not shared_redis.sismember(keys.PURGE_PENDING, entry)
        assert not [k for k in shared_redis.scan_iter(match=keys.workspace_pattern(one), count=5000)
                    if ":refl:old-" in k]  # fmt: skip
        assert "Neglect" in again.command("neglect", team=ONE, channel=CHANNEL[ONE]).body.decode()
    finally:
        stop_bot(again)
