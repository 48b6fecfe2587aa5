"""The test suite's Slack: the shipped local Web API (``bot.slack.localslack``) plus what only tests need.

Tests point the bot's ``SLACK_API_URL`` here to see exactly what it would send to Slack, and to make
Slack misbehave on purpose, on any method:

- ``fail``: answer an error (429 with Retry-After, 5xx...) *without* acting, as Slack does when it
  rate-limits or falls over before doing anything.
- ``accept_then``: act (store the message, open the view...), then lose the answer: HTTP 500, a
  connection reset, or an answer only after some seconds. The caller cannot tell whether Slack acted:
  this is what an exactly-once protocol has to survive.
- ``delay`` (wait, then act anyway) and ``hold`` (wait; if the caller hung up meanwhile, never act).
- ``slow_when``: wait before acting, only for calls whose parameters match (one workspace's user...).
- ``trigger_id``: as Slack, ``views.open`` refuses a trigger older than 3 s (``expired_trigger_id``); the
  tests' triggers carry their click time (``trig.<unix time>``), others never expire.
- ``limits``: Slack's per-channel and workspace posting limits (``RateLimits``).
- ``history_limits``: what an app outside the Marketplace gets since 29 May 2025 (existing installs from
  3 March 2026): ``conversations.history`` and ``.replies`` once a minute per method per token (429 with
  Retry-After = the rest of the minute), at most 15 messages a page whatever ``limit`` says (``HistoryLimits``;
  its ``window`` is Slack's minute, which the tests shorten: see ``HISTORY_WINDOW``).
- ``channel_errors`` and ``members``: channels the bot cannot post in, and who is in which channel.

Every call is recorded (``calls``, ``calls_to``, ``ok_calls``, ``accepted``), and Socket Mode is
served by a small RFC 6455 WebSocket endpoint (``LocalSocketMode``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.slack.localslack import BOT_USER_ID, LocalSlack

SINGLE_TEAM = "T0AAA"  # the single-token install's workspace, which the tests' payloads name (conftest's bodies)
TRIGGER_LIFETIME = 3.0  # seconds Slack accepts a trigger_id for, from the click
TRIGGER_METHODS = ("views.open", "views.push")

CHANNEL_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.history",
                   "conversations.replies", "conversations.info")  # fmt: skip


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int  # what the caller saw: 200, 429, 500..., 0 for a reset, 499 when it hung up first
    accepted: bool = False  # whether "Slack" acted (stored the message...), whatever the caller saw
    at: float = field(default_factory=time.time)
    token: str = ""  # the token the call was made with (which workspace's bot, which rotation)
    arrived: float = 0.0  # when the call reached "Slack" (``at`` is when it was answered)


class LocalSocketMode:
    """A WebSocket endpoint speaking Slack's Socket Mode: hello, envelopes out, acks (and pongs) in.

    Just enough of RFC 6455 for slack_sdk's built-in client on loopback: text frames, masked client
    frames, ping/pong and close.
    """

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.conn: socket.socket | None = None
        self.acks: dict[str, dict[str, Any]] = {}
        self.connected = threading.Event()
        self.cond = threading.Condition()
        self.send_lock = threading.Lock()
        threading.Thread(target=self._accept, name="local-socket-mode", daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.sock.getsockname()[1]}/link/?ticket=local"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in data.decode("latin-1").split("\r\n")[1:] if ":" in line)}
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + self.GUID).encode()).digest()).decode()
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.conn = conn
        self._send_frame(0x1, json.dumps({"type": "hello", "num_connections": 1,
                                          "connection_info": {"app_id": "A0LOCAL"},
                                          "debug_info": {"host": "local", "approximate_connection_time": 3600}}).encode())
        self.connected.set()
        buffer = data.split(b"\r\n\r\n", 1)[1]
        try:
            while True:
                frame, buffer = self._read_frame(conn, buffer)
                if frame is None:
                    return
                opcode, payload = frame
                if opcode == 0x8:
                    return
                if opcode == 0x9:
                    self._send_frame(0xA, payload)
                elif opcode == 0x1:
                    message = json.loads(payload)
                    with self.cond:
                        self.acks[message.get("envelope_id", "")] = message
                        self.cond.notify_all()
        except (OSError, ValueError):
            return

    @staticmethod
    def _read_frame(conn: socket.socket, buffer: bytes) -> tuple[tuple[int, bytes] | None, bytes]:
        def need(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buffer += chunk
            out, buffer = buffer[:n], buffer[n:]
            return out

        try:
            b1, b2 = need(2)
        except OSError:
            return None, buffer
        opcode, masked, length = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
        if length == 126:
            length = int.from_bytes(need(2), "big")
        elif length == 127:
            length = int.from_bytes(need(8), "big")
        mask = need(4) if masked else b"\x00\x00\x00\x00"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(need(length)))
        return (opcode, payload), buffer

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([n])
        elif n < 65536:
            header += bytes([126]) + n.to_bytes(2, "big")
        else:
            header += bytes([127]) + n.to_bytes(8, "big")
        assert self.conn is not None
        with self.send_lock:
            self.conn.sendall(header + payload)

    def send(self, envelope: dict[str, Any]) -> None:
        self._send_frame(0x1, json.dumps(envelope).encode())

    def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any] | None:
        with self.cond:
            self.cond.wait_for(lambda: envelope_id in self.acks, timeout)
            return self.acks.get(envelope_id)

    def close(self) -> None:
        for s in (self.conn, self.sock):
            if s is not None:
                s.close()


@dataclass
class RateLimits:
    """Slack's chat.postMessage limits, roughly: ~1 message/s per channel with short bursts, a cap per
    workspace (by the calling token's team; tokens the OAuth server never issued share one), and (for
    testing retries) a chance of a 429 on any call."""

    per_channel: float = 1.0
    burst: int = 3
    workspace_per_second: float | None = None
    random_429: float = 0.0
    per_window: int | None = None  # a workspace's calls per fixed window (Slack's "per minute" limits, shortened)
    window: float = 1.0  # seconds; beyond per_window, 429 with Retry-After = the rest of the window
    retry_after: int | str = 1  # a str for what Slack should never send but a proxy might ("1.5", "inf", a date)
    seed: int = 7
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # workspace -> (window start, calls)
    limited: int = 0
    wait: str = ""  # the Retry-After of the last refusal

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _take(self, key: str, rate: float, burst: float, now: float) -> bool:
        tokens, at = self.buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return False
        self.buckets[key] = (tokens - 1, now)
        return True

    def allow(self, channel: str, workspace: str = "") -> bool:
        """``workspace``: the team of the calling token; each workspace has its own bucket, as in Slack."""
        now = time.monotonic()
        self.wait = str(self.retry_after)
        if self.random_429 and self.rng.random() < self.random_429:
            self.limited += 1
            return False
        if self.per_window is not None:
            start, count = self.windows.get(workspace, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.per_window:
                self.limited += 1
                self.wait = str(math.ceil(start + self.window - now))  # whole seconds, as Slack sends
                return False
            self.windows[workspace] = (start, count + 1)
        if self.workspace_per_second and not self._take(f"_workspace:{workspace}", self.workspace_per_second,
                                                        max(1.0, self.workspace_per_second), now):
            self.limited += 1
            return False
        if not self._take(channel, self.per_channel, self.burst, now):
            self.limited += 1
            return False
        return True


@dataclass
class Fault:
    """One injected misbehaviour. ``accept``: act first, then answer with ``status`` ("reset" drops the
    connection instead, "slow" answers normally after ``seconds``); otherwise answer ``status`` without acting."""

    status: int | str = 429
    retry_after: int | str | None = 1  # a str for odd values ("1.5", "inf", an HTTP date)
    error: str = "ratelimited"
    remaining: int = 1
    channel: str | None = None
    accept: bool = False
    seconds: float = 0.0


HISTORY_METHODS = ("conversations.history", "conversations.replies")


# The tests' minute: Slack's 60 s, shortened fourfold so that a run which must wait for the next window (a second
# recovery by the same token) waits seconds, not a minute. The bot reads Retry-After, not the clock, so nothing in
# it knows the difference; SCR_TEST_HISTORY_WINDOW=60 runs the suite with Slack's own minute.
HISTORY_WINDOW = float(os.environ.get("SCR_TEST_HISTORY_WINDOW", "15"))


@dataclass
class HistoryLimits:
    """Slack's history limits for commercially distributed apps not approved for the Marketplace."""

    per_minute: int = 1
    page: int = 15
    window: float = HISTORY_WINDOW  # seconds in a "minute" (see HISTORY_WINDOW)
    used: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (method, token) -> (minute, calls)

    def wait(self, method: str, token: str, now: float) -> int | None:
        """None: the call may go ahead (and is counted); else the Retry-After, the rest of the minute."""
        minute = int(now // self.window)
        seen, calls = self.used.get((method, token), (minute, 0))
        calls = calls if seen == minute else 0
        if calls >= self.per_minute:
            return max(1, math.ceil(self.window - now % self.window))
        self.used[(method, token)] = (minute, calls + 1)
        return None


@dataclass
class Grant:
    """A token Slack issued through OAuth: whose it is, when it expires, whether it was revoked."""

    team_id: str | None
    enterprise_id: str | None
    org: bool = False
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class Install:
    """What "Add to Slack" in a workspace hands the app for one authorization ``code``."""

    team_id: str | None
    team_name: str
    enterprise_id: str | None = None
    org: bool = False
    rotating: bool = False
    user: str = "U0INSTALLER"
    scopes: str = "commands,chat:write"


class OAuthServer:
    """Slack's side of OAuth v2: codes exchanged for bot tokens (``oauth.v2.access``), token rotation
    (``grant_type=refresh_token``: a new access token and a new refresh token; the old refresh token
    stops working), expiry, and revocation when a workspace uninstalls. Tokens it never issued are
    left alone (single-token tests use any ``xoxb-``)."""

    def __init__(self, client_id: str = "0000000001.0000000001", client_secret: str = "test-client-secret",
                 lifetime: int = 43200) -> None:  # fmt: skip
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime = lifetime  # seconds an access token of a rotating install lives (Slack: 12 hours)
        self.codes: dict[str, Install] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.exchanges: list[dict[str, Any]] = []  # every oauth.v2.access, for assertions
        self._n = 0

    def add_install(self, code: str, install: Install) -> None:
        self.codes[code] = install

    def uninstall(self, team_or_org: str) -> None:
        """The workspace (or org) removed the app: every token it had stops working."""
        for grant in [*self.grants.values(), *self.refresh_tokens.values()]:
            if team_or_org in (grant.team_id, grant.enterprise_id if grant.org else None):
                grant.revoked = True

    def _issue(self, grant: Grant, rotating: bool) -> dict[str, Any]:
        self._n += 1
        prefix = "xoxe.xoxb-1-" if rotating else "xoxb-"
        token = f"{prefix}{grant.team_id or grant.enterprise_id}-{self._n}"
        issued = Grant(grant.team_id, grant.enterprise_id, grant.org,
                       time.time() + self.lifetime if rotating else None)  # fmt: skip
        self.grants[token] = issued
        out: dict[str, Any] = {"access_token": token}
        if rotating:
            refresh = f"xoxe-1-{grant.team_id or grant.enterprise_id}-{self._n}"
            self.refresh_tokens[refresh] = Grant(grant.team_id, grant.enterprise_id, grant.org)
            out.update(refresh_token=refresh, expires_in=self.lifetime)
        return out

    def access(self, p: dict[str, Any], auth: str) -> dict[str, Any]:
        self.exchanges.append(dict(p))
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if auth != expected and (p.get("client_id"), p.get("client_secret")) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        if p.get("grant_type") == "refresh_token":
            old = self.refresh_tokens.pop(str(p.get("refresh_token")), None)
            if old is None or old.revoked:
                return {"ok": False, "error": "invalid_refresh_token"}
            issued = self._issue(old, rotating=True)
            return {"ok": True, "token_type": "bot", **issued, "team": {"id": old.team_id},
                    "enterprise": {"id": old.enterprise_id} if old.enterprise_id else None,
                    "is_enterprise_install": old.org}  # fmt: skip
        install = self.codes.pop(str(p.get("code")), None)
        if install is None:
            return {"ok": False, "error": "invalid_code"}
        issued = self._issue(Grant(install.team_id, install.enterprise_id, install.org), install.rotating)
        return {
            "ok": True, "app_id": "A0SCR", "token_type": "bot", "scope": install.scopes,
            "bot_user_id": BOT_USER_ID, **issued,
            "team": {"id": install.team_id, "name": install.team_name} if install.team_id else None,
            "enterprise": {"id": install.enterprise_id, "name": "Grid"} if install.enterprise_id else None,
            "is_enterprise_install": install.org,
            "authed_user": {"id": install.user, "scope": "", "token_type": "user"},
        }  # fmt: skip

    def check(self, token: str) -> str | None:
        grant = self.grants.get(token)
        if grant is None:
            return None
        if grant.revoked:
            return "token_revoked"
        if grant.expires_at is not None and grant.expires_at <= time.time():
            return "token_expired"
        return None

    def auth_test(self, token: str) -> dict[str, Any] | None:
        grant = self.grants.get(token)
        if grant is None:
            return None
        return {"ok": True, "url": "https://local.slack/", "team": grant.team_id, "user": "scr",
                "team_id": grant.team_id, "enterprise_id": grant.enterprise_id, "user_id": BOT_USER_ID,
                "bot_id": "B0BOT", "is_enterprise_install": grant.org}  # fmt: skip


def trigger_expired(params: dict[str, Any]) -> bool:
    """Whether a call's ``trigger_id`` was more than 3 s old when the call reached Slack (``trig.<click time>``)."""
    issued = str(params.get("trigger_id") or "").removeprefix("trig.")
    try:
        clicked = float(issued)
    except ValueError:
        return False
    return float(params.get("_arrived") or time.time()) - clicked > TRIGGER_LIFETIME


class _BusyServer(ThreadingHTTPServer):
    """Slack takes hundreds of connections at once; the standard library's listen backlog of 5 would
    reset them (benchmarks fan out across many workspaces)."""

    request_queue_size = 1024

    def serve_forever(self, poll_interval: float = 0.02) -> None:
        """The standard library polls for ``shutdown()`` every 0.5 s, so closing a test's Slack took half a
        second per test; a short poll makes it prompt."""
        super().serve_forever(poll_interval)


class FakeSlack(LocalSlack):
    """``LocalSlack`` with call recording, fault injection, rate limits, channel membership and Socket Mode."""

    server_class = _BusyServer

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.started: list[tuple[str, dict[str, Any]]] = []  # calls as they arrive, before any delay
        self.faults: dict[str, list[Fault]] = {}
        self.channel_errors: dict[str, str] = {}  # channel -> permanent error (e.g. not_in_channel)
        self.members: dict[str, set[str]] = {}  # channel -> user ids; missing = everyone
        self.delay: dict[str, float] = {}  # method -> seconds to wait before acting (then act anyway)
        self.hold: dict[str, float] = {}  # method -> seconds to wait; if the caller hung up meanwhile, drop it
        self.slow_when: list[tuple[str, dict[str, Any], float]] = []  # (method, params to match, seconds)
        self.limits: RateLimits | None = None
        self.history_limits: HistoryLimits | None = None
        self.socket_mode: LocalSocketMode | None = None
        self.methods["apps.connections.open"] = self.apps_connections_open
        self.oauth = OAuthServer()
        self.team_id = SINGLE_TEAM  # the single-token install's workspace: what auth.test answers for the one token

    # ----- faults ---------------------------------------------------------------------------
    def fail(self, method: str, status: int = 429, retry_after: int | str | None = 1, error: str = "ratelimited",
             times: int = 1, channel: str | None = None) -> None:  # fmt: skip
        """Answer ``status`` to the next ``times`` calls of ``method`` without acting (429, or a 5xx before Slack did anything)."""
        self._add(method, Fault(status, retry_after, error, times, channel))

    def accept_then(self, method: str, status: int | str = 500, *, times: int = 1, channel: str | None = None,
                    seconds: float = 0.0, error: str = "internal_error") -> None:  # fmt: skip
        """Act on the next ``times`` calls of ``method``, then lose the answer: ``status`` 500 (or any code),
        ``"reset"`` (drop the connection) or ``"slow"`` (answer normally, but only after ``seconds``)."""
        self._add(method, Fault(status, None, error, times, channel, accept=True, seconds=seconds))

    def _add(self, method: str, fault: Fault) -> None:
        with self.lock:
            self.faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        with self.lock:
            queue = self.faults.get(method) or []
            for fault in queue:
                if fault.channel and fault.channel != self._channel(params):
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.remove(fault)
                return fault
        return None

    # ----- what happened --------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def ok_calls(self, method: str) -> list[Call]:
        """Calls the caller saw answered 200."""
        return [c for c in self.calls_to(method) if c.status == 200]

    def accepted(self, method: str) -> list[Call]:
        """Calls "Slack" acted on, whatever the caller saw."""
        return [c for c in self.calls_to(method) if c.accepted]

    def _record(self, method: str, params: dict[str, Any], status: int, accepted: bool = False) -> None:
        with self.lock:
            self.calls.append(Call(method, params, status, accepted, token=str(params.get("_token", "")),
                                   arrived=float(params.get("_arrived") or time.time())))  # fmt: skip

    # ----- serving --------------------------------------------------------------------------
    def on_response_url(self, h: BaseHTTPRequestHandler, params: dict[str, Any]) -> None:
        self._record("response_url", params, 200, accepted=True)
        super().on_response_url(h, params)

    def on_api(self, h: BaseHTTPRequestHandler, method: str, params: dict[str, Any], auth: str) -> None:
        bearer = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
        params = {**params, "_token": bearer or str(params.get("token") or ""), "_arrived": time.time()}
        with self.lock:
            self.started.append((method, params))
        if method in self.delay:
            time.sleep(self.delay[method])
        for slow_method, match, seconds in list(self.slow_when):
            if slow_method == method and all(params.get(k) == v for k, v in match.items()):
                time.sleep(seconds)
        if method in self.hold and self._caller_gone(h, self.hold[method]):
            self._record(method, params, 499)  # the caller hung up before "Slack" acted: nothing happens
            return
        if method == "chat.postMessage" and self.limits is not None:
            with self.lock:
                grant = self.oauth.grants.get(str(params.get("_token") or ""))
                allowed = self.limits.allow(self._channel(params), grant.team_id or "" if grant else "")
            if not allowed:
                self._record(method, params, 429)
                self.send(h, 429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": self.limits.wait})
                return
        fault = self._take_fault(method, params)
        if fault and not fault.accept:
            self._record(method, params, int(fault.status))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self.send(h, int(fault.status), {"ok": False, "error": fault.error}, headers=headers)
            return
        if method in HISTORY_METHODS and self.history_limits is not None:
            with self.lock:
                wait = self.history_limits.wait(method, str(params.get("_token") or ""), time.time())
            if wait is not None:
                self._record(method, params, 429)
                self.send(h, 429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(wait)})
                return
            limit = int(params.get("limit") or 100)
            params = {**params, "limit": str(min(limit, self.history_limits.page))}
        status, body = self.call(method, params, auth)
        acted = bool(body.get("ok"))
        if acted:
            self.notify(method, {**params, "_result": body})
        if fault is None or fault.status == "slow":
            if fault is not None:
                time.sleep(fault.seconds)
            self._record(method, params, status, acted)
            self._write(h, status, body)
        elif fault.status == "reset":
            self._record(method, params, 0, acted)
            self._reset(h)
        else:
            self._record(method, params, int(fault.status), acted)
            self.send(h, int(fault.status), {"ok": False, "error": fault.error})

    def _write(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        try:
            self.send(h, status, body)
        except OSError:  # the caller gave up waiting for a slow answer
            h.close_connection = True

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        """Drop the connection with a TCP reset, no answer at all."""
        h.close_connection = True
        conn = h.connection
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    @staticmethod
    def _caller_gone(h: BaseHTTPRequestHandler, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if h.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    return True
            except BlockingIOError:
                pass
            except OSError:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        if self.socket_mode:
            self.socket_mode.close()
        super().close()

    # ----- Web API methods only tests need, and membership ----------------------------------
    def call(self, method: str, params: dict[str, Any], auth: str = "Bearer xoxb-") -> tuple[int, dict[str, Any]]:
        if method == "oauth.v2.access":
            with self.lock:
                return 200, self.oauth.access(params, auth)
        with self.lock:
            problem = self.oauth.check(str(params.get("_token") or ""))
            if problem:
                return 200, {"ok": False, "error": problem}
            if method == "auth.test" and (who := self.oauth.auth_test(str(params.get("_token") or ""))):
                return 200, who
        if method in TRIGGER_METHODS and trigger_expired(params):
            return 200, {"ok": False, "error": "expired_trigger_id"}
        channel = self._channel(params)
        if method in CHANNEL_METHODS and channel in self.channel_errors:
            return 200, {"ok": False, "error": self.channel_errors[channel]}
        if (method == "chat.postEphemeral" and channel in self.members
                and params.get("user") not in self.members[channel]):  # fmt: skip
            return 200, {"ok": False, "error": "user_not_in_channel"}
        return super().call(method, params, auth)

    def users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        """A person the test did not describe belongs to the workspace of the token asking (as Slack answers
        for a workspace's own members); a single-token install's is ``team_id`` (in ``enterprise_id``'s org). Described people keep
        their own ``team_id`` (and ``enterprise_user``), so a test can put someone in another organisation."""
        uid = str(p.get("user", ""))
        if uid in self.users:
            return {"ok": True, "user": self.users[uid]}
        with self.lock:
            grant = self.oauth.grants.get(str(p.get("_token") or ""))
        team = (grant.team_id or grant.enterprise_id) if grant else self.team_id
        enterprise = grant.enterprise_id if grant else self.enterprise_id
        user: dict[str, Any] = {"id": uid, "name": uid.lower(), "real_name": f"User {uid}", "tz": "Europe/London",
                                "team_id": team}  # fmt: skip
        if enterprise:
            user["enterprise_user"] = {"id": uid, "enterprise_id": enterprise, "teams": [team]}
        return {"ok": True, "user": user}

    def apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            self.socket_mode = LocalSocketMode()
        return {"ok": True, "url": self.socket_mode.url}

    def conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        members = self.members.get(channel)
        return {"ok": True, "channel": {"id": channel, "is_member": members is None or BOT_USER_ID in members}}

    def member_channels(self, user: str) -> list[str]:
        known = set(self.messages) | set(self.members)
        return sorted(c for c in known if c not in self.members or user in self.members[c])
