"""Encryption at rest (bot.storage.crypto) and token redaction (bot.slack.redact), end to end.

The bot runs as a real process at DEBUG against a real Redis; Slack is the local stand-in. A raw read of
every key must find no token and none of a person's words; a rotation must keep everything readable
while the bot runs; a purge must leave ciphertexts nobody can open; the logs must hold no token.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import warmstart
from slack_sdk.oauth.installation_store import Installation
from test_http_reflections import T1, open_modal, reply, submission, weekly_post

from bot.config import load_settings, parse_master_key
from bot.content.corpus import Corpus, load_corpus
from bot.reflections.store import Reflection, ReflectionStore, message_id
from bot.slack.installations import RedisInstallationStore
from bot.storage import crypto, keys
from bot.storage.purge import Purger
from bot.storage.store import Store, Workspace
from conftest import (
    BOT_TOKEN,
    CONTENT_DIR,
    MASTER_KEY,
    ROOT,
    RedisServer,
    bot_env,
    command_answer,
    free_port,
    http,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

SLACK_TEAM = T1  # the bots here are single-token installs in T1 (conftest's Slack fixtures), the team their requests name
BOT_SECRET = "xoxb-999-enc-BOTSECRET"
USER_SECRET = "xoxp-999-enc-USERSECRET"
REFRESH_SECRET = "xoxe-1-enc-REFRESHSECRET"
WORDS = ("Zebracorn", "Quillwhistle", "Marrowgate", "Fennimore")  # nothing else the bot stores says these
NEW_KEY = crypto.new_master_key()
A = parse_master_key("SCR_MASTER_KEY", MASTER_KEY)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(CONTENT_DIR)


def installation(team: str) -> Installation:
    return Installation(app_id="A0SCR", enterprise_id=None, team_id=team, team_name="Enc team", user_id="U0INST",
                        bot_token=BOT_SECRET, bot_id="B0", bot_user_id="U0BOT", bot_scopes="chat:write",
                        bot_refresh_token=REFRESH_SECRET, bot_token_expires_in=43200, user_token=USER_SECRET,
                        user_scopes="identity.basic", installed_at=time.time())  # fmt: skip


def raw_dump(r: redis.Redis) -> bytes:
    """Every key and every value in Redis, as bytes: DUMP (the serialized value, whatever the type) plus the
    values read by type, for a plain substring search."""
    raw = redis.Redis(connection_pool=redis.ConnectionPool(**{**r.connection_pool.connection_kwargs,
                                                               "decode_responses": False}))  # fmt: skip
    out = []
    for key in raw.scan_iter("*", count=1000):
        out.append(key)
        out.append(raw.dump(key) or b"")
        kind = raw.type(key)
        if kind == b"string":
            out.append(raw.get(key) or b"")
        elif kind == b"hash":
            out.extend(b"%s=%s" % kv for kv in raw.hgetall(key).items())
        elif kind == b"list":
            out.extend(raw.lrange(key, 0, -1))
        elif kind == b"set":
            out.extend(raw.smembers(key))
        elif kind == b"zset":
            out.extend(m for m, _ in raw.zrange(key, 0, -1, withscores=True))
    return b"\n".join(out)


def secrets_in(blob: bytes) -> list[str]:
    return [s for s in (BOT_SECRET, USER_SECRET, REFRESH_SECRET, *WORDS) if s.encode() in blob]


@pytest.fixture(scope="module")
def debug_bot(module_slack: FakeSlack, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The bot as a process, HTTP mode, SCR_LOG_LEVEL=DEBUG: slack_sdk logs every request and response."""
    tmp = tmp_path_factory.mktemp("encbot")
    proc = start_bot(["run", "--no-scheduler"], bot_env(module_slack, redis_server.url, tmp, SCR_LOG_LEVEL="DEBUG"),
                     tmp / "bot.log", free_port())  # fmt: skip
    yield proc
    stop_bot(proc)


