"""A small local stand-in for Slack's Web API, over real HTTP on 127.0.0.1, for the offline shell.

The shell runs the real Bolt app; the app's Web API calls come here instead of to slack.com. Only
the methods the bot itself calls are answered (posting, threads, views, files, users,
``response_url``s); any other method gets ``{"ok": false, "error": "unknown_method"}``, as Slack
answers it, so a call the bot should not make shows up instead of silently "working". Posted
messages are kept in memory and handed to ``listeners`` (the shell prints them).

Test machinery (fault injection, rate limits, call recording, Socket Mode) is not shipped: it lives
in ``tests/fakeslack.py``, which extends this class.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TEAM_ID = "T0LOCAL"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"

Method = Callable[[dict[str, Any]], dict[str, Any]]
Listener = Callable[[str, dict[str, Any]], None]
JSON_FIELDS = ("blocks", "metadata", "view", "attachments", "files")


class LocalSlack:
    """The Web API state (messages, views, files) and the methods the bot calls; ``serve()`` puts it on a port."""

    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_urls
        self.views: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        # The workspace (and Enterprise Grid org) the one token belongs to: ``auth.test`` answers it and people
        # not described in ``users`` are its members, so the fake never says two things about where it is.
        self.team_id: str = TEAM_ID
        self.enterprise_id: str | None = None
        self.filenames: dict[str, str] = {}  # uploaded file id -> the name the bot gave it
        self.channels: set[str] = set()  # channels everyone is in, even before any message (the shell's #team)
        self.members: dict[str, set[str]] = {}  # channel -> who is in it; a channel not listed has everyone
        self.clock: Callable[[], float] = time.time  # message ts come from here
        self.listeners: list[Listener] = []  # told of every successful call (the shell prints posts)
        self.methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.update": self.chat_update,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.info": self.conversations_info,
            "conversations.open": self.conversations_open,
            "users.info": self.users_info,
            "users.conversations": self.users_conversations,
            "views.open": self.views_call("views.open"),
            "views.publish": self.views_call("views.publish"),
            "views.update": self.views_call("views.update"),
            "views.push": self.views_call("views.push"),
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
        }
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self.server: ThreadingHTTPServer | None = None

    # ----- reading the state ----------------------------------------------------------------
    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages in a channel (what conversations.history shows), oldest first."""
        with self.lock:
            return [m for m in self.messages.get(channel, []) if "thread_ts" not in m or m["thread_ts"] == m["ts"]]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """A thread's parent and replies, oldest first."""
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

        self.server = self.server_class(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="local-slack", daemon=True).start()
        return self

    def close(self) -> None:
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
                    loaded = json.loads(raw)
                    params = loaded if isinstance(loaded, dict) else {}
                except ValueError:
                    params = {}
            elif "multipart" not in ctype:
                params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        params.update({k: v[0] for k, v in parse_qs(parsed.query).items()})
        if parsed.path.startswith("/response/"):
            params["_url"] = self.url.replace("/api/", parsed.path)
            self.on_response_url(h, params)
        elif parsed.path.startswith("/upload/"):
            with self.lock:
                self.files.append({"id": parsed.path.rsplit("/", 1)[-1], "content": raw})
            self.send(h, 200, raw_text="OK - 0")
        else:
            for key in JSON_FIELDS:
                if isinstance(params.get(key), str):
                    with contextlib.suppress(ValueError):
                        params[key] = json.loads(params[key])
            self.on_api(h, parsed.path.rsplit("/", 1)[-1], params, h.headers.get("authorization", ""))

    def on_response_url(self, h: BaseHTTPRequestHandler, params: dict[str, Any]) -> None:
        """A POST to a ``response_url``: kept, and passed to the listeners."""
        with self.lock:
            self.responses.append(params)
        self.notify("response_url", params)
        self.send(h, 200, raw_text="ok")

    def on_api(self, h: BaseHTTPRequestHandler, method: str, params: dict[str, Any], auth: str) -> None:
        """One Web API request: answered as Slack would (tests extend this to inject faults)."""
        status, body = self.call(method, params, auth)
        if body.get("ok"):  # before answering: when the caller's call returns, its listeners have been told
            self.notify(method, {**params, "_result": body})
        self.send(h, status, body)

    def call(self, method: str, params: dict[str, Any], auth: str = "Bearer xoxb-") -> tuple[int, dict[str, Any]]:
        """Act on a Web API method; (HTTP status, body). Unknown methods: 404 ``unknown_method``, as Slack."""
        if method == "api.test":  # Slack's "is the Web API up", answered without a token (the bot's /readyz)
            return 200, {"ok": True, "args": {}}
        if not params.get("token") and not auth.startswith(("Bearer xox", "Bearer xapp-")):
            return 200, {"ok": False, "error": "not_authed"}
        handler = self.methods.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            with self.lock:
                return 200, handler(params)
        except Exception as exc:  # a bug here must show, not hang the caller
            return 200, {"ok": False, "error": f"local_slack_error: {exc}"}

    def notify(self, method: str, params: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(method, params)

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, raw_text: str | None = None) -> None:  # fmt: skip
        data = (raw_text if raw_text is not None else json.dumps(body or {})).encode()
        h.send_response(status)
        h.send_header("content-type", "text/plain" if raw_text is not None else "application/json; charset=utf-8")
        h.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # ----- the Web API methods the bot calls ----------------------------------------------
    def _next_ts(self) -> str:
        return f"{int(self.clock())}.{next(self._ts):06d}"

    @staticmethod
    def _channel(p: dict[str, Any]) -> str:
        return str(p.get("channel") or p.get("channel_id") or "")

    def auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        who = {"ok": True, "url": "https://local.slack/", "team": "Local", "user": "scr", "team_id": self.team_id,
               "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}  # fmt: skip
        if self.enterprise_id:
            who["enterprise_id"] = self.enterprise_id
        return who

    def chat_post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        msg = {"type": "message", "ts": self._next_ts(), "user": BOT_USER_ID, "bot_id": BOT_ID,
               "text": p.get("text", ""), "blocks": p.get("blocks", []), "channel": channel}  # fmt: skip
        if p.get("thread_ts"):
            msg["thread_ts"] = p["thread_ts"]
        if p.get("metadata"):
            msg["metadata"] = p["metadata"]
        self.messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}

    def chat_post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        for msg in self.messages.get(channel, []):
            if msg["ts"] == p.get("ts"):
                msg.update({k: p[k] for k in ("text", "blocks", "metadata") if k in p})
                return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}
        return {"ok": False, "error": "message_not_found"}

    @staticmethod
    def _page(p: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
        """Cursor pagination as Slack does it: ``limit`` per page, ``next_cursor`` while there is more."""
        limit = max(1, min(int(p.get("limit") or 100), 1000))
        start = int(p.get("cursor") or 0)
        page, more = items[start:start + limit], start + limit < len(items)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}  # fmt: skip

    def conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        # Slack's window: after ``oldest`` and before ``latest`` (now when absent), both ends kept with ``inclusive``.
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")

        def within(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        msgs = [dict(m) for m in self.channel_messages(self._channel(p)) if within(float(m["ts"]))]
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for m in msgs:
                m.pop("metadata", None)
        return self._page(p, list(reversed(msgs)))  # newest first

    def conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        # The same window as history: after ``oldest``, before ``latest``, both ends kept with ``inclusive``.
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")

        def within(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        msgs = [dict(m) for m in self.thread(self._channel(p), str(p.get("ts", ""))) if within(float(m["ts"]))]
        if str(p.get("include_all_metadata", "")).lower() not in ("1", "true"):
            for m in msgs:
                m.pop("metadata", None)
        return self._page(p, msgs)  # oldest first, parent included

    def conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": self._channel(p), "is_member": True}}

    def conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(p.get("users", "U")).split(",")[0]}}

    def users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        uid = str(p.get("user", ""))
        user = self.users.get(uid) or {"id": uid, "name": uid.lower(), "real_name": f"User {uid}",
                                        "tz": "Europe/London", "team_id": self.team_id}  # fmt: skip
        return {"ok": True, "user": user}

    def member_channels(self, user: str) -> list[str]:
        """Channels ``user`` is in: every channel with a message and any the shell says it is in, except a
        channel whose ``members`` are listed and do not include them (the shell's #team has its people)."""
        known = set(self.messages) | self.channels | set(self.members)
        return sorted(c for c in known if c not in self.members or user in self.members[c])

    def users_conversations(self, p: dict[str, Any]) -> dict[str, Any]:
        chans = self.member_channels(str(p.get("user", "")))
        return {"ok": True, "channels": [{"id": c} for c in chans], "response_metadata": {"next_cursor": ""}}

    def views_call(self, method: str) -> Method:
        def handle(p: dict[str, Any]) -> dict[str, Any]:
            view = p.get("view") or {}
            record = {"method": method, "user_id": p.get("user_id"), "trigger_id": p.get("trigger_id"),
                      "view_id": p.get("view_id"), "view": view, "id": f"V{next(self._ids):06d}"}  # fmt: skip
            self.views.append(record)
            return {"ok": True, "view": {**view, "id": record["id"]}}

        return handle

    def files_get_upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        fid = f"F{next(self._ids):06d}"
        self.filenames[fid] = str(p.get("filename") or fid)
        return {"ok": True, "upload_url": self.url.replace("/api/", f"/upload/{fid}"), "file_id": fid}

    def file(self, file_id: str) -> tuple[str, bytes] | None:
        """An uploaded file's name and content (the shell saves exports to a folder)."""
        with self.lock:
            for rec in self.files:
                if rec["id"] == file_id:
                    return self.filenames.get(file_id, file_id), rec["content"]
        return None

    # ----- people in the channel (the offline shell) -------------------------------------
    def post_as(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person's message, stored as Slack stores it; the caller then delivers the event to the bot."""
        with self.lock:
            msg = {"type": "message", "ts": self._next_ts(), "user": user, "text": text, "channel": channel}
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self.messages.setdefault(channel, []).append(msg)
            return dict(msg)

    def files_complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files") or []
        ids = {f.get("id") for f in files}
        for rec in self.files:
            if rec["id"] in ids:
                rec.update({"channel": p.get("channel_id"), "comment": p.get("initial_comment"),
                            "title": next((f.get("title") for f in files if f.get("id") == rec["id"]), None)})
        return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
