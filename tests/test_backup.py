"""`scr-bot backup FILE` / `scr-bot restore FILE`: the embedded Redis's data survives losing its data dir.

The week is played in the real offline shell on the bot's own embedded Redis (no REDIS_URL), backed up,
the data dir deleted, restored into a fresh one, and the shell must show the same week again: the
channel's subscription and last post, and the reflection in the person's record. The command-level
promises (types, expiry, refusing to restore over data or under a running bot, a damaged file) are
checked against real Redis servers too.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import redis
import warmstart

from bot.reflections.store import Reflection, ReflectionStore
from bot.storage import keys
from bot.storage.backup import backup, restore
from bot.storage.keys import Workspace
from conftest import MASTER_KEY, ROOT, RedisServer

REPLY = "The bit about strategy meetings stood out for our team."


def _env(data_dir: Path, redis_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SCR_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def scr_bot(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m bot` from this checkout: the code under test, not an installed script."""
    return warmstart.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)  # fmt: skip


def shell(lines: list[str], env: dict[str, str]) -> str:
    done = scr_bot("shell", env=env, stdin="\n".join([*lines, "quit"]) + "\n")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_back_up_wipe_restore_and_the_week_is_back(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = _env(data)
    shell(["/scr subscribe health monday 09:30", "post", f"reply {REPLY}"], env)
    before = shell(["/scr schedule", "home"], env)
    assert "Last post: " in before and REPLY in before and "Your reflections (1)" in before

    file = tmp_path / "week.backup"
    done = scr_bot("backup", str(file), env=env)
    assert done.returncode == 0, done.stderr
    assert "backed up " in done.stdout
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # reflections and tokens: owner-only

    # The master key is kept apart from the backup (the backup holds only sealed values): an operator keeps
    # SCR_DATA_DIR/master.key (or SCR_MASTER_KEY) safe elsewhere, as README's "Back up and restore" says.
    kept_key = tmp_path / "master.key.kept"
    shutil.copy2(data / "master.key", kept_key)
    shutil.rmtree(data)  # the disk is lost
    wiped = shell(["/scr schedule", "home"], env)
    assert REPLY not in wiped and "Last post: " not in wiped  # really gone, so what follows is the restore's doing

    shutil.rmtree(data)  # the wiped shell's own fresh data (and key) go too
    data.mkdir()
    shutil.copy2(kept_key, data / "master.key")
    done = scr_bot("restore", str(file), env=env)
    assert done.returncode == 0, done.stderr
    assert "restored " in done.stdout
    after = shell(["/scr schedule", "home"], env)
    assert "Weekly learning point here: Monday 09:30 (Europe/London)" in after  # the subscription
    assert after.split("Last post: ")[1].splitlines()[0] == before.split("Last post: ")[1].splitlines()[0]
    assert "Your reflections (1)" in after and REPLY in after  # the reflection, in its author's record


def test_types_and_expiry_come_back_and_expired_keys_stay_out(redis_server: RedisServer, tmp_path: Path) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    raw.flushall()
    raw.hset("scr:{slack:-:T1}:h", mapping={"a": "1", "b": b"\xff\x00"})
    raw.zadd("scr:{slack:-:T1}:z", {"x": 1.5, "y": 2})
    raw.set("scr:{slack:-:T1}:ttl", "v", px=3_600_000)
    raw.set("scr:{slack:-:T1}:soon", "v", px=300)
    raw.set("not-ours", "left alone")
    file = tmp_path / "b"
    assert backup(raw, file).keys == 4
    raw.flushall()
    time.sleep(0.4)  # "soon" expires between the backup and the restore
    report = restore(raw, file)
    assert (report.keys, report.expired) == (3, 1)
    assert raw.hgetall("scr:{slack:-:T1}:h") == {b"a": b"1", b"b": b"\xff\x00"}
    assert raw.zrange("scr:{slack:-:T1}:z", 0, -1, withscores=True) == [(b"x", 1.5), (b"y", 2.0)]
    assert 3_500_000 < raw.pttl("scr:{slack:-:T1}:ttl") <= 3_600_000  # the same expiry, not a fresh or no TTL
    assert not raw.exists("scr:{slack:-:T1}:soon") and not raw.exists("not-ours")
    raw.close()


def test_restore_refuses_to_overwrite_data(redis_server: RedisServer, tmp_path: Path) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    raw.flushall()
    raw.set("scr:{slack:-:T1}:k", "old")
    file = tmp_path / "b"
    backup(raw, file)
    raw.set("scr:{slack:-:T1}:k", "newer")
    done = scr_bot("restore", str(file), env=_env(tmp_path / "var", redis_server.url))
    assert done.returncode == 1
    assert done.stderr.startswith("scr-bot: the target Redis already holds 1 scr-bot key(s)"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert raw.get("scr:{slack:-:T1}:k") == b"newer"
    raw.close()


def test_restore_refuses_while_the_bot_uses_the_embedded_redis(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = _env(data)
    shell(["/scr subscribe"], env)
    file = tmp_path / "b"
    assert scr_bot("backup", str(file), env=env).returncode == 0
    shutil.rmtree(data)
    running = warmstart.Popen([sys.executable, "-m", "bot", "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env, cwd=ROOT, text=True)  # fmt: skip
    try:
        assert running.stdout is not None
        seen = ""
        while not seen.endswith("> "):  # the shell's prompt: its Redis is up and it is a user of it
            char = running.stdout.read(1)
            if not char:
                raise AssertionError(f"the shell exited early: {seen}")
            seen += char
        done = scr_bot("restore", str(file), env=env)
        assert done.returncode == 1
        assert "stop the bot (web and clock) first" in done.stderr
    finally:
        running.communicate("quit\n", timeout=30)


def test_a_truncated_backup_is_one_line_naming_the_file(redis_server: RedisServer, tmp_path: Path) -> None:
    raw = redis.Redis.from_url(redis_server.url)
    raw.flushall()
    for i in range(3):
        raw.set(f"scr:{{slack:-:T1}}:{i}", i)
    file = tmp_path / "b"
    backup(raw, file)
    raw.flushall()
    lines = file.read_text().splitlines()
    file.write_text("\n".join(lines[:-1]) + "\n")  # the copy was cut short
    done = scr_bot("restore", str(file), env=_env(tmp_path / "var", redis_server.url))
    assert done.returncode == 1
    assert done.stderr.startswith(f"scr-bot: {file}:3: the header says 3 keys but the file has 2"), done.stderr
    assert raw.dbsize() == 0
    raw.close()


def test_a_workspace_purged_after_the_backup_is_never_restored(redis_server: RedisServer, tmp_path: Path) -> None:
    """A backup taken before an organisation uninstalled holds its data key (wrapped by the master key) and its
    sealed reflections: restoring it with the same master key used to bring everything back. The purge leaves
    a tombstone (ids and a time, kept 400 days) that ``scr-bot restore`` honours: the purged workspace's keys
    stay out, no index names it, it says so, and the other workspace comes back whole."""
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    r.flushall()
    gone, kept = Workspace("T0GONE"), Workspace("T0KEPT")
    for ws in (gone, kept):
        ReflectionStore(r, 365).add(ws, Reflection(id=f"r-{ws.team_id}", user="U0NURSE", point="p", kind="modal",
                                                    visibility="private", created_at=time.time(), updated_at=time.time(),
                                                    stood_out=f"{REPLY} {ws.team_id}"))  # fmt: skip
        r.sadd(keys.SUBSCRIPTIONS, f"{keys.workspace_entry(ws)}|C0TEAM")
        r.hset(keys.INSTALLATIONS, keys.workspace_entry(ws), "{}")
    env = {**_env(tmp_path / "var", redis_server.url), "SCR_MASTER_KEY": MASTER_KEY}
    file = tmp_path / "before-the-purge.backup"
    assert scr_bot("backup", str(file), env=env).returncode == 0
    time.sleep(0.01)
    purged = scr_bot("workspace", "purge", gone.team_id, "--yes", env=env)
    assert purged.returncode == 0, purged.stderr
    assert r.zscore(keys.PURGED, keys.workspace_entry(gone)) is not None
    assert 0 < r.ttl(keys.PURGED) <= keys.PURGED_SECONDS

    # The operator wipes the bot's data to roll back to the backup; the purge record stays (restore allows it).
    for key in r.scan_iter("scr:*"):
        if key != keys.PURGED:
            r.delete(key)
    done = scr_bot("restore", str(file), env=env)
    assert done.returncode == 0, done.stderr
    assert "purged after the backup was taken (T0GONE): a purged workspace is never restored" in done.stdout, done.stdout
    assert not [k for k in r.scan_iter("*") if "T0GONE" in k]
    assert not r.exists(keys.data_key(gone))
    assert [m for m in r.smembers(keys.SUBSCRIPTIONS) if "T0GONE" in m] == []
    assert r.hkeys(keys.INSTALLATIONS) == [keys.workspace_entry(kept)]
    assert ReflectionStore(r, 365).get(kept, "r-T0KEPT").stood_out == f"{REPLY} T0KEPT"
    assert ReflectionStore(r, 365).get(gone, "r-T0GONE") is None
    r.close()