def test_a_week_leaves_no_token_or_words_in_clear_and_no_token_in_debug_logs(
        debug_bot, module_slack: FakeSlack, shared_redis: redis.Redis, corpus: Corpus) -> None:  # noqa: ANN001
    r = shared_redis
    RedisInstallationStore(r).save(installation("T0ENC"))  # as the OAuth callback saves it
    assert command_answer(debug_bot, module_slack, "subscribe monday 09:30", team=T1, channel="C0ENC",
                          user="U0LEAD")  # fmt: skip
    _, thread, point = weekly_post(module_slack, r, corpus, channel="C0ENC")
    assert reply(debug_bot, "C0ENC", thread, f"{WORDS[0]} made me rethink sleep arrangements.")[0].status == 200
    _, ts = reply(debug_bot, "C0ENC", thread, f"{WORDS[1]} and the health visitor's notes.")
    edit = {"type": "message", "subtype": "message_changed", "channel": "C0ENC", "ts": f"{time.time():.6f}",
            "message": {"type": "message", "user": "U0NURSE", "text": f"{WORDS[1]} and the GP's notes, edited.",
                        "ts": ts, "thread_ts": thread, "edited": {"ts": f"{time.time():.6f}"}}}  # fmt: skip
    assert debug_bot.event(edit, team=T1, event_id="EvEncEdit").status == 200
    view = open_modal(debug_bot, module_slack, value=point, channel="C0ENC", message_ts=thread, user="U0NURSE")
    form = submission(view, {"stood_out": f"{WORDS[2]} stood out", "practice": "ask earlier", "action": "check"},
                      view_id="V0ENC")  # fmt: skip
    assert debug_bot.post(form, "application/x-www-form-urlencoded").status == 200
    store = ReflectionStore(r, 365)  # a reply to a post not yet confirmed as weekly: held in a list
    held = Reflection(id=message_id("C0ENC", "9.1"), user="U0NURSE", point=point, kind="thread", visibility="thread",
                      created_at=time.time(), updated_at=time.time(), channel="C0ENC", thread_ts="8.1",
                      message_ts="9.1", text=f"{WORDS[3]} held")  # fmt: skip
    store.hold(Workspace(T1), held, 9.1)

    # Everything is there and reads back (the test would prove nothing otherwise)...
    texts = wait_for(lambda: len(store.for_user(Workspace(T1), "U0NURSE")) == 3 and store.for_user(Workspace(T1), "U0NURSE"))
    assert {w for w in WORDS[:3] if any(w in t.body for t in texts)} == set(WORDS[:3])
    assert RedisInstallationStore(r).find_bot(enterprise_id=None, team_id="T0ENC").bot_token == BOT_SECRET
    assert WORDS[3].encode() in crypto.vault(r).open(Workspace(T1), keys.thread_pending(Workspace(T1), "C0ENC", "8.1"),
                                                     r.lrange(keys.thread_pending(Workspace(T1), "C0ENC", "8.1"), 0, -1)[0]).encode()  # fmt: skip
    # ...but a raw read of every key finds none of it.
    assert secrets_in(raw_dump(r)) == []

    # App Home shows the person's reflections (views.publish carries their words to Slack).
    home = {"type": "app_home_opened", "user": "U0NURSE", "channel": "DU0NURSE", "tab": "home",
            "event_ts": f"{time.time():.6f}"}  # fmt: skip
    published = len(module_slack.views)
    assert debug_bot.event(home, team=T1, event_id="EvEncHome").status == 200
    shown = wait_for(lambda: [v for v in module_slack.views[published:] if v["method"] == "views.publish"
                              and v.get("user_id") == "U0NURSE"])  # fmt: skip
    assert any(w in json.dumps(shown) for w in WORDS[:3])  # the words did go to Slack...

    log = debug_bot.log()
    assert "DEBUG slack_sdk.web.base_client: Sending a request - url:" in log  # it did log each call...
    assert BOT_TOKEN not in log and "xoxb-test" not in log
    found = [w for w in WORDS if w in log]  # ...but never a body: no one's words
    assert not found, found
    assert "views.publish" in log and "body not logged" in log


def test_a_ciphertext_moved_to_another_key_or_workspace_does_not_open(redis_client: redis.Redis) -> None:
    one, two = Workspace("T0ONE"), Workspace("T0TWO")
    vault = crypto.vault(redis_client)
    sealed = vault.seal(one, keys.reflection(one, "r1"), "words")
    assert vault.open(one, keys.reflection(one, "r1"), sealed) == "words"
    with pytest.raises(crypto.CryptoError):
        vault.open(one, keys.reflection(one, "r2"), sealed)
    vault.seal(two, keys.reflection(two, "r1"), "x")  # two has a data key of its own
    with pytest.raises(crypto.CryptoError):
        vault.open(two, keys.reflection(two, "r1"), sealed)
    redis_client.set(keys.data_key(two), redis_client.get(keys.data_key(one)))  # a wrapped data key moved
    with pytest.raises(crypto.CryptoError):
        crypto.Keyring(A).unwrap(two, redis_client.get(keys.data_key(two)))


