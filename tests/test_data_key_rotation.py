"""`scr-bot keys rotate --data-keys`: every workspace gets a new data key and its values are re-encrypted under
it online, while the bot serves requests; both keys open values during the move, a run killed midway
resumes, nothing is lost or encrypted twice, and the previous data key is deleted at the end (so a leaked
copy of it opens nothing that is stored)."""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import warmstart
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from slack_sdk.oauth.installation_store import Installation
from test_http_reflections import T1, reply, weekly_post

from bot.config import parse_master_key
from bot.content.corpus import Corpus, load_corpus
from bot.reflections.store import Reflection, ReflectionStore
from bot.slack.installations import RedisInstallationStore
from bot.storage import crypto, keys
from bot.storage.keys import Workspace
from conftest import (
    BOT_TOKEN,
    CONTENT_DIR,
    MASTER_KEY,
    ROOT,
    RedisServer,
    bot_env,
    free_port,
    start_bot,
    stop_bot,
)
from fakeslack import FakeSlack

SLACK_TEAM = T1  # the bots here are single-token installs in T1 (conftest's Slack fixtures), the team their requests name
KEYRING = crypto.Keyring(parse_master_key("SCR_MASTER_KEY", MASTER_KEY))
BOT_SECRET = "xoxb-777-dk-BOTSECRET"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(CONTENT_DIR)


@dataclass
class Target:
    """A flushed Redis (one server, or a Cluster) and the settings a CLI process needs to reach it."""

    client: Any
    env: dict[str, str]


