"""A small local server that speaks Slack's Web API over real HTTP on 127.0.0.1.

Two users: the test suite, which points the bot's ``SLACK_API_URL`` here to see exactly what
the bot would send to Slack (and to make Slack answer 429 or 500 on purpose), and the offline
shell, which runs the real Bolt handlers with this server standing in for Slack. It keeps
channels' messages and threads in memory, records every call, and serves ``response_url``s.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TEAM_ID = "T0LOCAL"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.time)


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
    """Slack's chat.postMessage limits, roughly: ~1 message/s per channel with short bursts, a
    workspace-wide cap, and (for testing retries) a chance of a 429 on any call."""

    per_channel: float = 1.0
    burst: int = 3
    workspace_per_second: float | None = None
    random_429: float = 0.0
    retry_after: int = 1
    seed: int = 7
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    limited: int = 0

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

    def allow(self, channel: str) -> bool:
        now = time.monotonic()
        if self.random_429 and self.rng.random() < self.random_429:
            self.limited += 1
            return False
        if self.workspace_per_second and not self._take("_workspace", self.workspace_per_second,
                                                        max(1.0, self.workspace_per_second), now):
            self.limited += 1
            return False
        if not self._take(channel, self.per_channel, self.burst, now):
            self.limited += 1
            return False
        return True


@dataclass
class Failure:
    status: int = 429
    retry_after: int | None = 1
    error: str = "ratelimited"
    remaining: int = 1
    channel: str | None = None


class LocalSlack:
    """The Web API state and behaviour; ``serve()`` puts it on a port."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_urls
        self.views: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        self.failures: dict[str, list[Failure]] = {}
        self.channel_errors: dict[str, str] = {}  # channel -> permanent error (e.g. not_in_channel)
        self.members: dict[str, set[str]] = {}  # channel -> user ids; missing = everyone
        self.users: dict[str, dict[str, Any]] = {}
        self.delay: dict[str, float] = {}  # method -> seconds to wait before acting (then act anyway)
        self.hold: dict[str, float] = {}  # method -> seconds to wait; if the caller hung up meanwhile, drop it
        self.started: list[tuple[str, dict[str, Any]]] = []  # calls as they arrive, before any delay
        self.limits: RateLimits | None = None
        self.clock: Callable[[], float] = time.time  # message ts come from here (tests may set a fixed time)
        self.socket_mode: LocalSocketMode | None = None
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None

    # ----- control, for tests -------------------------------------------------------------
    def fail(self, method: str, status: int = 429, retry_after: int | None = 1, error: str = "ratelimited",
             times: int = 1, channel: str | None = None) -> None:
        with self.lock:
            self.failures.setdefault(method, []).append(Failure(status, retry_after, error, times, channel))

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def ok_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls_to(method) if c.status == 200]

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages.get(channel, []) if "thread_ts" not in m or m["thread_ts"] == m["ts"]]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages.get(channel, []) if m.get("thread_ts", m["ts"]) == ts]

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def response_url(self) -> str:
        return self.url.replace("/api/", f"/response/{next(self._ids)}")

    # ----- serving ------------------------------------------------------------------------
    def serve(self, port: int = 0) -> LocalSlack:
        slack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                slack._handle(self)

            do_GET = do_POST  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._server_thread = threading.Thread(target=self.server.serve_forever, name="local-slack", daemon=True)
        self._server_thread.start()
        return self

    def close(self) -> None:
        if self.socket_mode:
            self.socket_mode.close()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        ctype = h.headers.get("content-type", "")
        params: dict[str, Any] = {}
        if raw:
            if "json" in ctype:
                try:
                    params = json.loads(raw)
                except ValueError:
                    params = {}
            elif "multipart" not in ctype:
                params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        params.update({k: v[0] for k, v in parse_qs(parsed.query).items()})
        if parsed.path.startswith("/response/"):
            params["_url"] = self.url.replace("/api/", parsed.path)
            with self.lock:
                self.responses.append(params)
                self.calls.append(Call("response_url", params, 200))
            for listener in list(self.listeners):
                listener("response_url", params)
            self._send(h, 200, {"ok": True}, raw_text="ok")
            return
        if parsed.path.startswith("/upload/"):
            with self.lock:
                self.files.append({"id": parsed.path.rsplit("/", 1)[-1], "content": raw})
            self._send(h, 200, {"ok": True}, raw_text="OK - 0")
            return
        method = parsed.path.rsplit("/", 1)[-1]
        auth = h.headers.get("authorization", "")
        if not params.get("token") and not auth.startswith(("Bearer xox", "Bearer xapp-")):
            self._record(method, params, 200)
            self._send(h, 200, {"ok": False, "error": "not_authed"})
            return
        for key in ("blocks", "metadata", "view", "attachments", "files"):
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        with self.lock:
            self.started.append((method, params))
        if method in self.delay:
            time.sleep(self.delay[method])
        if method in self.hold and self._caller_gone(h, self.hold[method]):
            self._record(method, params, 499)  # the caller hung up before "Slack" acted: nothing happens
            return
        if method == "chat.postMessage" and self.limits is not None:
            with self.lock:
                allowed = self.limits.allow(str(params.get("channel")))
            if not allowed:
                self._record(method, params, 429)
                self._send(h, 429, {"ok": False, "error": "ratelimited"},
                           headers={"Retry-After": str(self.limits.retry_after)})
                return
        failure = self._take_failure(method, params)
        if failure:
            self._record(method, params, failure.status)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            self._send(h, failure.status, {"ok": False, "error": failure.error}, headers=headers)
            return
        try:
            body = self._api(method, params)
        except Exception as exc:  # a bug here must show in tests, not hang them
            body = {"ok": False, "error": f"local_slack_error: {exc}"}
        self._record(method, params, 200)
        self._send(h, 200, body)
        if body.get("ok"):
            for listener in list(self.listeners):
                listener(method, {**params, "_result": body})

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

    def _take_failure(self, method: str, params: dict[str, Any]) -> Failure | None:
        with self.lock:
            queue = self.failures.get(method) or []
            for failure in queue:
                if failure.channel and failure.channel != params.get("channel"):
                    continue
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.remove(failure)
                return failure
        return None

    def _record(self, method: str, params: dict[str, Any], status: int) -> None:
        with self.lock:
            self.calls.append(Call(method, params, status))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
              raw_text: str | None = None) -> None:
        data = (raw_text if raw_text is not None else json.dumps(body)).encode()
        h.send_response(status)
        h.send_header("content-type", "text/plain" if raw_text is not None else "application/json; charset=utf-8")
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # ----- the Web API --------------------------------------------------------------------
    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{int(self.clock())}.{n:06d}"

    def _api(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if method == "apps.connections.open":
                if self.socket_mode is None:
                    self.socket_mode = LocalSocketMode()
                return {"ok": True, "url": self.socket_mode.url}
            if method == "auth.test":
                return {"ok": True, "url": "https://local.slack/", "team": "Local", "user": "scr",
                        "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}
            channel = p.get("channel") or p.get("channel_id")
            if method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.history",
                          "conversations.replies", "conversations.info") and channel in self.channel_errors:
                return {"ok": False, "error": self.channel_errors[channel]}
            if method == "chat.postMessage":
                if not channel:
                    return {"ok": False, "error": "channel_not_found"}
                msg = {"type": "message", "ts": self._next_ts(), "user": BOT_USER_ID, "bot_id": BOT_ID,
                       "text": p.get("text", ""), "blocks": p.get("blocks", []), "channel": channel}
                if p.get("thread_ts"):
                    msg["thread_ts"] = p["thread_ts"]
                if p.get("metadata"):
                    msg["metadata"] = p["metadata"]
                self.messages.setdefault(channel, []).append(msg)
                return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}
            if method == "chat.postEphemeral":
                if channel in self.members and p.get("user") not in self.members[channel]:
                    return {"ok": False, "error": "user_not_in_channel"}
                return {"ok": True, "message_ts": self._next_ts()}
            if method == "chat.update":
                for msg in self.messages.get(channel, []):
                    if msg["ts"] == p.get("ts"):
                        msg.update({k: p[k] for k in ("text", "blocks", "metadata") if k in p})
                        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}
                return {"ok": False, "error": "message_not_found"}
            if method == "conversations.history":
                oldest = float(p.get("oldest") or 0)
                msgs = [dict(m) for m in self.channel_messages(channel) if float(m["ts"]) >= oldest]
                if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
                    for m in msgs:
                        m.pop("metadata", None)
                return {"ok": True, "messages": list(reversed(msgs)), "has_more": False}
            if method == "conversations.replies":
                return {"ok": True, "messages": self.thread(channel, p.get("ts", "")), "has_more": False}
            if method == "conversations.info":
                members = self.members.get(channel)
                return {"ok": True, "channel": {"id": channel, "is_member": members is None or BOT_USER_ID in members}}
            if method in ("views.open", "views.publish", "views.update", "views.push"):
                view = p.get("view") or {}
                record = {"method": method, "user_id": p.get("user_id"), "trigger_id": p.get("trigger_id"),
                          "view": view, "id": f"V{next(self._ids):06d}"}
                self.views.append(record)
                return {"ok": True, "view": {**view, "id": record["id"]}}
            if method == "users.info":
                uid = p.get("user", "")
                user = self.users.get(uid) or {"id": uid, "name": uid.lower(), "real_name": f"User {uid}",
                                                "tz": "Europe/London", "team_id": TEAM_ID}
                return {"ok": True, "user": user}
            if method == "users.conversations":
                user = p.get("user", "")
                known = set(self.messages) | set(self.members)
                chans = sorted(c for c in known if c not in self.members or user in self.members[c])
                return {"ok": True, "channels": [{"id": c} for c in chans], "response_metadata": {"next_cursor": ""}}
            if method == "conversations.open":
                return {"ok": True, "channel": {"id": "D" + str(p.get("users", "U")).split(",")[0]}}
            if method == "files.getUploadURLExternal":
                fid = f"F{next(self._ids):06d}"
                return {"ok": True, "upload_url": self.url.replace("/api/", f"/upload/{fid}"), "file_id": fid}
            if method == "files.completeUploadExternal":
                files = p.get("files") or []
                ids = {f.get("id") for f in files}
                for rec in self.files:
                    if rec["id"] in ids:
                        rec.update({"channel": p.get("channel_id"), "comment": p.get("initial_comment"),
                                    "title": next((f.get("title") for f in files if f.get("id") == rec["id"]), None)})
                return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
            return {"ok": True}
