"""A local stand-in for Microsoft Teams at its HTTP boundary, as fakeslack.py is for Slack.

It serves what the bot calls: the Bot Framework OpenID metadata and JWKS (keys it generates), the Entra ID
token endpoint (client credentials), the Bot Connector's conversations/activities/replies/members endpoints,
and the Graph reads the delivery port uses (channel messages delta; a thread's replies). It signs activities as the
Bot Connector does, with its own key, so tests can also sign them wrongly (another key, expired, another
audience, another serviceUrl). Faults: ``lose_posts`` acts, then drops the connection unanswered; ``hold_replies``
holds a reply in a thread unanswered until ``release`` is set (``held`` is set while it waits), having posted it
first or not (``hold_after_posting``), then drops the connection (the bot is killed meanwhile). ``clock``: the
time its messages are stamped with (ids, Graph's createdDateTime), so a test can play a week ahead of today.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://api.botframework.com"
KID = "fake-teams-key-1"
_last_id = [0]
_id_lock = threading.Lock()


def _activity_id() -> str:
    """A message id as Teams makes one (the millisecond it was made), unique: a burst built within one millisecond
    takes the next free ones."""
    with _id_lock:
        _last_id[0] = max(int(time.time() * 1000), _last_id[0] + 1)
        return str(_last_id[0])


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeTeams:
    def __init__(self, app_id: str, app_password: str, tenant: str, graph_page: int = 2):
        self.app_id = app_id
        self.app_password = app_password
        self.tenant = tenant
        self.key = new_key()
        self.graph_page = graph_page
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}  # access token -> scope
        self.token_requests = 0
        self.sent: list[dict[str, Any]] = []  # every activity the bot sent: {"conversation", "reply_to", "activity", "id"}
        self.created: list[dict[str, Any]] = []
        self.members: dict[str, set[str]] = {}
        self.fail_members = 0  # the next N membership reads answer 503
        self.lose_posts = 0
        self.hold_replies = 0
        self.hold_after_posting = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.graph_refuse = False
        self.unauthorised: list[str] = []
        self.clock: Callable[[], float] = time.time  # when Teams says a message was made (a test's simulated week)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.service_url = f"{self.url}/svc/"

    # ----- settings the bot needs ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {"TEAMS_APP_ID": self.app_id, "TEAMS_APP_PASSWORD": self.app_password, "TEAMS_TENANT_ID": self.tenant,
                "TEAMS_OPENID_URL": f"{self.url}/v1/.well-known/openidconfiguration", "TEAMS_LOGIN_URL": f"{self.url}/login",
                "TEAMS_GRAPH_URL": f"{self.url}/graph"}  # fmt: skip

    def serve(self) -> FakeTeams:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ----- signing as the Bot Connector does -------------------------------------------------------
    def token_for(self, activity: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, audience: str | None = None,
                  expires_in: int = 3600, service_url: str | None = None, issuer: str = ISSUER) -> str:
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience or self.app_id, "iat": now - 10, "nbf": now - 10,
                  "exp": now + expires_in, "serviceurl": service_url or activity.get("serviceUrl")}  # fmt: skip
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": KID})

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]}]}

    # ----- activities as Teams builds them ------------------------------------------------------------
    def base(self, conversation: dict[str, Any], user: str = "29:user-aad-1", **extra: Any) -> dict[str, Any]:
        return {"id": _activity_id(), "channelId": "msteams",
                "serviceUrl": self.service_url, "timestamp": datetime.now(UTC).isoformat(),
                "from": {"id": user, "aadObjectId": "aad-1"}, "recipient": {"id": f"28:{self.app_id}", "name": "scr"},
                "conversation": {"tenantId": self.tenant, **conversation},
                "channelData": {"tenant": {"id": self.tenant}}, **extra}  # fmt: skip

    def channel_added(self, team: str, group: str) -> dict[str, Any]:
        act = self.base({"id": team, "conversationType": "channel", "isGroup": True}, type="conversationUpdate",
                        membersAdded=[{"id": f"28:{self.app_id}"}])  # fmt: skip
        act["channelData"].update(team={"id": team, "aadGroupId": group, "name": "Safeguarding"},
                                  channel={"id": team}, eventType="teamMemberAdded")  # fmt: skip
        return act

    def channel_removed(self, team: str, group: str) -> dict[str, Any]:
        act = self.channel_added(team, group)
        act.pop("membersAdded")
        act["membersRemoved"] = [{"id": f"28:{self.app_id}"}]
        act["channelData"]["eventType"] = "teamMemberRemoved"
        return act

    def personal_message(self, text: str, conversation: str = "a:personal-1", user: str = "29:user-aad-1",
                         zone: str | None = None) -> dict[str, Any]:  # fmt: skip
        """A message in a personal chat; ``zone``: the sender's client's own time zone, which Teams sends in the
        activity's ``localTimezone`` (with ``localTimestamp`` in it)."""
        act = self.base({"id": conversation, "conversationType": "personal"}, user=user, type="message", text=text)
        if zone:
            act["localTimezone"] = zone
            act["localTimestamp"] = datetime.now(ZoneInfo(zone)).isoformat()
        return act

    def channel_mention(self, channel: str, text: str, user: str = "29:user-aad-1", name: str = "Ann Lead",
                        thread: str | None = None) -> dict[str, Any]:
        """A message in ``channel`` (a new post, or a reply in ``thread``) that @mentions the bot, as Teams sends it:
        the mention as ``<at>`` markup in the text and as an entity naming the bot."""
        conv = f"{channel};messageid={thread}" if thread else channel
        act = self.base({"id": conv, "conversationType": "channel", "isGroup": True}, user=user, type="message",
                        text=f"<at>SCR Learning</at> {text}", textFormat="xml",
                        entities=[{"type": "mention", "text": "<at>SCR Learning</at>",
                                   "mentioned": {"id": f"28:{self.app_id}", "name": "SCR Learning"}}])  # fmt: skip
        act["from"]["name"] = name
        act["channelData"].update(team={"id": channel}, channel={"id": channel})
        return act

    def thread_activity(self, kind: str, channel: str, root: str, message: str, *, text: str = "", user: str = "29:user-aad-1",
                        at: datetime | None = None, event: str | None = None) -> dict[str, Any]:
        """A reply (``message``), its edit (``messageUpdate``) or its deletion (``messageDelete``) in the thread of
        ``root`` in ``channel``, as Teams sends them: the thread in the conversation id, the reply's own id
        (its creation time in epoch ms) as the activity's id, ``at`` as the activity's time."""
        act = self.base({"id": f"{channel};messageid={root}", "conversationType": "channel", "isGroup": True},
                        user=user, type=kind, text=text, textFormat="xml")  # fmt: skip
        act["id"] = message
        if at is not None:
            act["timestamp"] = at.astimezone(UTC).isoformat()
        act["channelData"].update(team={"id": channel}, channel={"id": channel}, **({"eventType": event} if event else {}))
        return act

    def card_action(self, data: dict[str, Any], verb: str, conversation: str = "a:personal-1",
                    user: str = "29:user-aad-1") -> dict[str, Any]:
        """A press of an Action.Execute button on a card in a personal chat: an ``adaptiveCard/action`` invoke."""
        return self.base({"id": conversation, "conversationType": "personal"}, user=user, type="invoke",
                         name="adaptiveCard/action",
                         value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})  # fmt: skip

    def extension_query(self, query: str | None, conversation: str = "a:personal-1", user: str = "29:user-aad-1",
                        skip: int = 0, count: int = 25) -> dict[str, Any]:
        """A search in the ``scr`` message extension: a ``composeExtension/query`` invoke (``query`` None: the
        first open of the search, which Teams sends as ``initialRun``)."""
        parameters = [{"name": "initialRun", "value": "true"}] if query is None else [{"name": "query", "value": query}]
        return self.base({"id": conversation, "conversationType": "personal"}, user=user, type="invoke",
                         name="composeExtension/query",
                         value={"commandId": "searchQuery", "parameters": parameters,
                                "queryOptions": {"skip": skip, "count": count}})  # fmt: skip

    def task(self, name: str, data: dict[str, Any], conversation: dict[str, Any], user: str = "29:user-aad-1",
             reply_to: str | None = None) -> dict[str, Any]:
        """A dialog (task module) invoke: ``task/fetch`` (a button asked for the dialog) or ``task/submit`` (its
        form submitted: what was typed merged into the submit action's data, as Teams sends it)."""
        act = self.base(conversation, user=user, type="invoke", name=name,
                        value={"data": data, "context": {"theme": "default"}})  # fmt: skip
        if reply_to:
            act["replyToId"] = reply_to
        return act

    # ----- what the bot sent ---------------------------------------------------------------------------
    def replies_to(self, activity_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s["activity"] for s in self.sent if s["reply_to"] == activity_id]

    def posts_in(self, conversation: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.sent if s["conversation"] == conversation and s["reply_to"] is None]

    def weekly_posts(self, conversation: str) -> list[dict[str, Any]]:
        """The conversation's top-level posts but the bot's welcome card (sent once when it is added)."""
        return [p for p in self.posts_in(conversation)
                if ((p["activity"].get("channelData") or {}).get("scr") or {}).get("kind") != "welcome"]  # fmt: skip

    # ----- the HTTP side -------------------------------------------------------------------------------
    def _authorised(self, headers: Any, scope: str) -> bool:
        auth = headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ")
        with self.lock:
            ok = self.tokens.get(token) == scope
            if not ok:
                self.unauthorised.append(scope)
        return ok

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(parsed.path)
                if path == "/v1/.well-known/openidconfiguration":
                    return self._json(200, {"issuer": ISSUER, "jwks_uri": f"{fake.url}/v1/keys",
                                            "id_token_signing_alg_values_supported": ["RS256"]})  # fmt: skip
                if path == "/v1/keys":
                    return self._json(200, fake.jwks())
                if path.startswith("/graph/"):
                    return self._graph(parsed)
                if path.startswith("/svc/v3/conversations/") and "/members/" in path:
                    if not fake._authorised(self.headers, "https://api.botframework.com/.default"):
                        return self._json(401, {"error": {"code": "Unauthorized"}})
                    conv, _, user = path.removeprefix("/svc/v3/conversations/").partition("/members/")
                    with fake.lock:
                        failing = fake.fail_members > 0
                        fake.fail_members -= 1 if failing else 0
                    if failing:  # a blip: the roster cannot be read now
                        return self._json(503, {"error": {"code": "ServiceUnavailable"}})
                    if user in fake.members.get(conv, set()):
                        return self._json(200, {"id": user})
                    return self._json(404, {"error": {"code": "MemberNotFoundInConversation"}})
                return self._json(404, {"error": {"code": "NotFound"}})

            def _graph(self, parsed: urllib.parse.SplitResult) -> None:
                if not fake._authorised(self.headers, "https://graph.microsoft.com/.default"):
                    return self._json(401, {"error": {"code": "InvalidAuthenticationToken"}})
                if fake.graph_refuse:
                    return self._json(403, {"error": {"code": "Forbidden"}})
                parts = urllib.parse.unquote(parsed.path).split("/")  # /graph/v1.0/teams/G/channels/C/messages/delta
                query = dict(urllib.parse.parse_qsl(parsed.query))
                channel = parts[6]
                since = query.get("$filter", "").removeprefix("lastModifiedDateTime gt ")
                skip = int(query.get("$skiptoken", "0"))
                thread = parts[8] if len(parts) > 9 and parts[9] == "replies" else None  # .../messages/T/replies
                with fake.lock:
                    msgs = [s for s in fake.sent if s["conversation"] == channel and s["reply_to"] == thread
                            and (not since or s["at"] > since)]  # fmt: skip
                page = msgs[skip:skip + fake.graph_page]
                body: dict[str, Any] = {"value": [{
                    "id": s["id"], "createdDateTime": s["at"], "lastModifiedDateTime": s["at"],
                    "from": {"application": {"id": fake.app_id}},
                    "attachments": [{"contentType": a["contentType"], "content": json.dumps(a["content"])}
                                    for a in s["activity"].get("attachments") or []]} for s in page]}  # fmt: skip
                if skip + fake.graph_page < len(msgs):
                    q = urllib.parse.urlencode({**query, "$skiptoken": skip + fake.graph_page})
                    body["@odata.nextLink"] = f"{fake.url}{parsed.path}?{q}"
                return self._json(200, body)

            def do_POST(self) -> None:  # noqa: N802
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                raw = self._body()
                if path == f"/login/{fake.tenant}/oauth2/v2.0/token":
                    form = dict(urllib.parse.parse_qsl(raw.decode()))
                    if form.get("client_id") != fake.app_id or form.get("client_secret") != fake.app_password:
                        return self._json(401, {"error": "invalid_client"})
                    token = secrets.token_urlsafe(24)
                    with fake.lock:
                        fake.tokens[token] = form.get("scope", "")
                        fake.token_requests += 1
                    return self._json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
                if not path.startswith("/svc/v3/conversations"):
                    return self._json(404, {"error": {"code": "NotFound"}})
                if not fake._authorised(self.headers, "https://api.botframework.com/.default"):
                    return self._json(401, {"error": {"code": "Unauthorized"}})
                body = json.loads(raw or b"{}")
                rest = path.removeprefix("/svc/v3/conversations").strip("/")
                if not rest:  # createConversation
                    conv = f"a:personal-{body['members'][0]['id']}"
                    with fake.lock:
                        fake.created.append(body)
                    return self._json(201, {"id": conv})
                conv, _, tail = rest.partition("/activities")
                reply_to = tail.strip("/") or None
                now = datetime.fromtimestamp(fake.clock(), UTC)
                entry = {"conversation": conv.split(";")[0], "reply_to": reply_to, "activity": body,
                         "id": str(int(now.timestamp() * 1000) + len(fake.sent)), "at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}  # fmt: skip
                with fake.lock:
                    hold = fake.hold_replies > 0 and reply_to is not None
                    if hold:
                        fake.hold_replies -= 1
                if hold:
                    if fake.hold_after_posting:
                        with fake.lock:
                            fake.sent.append(entry)
                    fake.held.set()
                    fake.release.wait(60)
                    self.close_connection = True
                    return None
                with fake.lock:
                    fake.sent.append(entry)
                    lose = fake.lose_posts > 0 and reply_to is None
                    if lose:
                        fake.lose_posts -= 1
                if lose:
                    self.close_connection = True  # acted, answer lost: the connection drops unanswered
                    return None
                return self._json(201, {"id": entry["id"]})

        return Handler