@pytest.fixture(params=["single", "cluster"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "single":
        server = request.getfixturevalue("redis_server")
        client = server.client()
        client.flushall()
        env = {"REDIS_URL": server.url}
        if hasattr(server, "flush"):  # SCR_TEST_REDIS=cluster: redis_server is a Cluster already
            env["REDIS_CLUSTER"] = "1"
    else:
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        client = cluster.client()
        env = {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "1"}
    yield Target(client, env)
    client.close()


def cli_env(tmp: Path, redis_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(HOME=str(tmp), SCR_DATA_DIR=str(tmp), SCR_MASTER_KEY=MASTER_KEY, SLACK_BOT_TOKEN=BOT_TOKEN,
               SLACK_SIGNING_SECRET="s", PYTHONUNBUFFERED="1", **redis_env)  # fmt: skip
    return env


def rotate_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "bot", "keys", "rotate", "--data-keys", *extra]


def installation(team: str) -> Installation:
    return Installation(app_id="A0SCR", enterprise_id=None, team_id=team, team_name="DK team", user_id="U0INST",
                        bot_token=BOT_SECRET, bot_id="B0", bot_user_id="U0BOT", bot_scopes="chat:write",
                        installed_at=time.time())  # fmt: skip


def seed(r: Any, ws: Workspace, count: int) -> dict[str, str]:
    """``count`` reflections, three held replies and the workspace's tokens, sealed with its data key as it is;
    returns reflection id -> text."""
    store = ReflectionStore(r, 365)
    texts = {}
    for i in range(count):
        now = time.time()
        refl = Reflection(id=f"r{i:03d}", user=f"U0P{i % 7}", point="p", kind="modal", visibility="private",
                          created_at=now, updated_at=now, stood_out=f"words of {ws.team_id} number {i}")  # fmt: skip
        assert store.add(ws, refl)
        texts[refl.id] = refl.stood_out
    for i in range(3):
        held = Reflection(id=f"h{i}", user="U0HELD", point="p", kind="thread", visibility="thread", created_at=time.time(),
                          updated_at=time.time(), channel="C0HELD", thread_ts="1.000100", text=f"held {i}")  # fmt: skip
        store.hold(ws, held, float(i + 1))
    RedisInstallationStore(r).save(installation(ws.team_id))
    return texts


def data_key_of(r: Any, ws: Workspace, name: str | None = None) -> bytes:
    return KEYRING.unwrap(ws, r.get(name or keys.data_key(ws)))


def kid(key: bytes) -> str:
    return crypto._kid(key)


def sealed_values(r: Any, ws: Workspace) -> dict[str, list[str]]:
    """Every sealed key of the workspace and its value(s), read raw."""
    out: dict[str, list[str]] = {}
    nodes = r.get_primaries() if hasattr(r, "get_primaries") else [None]
    for node in nodes:
        for name in r.scan_iter(match=keys.workspace_pattern(ws), **({"target_nodes": node} if node else {})):
            if not any(fnmatch.fnmatchcase(name, p) for p in keys.SEALED_PATTERNS):
                continue
            out[name] = [r.get(name)] if r.type(name) == "string" else r.lrange(name, 0, -1)
    return out


def opens_with(key: bytes, name: str, value: str) -> bool:
    """Whether ``value`` (``enc1:<kid>:<b64>``) opens with the raw data key ``key``, whatever id it names."""
    raw = base64.urlsafe_b64decode(value.split(":", 2)[2])
    try:
        AESGCM(key).decrypt(raw[:12], raw[12:], f"scr-value|{name}".encode())
        return True
    except InvalidTag:
        return False


def assert_all_under(r: Any, ws: Workspace, new: bytes, old: bytes) -> int:
    """Every sealed value of ``ws`` names the new data key, opens with it (once: the plaintext is JSON, not
    another ciphertext), and does not open with the old one. Returns how many values."""
    n = 0
    for name, values in sealed_values(r, ws).items():
        for value in values:
            assert value.startswith(f"{crypto.SEALED}{kid(new)}:"), (name, value[:20])
            assert opens_with(new, name, value) and not opens_with(old, name, value), name
            json.loads(crypto.Vault(r, KEYRING).open(ws, name, value))  # JSON: sealed once, not twice
            n += 1
    return n


def test_both_data_keys_open_values_during_a_rotation(target: Target) -> None:
    """In-process: a value sealed with the previous key still opens once the workspace has a new data key
    (its previous one kept in ``datakey:old``); new writes use the new key; the run deletes the old one."""
    r, ws = target.client, Workspace("T0BOTH")
    crypto.attach(r, KEYRING)
    texts = seed(r, ws, 12)
    old = data_key_of(r, ws)
    values = sum(len(v) for v in sealed_values(r, ws).values())
    assert values >= 12 + 3 + 2  # reflections, held replies, tokens
    moved: list[str] = []
    result = crypto.rotate_data_keys(r, KEYRING, batch=4, grace=0, progress=moved.append)
    assert result.workspaces == 1 and result.resealed == values
    assert moved and all(line.startswith(ws.tag) for line in moved)
    new = data_key_of(r, ws)
    assert new != old and r.get(keys.data_key_old(ws)) is None and not r.exists(keys.DATA_KEY_ROTATION)
    assert assert_all_under(r, ws, new, old) == values
    store = ReflectionStore(r, 365)
    assert {rid: store.get(ws, rid).stood_out for rid in texts} == texts
    # Mid-rotation (as a reader in another process sees it): the new key current, the old one still kept.
    r.set(keys.data_key_old(ws), KEYRING.wrap(ws, new))
    r.set(keys.data_key(ws), KEYRING.wrap(ws, AESGCM.generate_key(bit_length=256)))
    fresh_reader = crypto.Keyring(parse_master_key("k", MASTER_KEY))
    assert ReflectionStore(r, 365).get(ws, "r000").stood_out == texts["r000"]  # this process's cached keys
    crypto.attach(r, fresh_reader)
    try:
        assert ReflectionStore(r, 365).get(ws, "r001").stood_out == texts["r001"]  # found under datakey:old
    finally:
        crypto.attach(r, KEYRING)


def read_lines_until(proc: subprocess.Popen[str], count: int, timeout: float) -> list[str]:
    """The CLI's output lines until ``count`` progress (batch) lines were printed."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while sum(": batch " in line for line in lines) < count:
        assert time.monotonic() < deadline, lines
        line = proc.stdout.readline()
        assert line, f"the rotation ended before {count} batches: {lines}"
        lines.append(line)
    return lines


def test_a_rotation_killed_midway_resumes_and_loses_nothing(target: Target, tmp_path: Path) -> None:
    r = target.client
    crypto.attach(r, KEYRING)
    spaces = [Workspace("T0KILLA"), Workspace("T0KILLB")]
    texts = {ws: seed(r, ws, 30) for ws in spaces}
    old = {ws: data_key_of(r, ws) for ws in spaces}
    values = {ws: sum(len(v) for v in sealed_values(r, ws).values()) for ws in spaces}
    env = cli_env(tmp_path, target.env)
    proc = warmstart.Popen(rotate_cmd("--batch", "3", "--pause", "0.1", "--grace", "0.2"), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        read_lines_until(proc, 3, 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # Killed mid-sweep: the rotation is recorded, some workspace still has its previous key, and every value
    # opens, whichever key it is under.
    assert r.exists(keys.DATA_KEY_ROTATION)
    assert any(r.exists(keys.data_key_old(ws)) for ws in spaces)
    under = [v.split(":")[1] for ws in spaces for vals in sealed_values(r, ws).values() for v in vals]
    assert {kid(k) for k in old.values()} & set(under), "the kill came after the sweep: nothing to resume"
    reader = crypto.Keyring(parse_master_key("k", MASTER_KEY))
    crypto.attach(r, reader)
    try:
        for ws in spaces:
            assert {rid: ReflectionStore(r, 365).get(ws, rid).stood_out for rid in texts[ws]} == texts[ws]
    finally:
        crypto.attach(r, KEYRING)
    # Run again: it resumes (no workspace rotated twice), and finishes.
    new_before = {ws: data_key_of(r, ws) for ws in spaces}
    again = warmstart.run(rotate_cmd("--batch", "3", "--grace", "0.2"), env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed the data-key rotation" in again.stdout
    assert not r.exists(keys.DATA_KEY_ROTATION)
    for ws in spaces:
        new = data_key_of(r, ws)
        # The killed run had switched every workspace before sweeping: the rerun kept the key it made.
        assert new == new_before[ws] != old[ws] and r.get(keys.data_key_old(ws)) is None
        assert assert_all_under(r, ws, new, old[ws]) == values[ws]
        assert {rid: ReflectionStore(r, 365).get(ws, rid).stood_out for rid in texts[ws]} == texts[ws]
        bot = RedisInstallationStore(r).find_bot(enterprise_id=None, team_id=ws.team_id)
        assert bot is not None and bot.bot_token == BOT_SECRET


def test_rotation_while_the_bot_serves_keeps_every_write_and_leaves_the_old_key_useless(
        module_slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis, corpus: Corpus,
        tmp_path: Path) -> None:  # fmt: skip
    r, ws = shared_redis, Workspace(T1)
    crypto.attach(r, KEYRING)
    _, thread, _ = weekly_post(module_slack, r, corpus, channel="C0DKR")
    bot = start_bot(["run", "--no-scheduler"], bot_env(module_slack, redis_server.url, tmp_path), tmp_path / "bot.log",
                    free_port())  # fmt: skip
    try:
        before = {}
        for i in range(16):  # written by the bot, under the workspace's data key as it is
            resp, ts = reply(bot, "C0DKR", thread, f"reply {i} before the rotation")
            assert resp.status == 200
            before[ts] = f"reply {i} before the rotation"
        old = data_key_of(r, ws)
        leaked = r.get(keys.data_key(ws))
        env = cli_env(tmp_path, {"REDIS_URL": redis_server.url, **({"REDIS_CLUSTER": "1"}
                                                                     if hasattr(redis_server, "flush") else {})})
        proc = warmstart.Popen(rotate_cmd("--batch", "4", "--pause", "0.05", "--grace", "0.5"), env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        written: dict[str, str] = {}
        edited: dict[str, str] = {}
        statuses: list[int] = []
        stop = threading.Event()

        def keep_writing() -> None:
            """New replies, and edits of replies the rotation is moving (each a read and a rewrite by the bot)."""
            olds = list(before)
            n = 0
            while not stop.is_set():
                resp, ts = reply(bot, "C0DKR", thread, f"reply {n} during the rotation")
                statuses.append(resp.status)
                written[ts] = f"reply {n} during the rotation"
                target_ts = olds[n % len(olds)]
                edit_ts = f"{time.time():.6f}"
                changed = {"type": "message", "subtype": "message_changed", "channel": "C0DKR", "hidden": True,
                           "ts": edit_ts, "event_ts": edit_ts,
                           "message": {"type": "message", "user": "U0NURSE", "text": f"edited during rotation {n}",
                                       "ts": target_ts, "thread_ts": thread,
                                       "edited": {"user": "U0NURSE", "ts": edit_ts}}}  # fmt: skip
                statuses.append(bot.event(changed, team=T1, event_id=f"EvEdit{edit_ts.replace('.', '')}").status)
                edited[target_ts] = f"edited during rotation {n}"
                n += 1
                stop.wait(0.05)  # a busy team's pace, not a flood: on a loaded machine a flood starves the rotation

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            out, _ = proc.communicate(timeout=180)
        finally:
            stop.set()
            writer.join()
        assert proc.returncode == 0, out
        assert out.count(": batch ") >= 5, out  # it really went in batches while the bot wrote
        assert written and edited and set(statuses) == {200}
        # After: the bot reads a moved value (an edit is a read and a rewrite).
        edit_ts = f"{time.time():.6f}"
        first = next(iter(before))
        changed = {"type": "message", "subtype": "message_changed", "channel": "C0DKR", "hidden": True, "ts": edit_ts,
                   "event_ts": edit_ts, "message": {"type": "message", "user": "U0NURSE", "text": "edited after",
                                                    "ts": first, "thread_ts": thread,
                                                    "edited": {"user": "U0NURSE", "ts": edit_ts}}}  # fmt: skip
        assert bot.event(changed, team=T1, event_id="EvEditAfter").status == 200
        edited[first] = "edited after"
    finally:
        stop_bot(bot)
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
    # Nothing lost: every reply before and during, with its latest edit.
    expected = {**before, **written, **edited}
    got = {x.message_ts: x.text for x in ReflectionStore(r, 365).for_thread(ws, "C0DKR", thread)}
    assert got == expected
    # Every value under the new key; the old data key gone, and a leaked copy of it opens nothing stored.
    new = data_key_of(r, ws)
    assert new != old and r.get(keys.data_key_old(ws)) is None
    assert assert_all_under(r, ws, new, old) >= len(expected)
    assert KEYRING.unwrap(ws, leaked) == old
    with pytest.raises(crypto.CryptoError, match="no longer has"):  # no process finds the old key any more
        crypto.Keyring(parse_master_key("k", MASTER_KEY)).data_key_for_reading(r, ws, kid(old))
