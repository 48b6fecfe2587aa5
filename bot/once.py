"""Do one outward action (a Slack post) exactly once per key, across processes and crashes.

Used for the weekly post and the weekly summary. The protocol, with the caller supplying the parts
that know about Slack:

1. ``SET key claimed NX PX lease``: one process wins; the lease frees the key if that process dies.
   A loser reads the key: done (already), failed (reported), or claimed (busy, leave it).
2. If an earlier attempt was recorded (``key:attempt``), it may have reached Slack before its process
   died: ``find(attempt)`` looks for the result in Slack; if found, finish without sending again.
3. Record the attempt (``prepare``), then ``send`` it.
4. Sent: ``finish`` records the side effects (idempotent), then the key is compare-and-set to done.
   ``Permanent`` error: the key is set to failed for ``failed_seconds`` (then retried), no attempt kept.
   ``Transient`` error: the claim is released; the attempt is kept when the outcome is unknown.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from bot import keys

_CAS = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, obj = pcall(cjson.decode, cur)
if not ok or obj['owner'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
"""


class Permanent(Exception):  # noqa: N818 - reads as "raise Permanent(error)"
    """The action can never succeed as things stand (e.g. the bot is not in the channel)."""


class Transient(Exception):  # noqa: N818
    """Try again later. ``maybe_sent``: the outcome is unknown, so check before sending again."""

    def __init__(self, error: str, maybe_sent: bool):
        super().__init__(error)
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class Outcome:
    state: str  # sent, recovered, already, busy, failed, retry
    attempt: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class Once:
    def __init__(self, client: redis.Redis, lease_seconds: int, done_days: int = 60, failed_seconds: int = 3600,
                 attempt_days: int = 14):  # fmt: skip
        self.r = client
        self.lease_ms = lease_seconds * 1000
        self.done_seconds = done_days * 86400
        self.failed_seconds = failed_seconds
        self.attempt_seconds = attempt_days * 86400
        self._cas = client.register_script(_CAS)

    def state(self, key: str) -> dict[str, Any]:
        return json.loads(self.r.get(key) or "{}")

    def run(
        self,
        key: str,
        *,
        prepare: Callable[[dict[str, Any] | None], dict[str, Any]],
        send: Callable[[dict[str, Any]], dict[str, Any]],
        find: Callable[[dict[str, Any]], dict[str, Any] | None],
        finish: Callable[[dict[str, Any], dict[str, Any]], None],
        force: bool = False,
    ) -> Outcome:
        attempt_key = keys.attempt(key)
        token = uuid.uuid4().hex
        claim = json.dumps({"state": "claimed", "owner": token})
        if force:
            self.r.set(key, claim, px=self.lease_ms)
        elif not self.r.set(key, claim, nx=True, px=self.lease_ms):
            current = self.state(key)
            if current.get("state") == "done":
                return Outcome("already", result=current.get("result"))
            if current.get("state") == "failed":
                return Outcome("failed", error=current.get("error"))
            return Outcome("busy")

        previous = json.loads(self.r.get(attempt_key) or "null")
        if previous and not force:
            found = find(previous)
            if found is not None:
                self._done(key, token, previous, found, finish)
                return Outcome("recovered", previous, found)
        attempt = prepare(previous)
        self.r.set(attempt_key, json.dumps(attempt), ex=self.attempt_seconds)
        try:
            result = send(attempt)
        except Permanent as exc:
            failed = json.dumps({"state": "failed", "owner": token, "error": str(exc)})
            self._cas(keys=[key], args=[token, failed, self.failed_seconds])
            self.r.delete(attempt_key)
            return Outcome("failed", attempt, error=str(exc))
        except Transient as exc:
            if not exc.maybe_sent:
                self.r.delete(attempt_key)
            self._cas(keys=[key], args=[token, "", 0])
            return Outcome("retry", attempt, error=str(exc))
        self._done(key, token, attempt, result, finish)
        return Outcome("sent", attempt, result)

    def _done(self, key: str, token: str, attempt: dict[str, Any], result: dict[str, Any],
              finish: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:  # fmt: skip
        finish(attempt, result)
        self.r.delete(keys.attempt(key))
        done = json.dumps({"state": "done", "owner": token, "result": result})
        if not self._cas(keys=[key], args=[token, done, self.done_seconds]):
            # Our lease lapsed during a very slow send; the action did happen, so record it regardless.
            self.r.set(key, done, ex=self.done_seconds)