def test_a_purge_leaves_nothing_that_decrypts(redis_client: redis.Redis) -> None:
    ws = Workspace("T0GONE")
    RedisInstallationStore(redis_client).save(installation("T0GONE"))
    ReflectionStore(redis_client, 365).add(ws, Reflection(id="r1", user="U1", point="p", kind="modal", visibility="private",
                                                          created_at=time.time(), updated_at=time.time(),
                                                          stood_out=WORDS[0]))  # fmt: skip
    backup = {k: redis_client.get(k) for k in redis_client.scan_iter("scr:{slack:-:T0GONE}:*")
              if redis_client.type(k) == "string" and k != keys.data_key(ws)}  # fmt: skip
    assert keys.reflection(ws, "r1") in backup and keys.install_bot(ws) in backup
    Purger(redis_client).purge(ws)
    assert redis_client.get(keys.data_key(ws)) is None
    fresh = crypto.Vault(redis_client, crypto.Keyring(A))  # the master key, and no cached data key
    for name, value in backup.items():
        assert value.startswith(crypto.SEALED)
        with pytest.raises(crypto.CryptoError):
            fresh.open(ws, name, value)
    redis_client.mset(backup)  # even put back into Redis, under the same names
    with pytest.raises(crypto.CryptoError):
        ReflectionStore(redis_client, 365).get(ws, "r1")


def test_the_purge_drops_the_data_key_before_anything_else(redis_client: redis.Redis) -> None:
    """The quick part of an uninstall (before the slow scan) already makes the workspace unreadable."""
    ws = Workspace("T0HALF")
    RedisInstallationStore(redis_client).save(installation("T0HALF"))
    Purger(redis_client).begin(ws)
    assert redis_client.get(keys.data_key(ws)) is None


def keys_rotate(redis_server: RedisServer, tmp: Path, current: str, old: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": str(tmp),
           "REDIS_URL": redis_server.url, "SCR_DATA_DIR": str(tmp), "SCR_MASTER_KEY": current,
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s"}  # fmt: skip
    if old:
        env["SCR_MASTER_KEY_OLD"] = old
    return warmstart.run([sys.executable, "-m", "bot", "keys", "rotate", "--batch", "7"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_rotation_while_the_bot_runs_keeps_everything_readable(module_slack: FakeSlack, redis_server: RedisServer,
                                                                 shared_redis: redis.Redis, corpus: Corpus,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    r = shared_redis
    # Before: written under the old key (this process's default keyring), and some by an older version in plaintext.
    RedisInstallationStore(r).save(installation("T0ROT"))
    _, thread, _ = weekly_post(module_slack, r, corpus, channel="C0ROT")
    legacy = Reflection(id="legacy", user="U0OLD", point="p", kind="modal", visibility="private",
                        created_at=time.time(), updated_at=time.time(), stood_out=f"{WORDS[0]} legacy")  # fmt: skip
    r.set(keys.reflection(Workspace(T1), "legacy"), legacy.to_json(), ex=3600)
    r.zadd(keys.reflections_of_user(Workspace(T1), "U0OLD"), {"legacy": legacy.created_at})
    r.set(keys.install_bot(Workspace("T0PLAIN")), json.dumps(installation("T0PLAIN").to_bot().__dict__))
    # The bot restarted with the new key, the old one still readable.
    env = bot_env(module_slack, redis_server.url, tmp_path, SCR_MASTER_KEY=NEW_KEY, SCR_MASTER_KEY_OLD=MASTER_KEY)
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        assert reply(bot, "C0ROT", thread, "before the rotation")[0].status == 200  # reads the old-key data key
        sent: list[int] = []
        stop = threading.Event()

        def keep_replying() -> None:
            while not stop.is_set():
                sent.append(reply(bot, "C0ROT", thread, f"during the rotation {len(sent)}")[0].status)

        talker = threading.Thread(target=keep_replying)
        talker.start()
        try:
            done = keys_rotate(redis_server, tmp_path, NEW_KEY, MASTER_KEY)
        finally:
            stop.set()
            talker.join()
        assert done.returncode == 0, done.stderr
        assert "SCR_MASTER_KEY_OLD can be removed" in done.stdout
        assert sent and set(sent) == {200}
        assert reply(bot, "C0ROT", thread, "after the rotation")[0].status == 200
    finally:
        stop_bot(bot)
    assert "Traceback" not in (tmp_path / "bot.log").read_text()
    # The old key removed: the new one alone reads everything, the old one alone no longer can.
    new_only = crypto.Keyring(parse_master_key("k", NEW_KEY))
    crypto.attach(r, new_only)
    try:
        texts = [x.text for x in ReflectionStore(r, 365).for_thread(Workspace(T1), "C0ROT", thread)]
        assert len(texts) == len(sent) + 2
        assert ReflectionStore(r, 365).get(Workspace(T1), "legacy").stood_out == f"{WORDS[0]} legacy"
        assert RedisInstallationStore(r).find_bot(enterprise_id=None, team_id="T0ROT").bot_token == BOT_SECRET
        assert RedisInstallationStore(r).find_bot(enterprise_id=None, team_id="T0PLAIN").bot_token == BOT_SECRET
    finally:
        crypto.attach(r, crypto.Keyring(A))
    assert secrets_in(raw_dump(r)) == []  # the plaintext an older version left is encrypted now
    with pytest.raises(crypto.CryptoError):
        crypto.Keyring(A).unwrap(Workspace(T1), r.get(keys.data_key(Workspace(T1))))


def test_http_mode_without_a_master_key_stops_with_one_line(module_slack: FakeSlack, redis_server: RedisServer,
                                                             tmp_path: Path) -> None:  # fmt: skip
    env = bot_env(module_slack, redis_server.url, tmp_path)
    del env["SCR_MASTER_KEY"]
    done = warmstart.run([sys.executable, "-m", "bot", "run", "--no-scheduler"], env={**env, "PORT": str(free_port())},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "SCR_MASTER_KEY is not set" in done.stderr, done.stderr
    assert not (tmp_path / "var" / crypto.KEY_FILE).exists()


def test_embedded_mode_makes_a_private_key_file_and_reads_with_it_after_a_restart(tmp_path: Path) -> None:
    settings = load_settings({"SCR_DATA_DIR": str(tmp_path / "var")}, dotenv=False)
    store = Store(settings).start()
    try:
        path = tmp_path / "var" / crypto.KEY_FILE
        assert not path.exists()  # made when first needed, so a command that stops early writes no key
        ReflectionStore(store.client, 365).add(Workspace(T1), Reflection(
            id="k1", user="U1", point="p", kind="modal", visibility="private", created_at=time.time(),
            updated_at=time.time(), stood_out=WORDS[1]))  # fmt: skip
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert WORDS[1] not in store.client.get(keys.reflection(Workspace(T1), "k1"))
    finally:
        store.close()
    again = Store(settings).start()
    try:
        assert ReflectionStore(again.client, 365).get(Workspace(T1), "k1").stood_out == WORDS[1]
    finally:
        again.close()


def test_oauth_install_and_token_rotation_at_debug_leave_no_token_in_logs_or_redis(
        slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis, tmp_path: Path) -> None:
    """Add to Slack (oauth.v2.access answers with tokens), then commands whose token is refreshed on use
    (grant_type=refresh_token sends the refresh token and gets new ones): slack_sdk logs all of it at DEBUG."""
    from test_http_distribution import install

    slack.oauth.lifetime = 1800  # inside the refresh window: every use refreshes the token
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret, SCR_LOG_LEVEL="DEBUG")  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        install(bot, slack, "code-enc", "T0OAUTH")
        for _ in range(2):
            assert command_answer(bot, slack, "police information sharing", team="T0OAUTH", channel="C0OAUTH")
    finally:
        stop_bot(bot)
    issued = [*slack.oauth.grants, *(str(x.get("refresh_token")) for x in slack.oauth.exchanges if x.get("refresh_token")),
              *slack.oauth.refresh_tokens]  # fmt: skip
    assert len([t for t in issued if t.startswith("xoxe-1-")]) >= 2  # rotated at least once
    log = (tmp_path / "bot.log").read_text()
    assert "oauth.v2.access" in log and "DEBUG slack_sdk" in log
    assert [t for t in [*issued, slack.oauth.client_secret] if t in log] == []
    assert [t for t in issued if t.encode() in raw_dump(shared_redis)] == []


def test_the_clock_at_debug_posts_with_a_rotating_token_and_logs_no_token(
        slack: FakeSlack, redis_server: RedisServer, shared_redis: redis.Redis, tmp_path: Path) -> None:
    """The week's sends come from the clock process (weekly post, its summary, with a token refreshed on each
    use): at DEBUG, slack_sdk logs each request with its Authorization header and each refresh's answer."""
    from test_http_distribution import install
    from test_weekly_processes import spawn, sweeps_done

    from bot.weekly.schedules import Schedule, Subscriptions
    from conftest import cron_due_a_minute_ago

    slack.oauth.lifetime = 1800  # inside the refresh window: every use refreshes the token
    (tmp_path / "no-schedules").mkdir()
    env = bot_env(slack, redis_server.url, tmp_path, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                  SLACK_CLIENT_SECRET=slack.oauth.client_secret, SCR_LOG_LEVEL="DEBUG",
                  SCR_SCHEDULES_DIR=str(tmp_path / "no-schedules"))  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    try:
        install(bot, slack, "code-clock", "T0CLOCK")
    finally:
        stop_bot(bot)
    cron = cron_due_a_minute_ago()
    Subscriptions(shared_redis).save(Schedule(id="slack-t0clock", team="T0CLOCK", channel="C0CLOCK", post=cron,
                                              summary=cron, sectors=("police",), source="slack", created_by="U0LEAD"))  # fmt: skip
    log_path = tmp_path / "clock.log"
    clock = spawn(env, "clock", log=log_path)
    try:
        wait_for(lambda: sweeps_done(log_path.read_text()) >= 1, timeout=60)
    finally:
        clock.terminate()
        clock.wait(30)
    log = log_path.read_text()
    posted = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "C0CLOCK"]
    assert posted, log[-3000:]  # the clock did post with the workspace's token
    issued = [*slack.oauth.grants, *(str(x.get("refresh_token")) for x in slack.oauth.exchanges if x.get("refresh_token")),
              *slack.oauth.refresh_tokens]  # fmt: skip
    assert "DEBUG slack_sdk" in log and "chat.postMessage" in log  # it did log the calls
    assert [t for t in [*issued, slack.oauth.client_secret, BOT_TOKEN] if t in log] == []


def test_a_wrong_master_key_stops_start_up_with_one_line_and_fails_in_one_line_at_runtime(
        module_slack: FakeSlack, redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path) -> None:  # fmt: skip
    """A valid but wrong ``SCR_MASTER_KEY`` used to start "healthy" (/readyz 200), then answer every request
    with a 500 and a traceback, and wrap the data key of a workspace installed meanwhile with the wrong key.
    Now: start-up stops with one line naming the key id the data keys were wrapped with; a process that meets
    such a data key later (one appeared after it started) answers the person in one line, logs one ERROR line
    without a traceback, and reports not ready."""
    r = redis_client
    wrong = crypto.new_master_key()
    right_id = crypto.Keyring(A).current_id
    RedisInstallationStore(r).save(installation("T0KEYED"))  # its data key wrapped by the right key
    env = bot_env(module_slack, redis_server.url, tmp_path, SCR_MASTER_KEY=wrong)
    for command in (["run", "--no-scheduler"], ["clock"]):
        done = warmstart.run([sys.executable, "-m", "bot", *command], env={**env, "PORT": str(free_port())}, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("scr-bot: SCR_MASTER_KEY does not open the data keys in Redis"), done.stderr
        assert f"wrapped by key {right_id}" in done.stderr and "SCR_MASTER_KEY_OLD" in done.stderr

    # Started on an empty Redis (nothing to check yet), then a workspace's data appears wrapped by another key.
    r.flushall()
    oauth = bot_env(module_slack, redis_server.url, tmp_path, SCR_MASTER_KEY=wrong, SLACK_BOT_TOKEN="",
                    SLACK_CLIENT_ID=module_slack.oauth.client_id, SLACK_CLIENT_SECRET=module_slack.oauth.client_secret)  # fmt: skip
    bot = start_bot(["run", "--no-scheduler"], oauth, tmp_path / "wrong.log", free_port())
    try:
        RedisInstallationStore(r).save(installation("T0KEYED"))
        answer = command_answer(bot, module_slack, "neglect", team="T0KEYED", channel="C0KEYED")
        assert answer["text"].startswith("I can't read this workspace's stored data just now"), answer
        ready = http("GET", bot.url + "/readyz")
        assert ready.status == 503 and "wrapped by master key " + right_id in ready.json()["encryption"]["error"]
    finally:
        stop_bot(bot)
    log = (tmp_path / "wrong.log").read_text()
    assert "Traceback" not in log, log
    assert [line for line in log.splitlines() if " ERROR " in line and "cannot decrypt" in line and right_id in line]
