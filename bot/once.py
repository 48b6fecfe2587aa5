"""Do one outward action (a Slack post) exactly once per key, across processes and crashes.

Used for the weekly post and the weekly summary. The protocol, with the caller supplying the parts
that know about Slack:

1. ``SET key claimed NX PX lease``: one process wins; the lease frees the key if that process dies.
   A loser reads the key: done (already), failed (reported), or claimed (busy, leave it).
2. If an earlier attempt was recorded (``key:attempt``), it may have reached Slack before its process
   died: ``find(attempt)`` looks for the result in Slack; if found, finish without sending again.
3. Record the attempt (``prepare``), then ``send`` it. Right before each send (and the attempt's record),
   one Lua step checks that the claim is still ours and extends it by a whole lease: a search that outlasted
   the lease, or a process paused past it, never sends under a claim it no longer holds (another process
   may hold it now). The lease outlasts one whole Slack call (``bot.config.lease_needed``, checked at start).
4. Sent: ``finish`` records the side effects (idempotent), then ONE atomic step (a Lua script over the
   key and its attempt, which share a hash tag) sets the key to done and removes the attempt. There is
   no moment when the attempt is gone but the key is not done: a crash or a Redis failure anywhere
   leaves either "done" or the attempt, and the attempt sends the next claimant to step 2.
   ``Permanent`` error: the key is set to failed for ``failed_seconds`` (then retried), no attempt kept.
   ``Transient`` error that Slack did not act on (429): the claim is released, no attempt kept.
5. Unknown outcome (a 5xx, a reset connection or a timeout: Slack may have acted): never send blindly.
   After ``settle_seconds``, ``find(attempt)``: found, finish as in 4 ("recovered"); not found, send
   again (at most ``resends`` times). If Slack cannot be asked, or the re-sends run out, the claim is
   released and the attempt kept, so whoever claims next starts at step 2.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from bot.storage import keys

log = logging.getLogger(__name__)

# Release (ARGV[2] == '') or replace our claim, only if we still hold it.
_CAS = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, obj = pcall(cjson.decode, cur)
if not ok or type(obj) ~= 'table' or obj['owner'] ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
"""

# Still ours? Extend the claim by a whole lease (and record the attempt, when given) in one step; else 0.
_EXTEND = """
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, obj = pcall(cjson.decode, cur)
if not ok or type(obj) ~= 'table' or obj['owner'] ~= ARGV[1] or obj['state'] ~= 'claimed' then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4]) end
return 1
"""

# Mark done and drop the attempt in one step. The action happened, so "done" is written even if our
# lease lapsed meanwhile; the result says whether we still held it (0: someone may be checking too).
_DONE = """
local cur = redis.call('GET', KEYS[1])
local mine = 0
if cur then
  local ok, obj = pcall(cjson.decode, cur)
  if ok and type(obj) == 'table' and obj['owner'] == ARGV[1] then mine = 1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
return mine
"""


def record_seen(client: redis.Redis, key: str, ts: str, payload: dict[str, Any]) -> None:
    """Slack sent back our post for ``key`` (ts and metadata payload): a recovery finds it here first."""
    client.set(keys.seen(key), json.dumps({"ts": ts, "payload": payload}), ex=keys.ATTEMPT_DAYS * keys.DAY)


class Permanent(Exception):  # noqa: N818 - reads as "raise Permanent(error)"
    """The action can never succeed as things stand (e.g. the bot is not in the channel)."""


class Transient(Exception):  # noqa: N818
    """Try again later. ``maybe_sent``: the outcome is unknown, so check before sending again."""

    def __init__(self, error: str, maybe_sent: bool):
        super().__init__(error)
        self.maybe_sent = maybe_sent


class Unfinished(Transient):
    """A search for an earlier attempt's result read part of where it can be, then ran out of time (Slack's
    history limits: one read a minute, 15 messages a page). ``progress`` says where it got to: the protocol
    records it in the attempt, so the next claimant resumes there instead of starting again."""

    def __init__(self, error: str, progress: dict[str, Any]):
        super().__init__(error, maybe_sent=True)
        self.progress = progress


@dataclass(frozen=True)
class Outcome:
    state: str  # sent, recovered, already, busy, failed, retry
    attempt: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class Once:
    def __init__(self, client: redis.Redis, lease_seconds: float, done_days: int = 60, failed_seconds: int = 3600,
                 attempt_days: int = 14, resends: int = 2, settle_seconds: float = 1.0):  # fmt: skip
        self.r = client
        self.lease_ms = max(1, round(lease_seconds * 1000))  # tests in-process may use fractions of a second
        self.done_seconds = done_days * 86400
        self.failed_seconds = failed_seconds
        self.attempt_seconds = attempt_days * 86400
        self.resends = resends
        self.settle_seconds = settle_seconds  # before asking Slack whether a timed-out call landed
        self._cas = client.register_script(_CAS)
        self._done_script = client.register_script(_DONE)
        self._extend_script = client.register_script(_EXTEND)

    def state(self, key: str) -> dict[str, Any]:
        return json.loads(self.r.get(key) or "{}")

    def seen(self, key: str) -> dict[str, Any] | None:
        """Our post for ``key`` as Slack sent it back in an event (``record_seen``), if it did: no read needed."""
        raw = self.r.get(keys.seen(key))
        return json.loads(raw) if raw else None

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
        # Claim and read any earlier attempt in one round trip (same hash tag, so one node in a cluster);
        # the attempt is only used once the claim is ours.
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(key, claim, px=self.lease_ms, nx=not force)
            pipe.get(attempt_key)
            claimed, raw_attempt = pipe.execute()
        if not claimed:
            current = self.state(key)
            if current.get("state") == "done":
                return Outcome("already", result=current.get("result"))
            if current.get("state") == "failed":
                return Outcome("failed", error=current.get("error"))
            return Outcome("busy")

        previous = json.loads(raw_attempt or "null")
        if previous and not force:
            try:
                found = find(previous)
            except (Transient, Permanent) as exc:  # cannot ask Slack now: leave it all for the next claimant
                self._keep_progress(key, token, previous, exc)
                self._release(key, token)
                return Outcome("retry", previous, error=str(exc))
            if found is not None:
                self._done(key, token, previous, found, finish)
                return Outcome("recovered", previous, found)
        attempt = prepare(previous)
        if not self._extend(key, token, attempt):
            return Outcome("busy", previous, error="claim_lost")  # lapsed during the search: not ours to send
        sends = 0
        while True:
            sends += 1
            # A re-send is a new attempt: ``prepare`` stamps when it is sent (where a later search looks).
            if sends > 1 and not self._extend(key, token, attempt := prepare(attempt)):
                return Outcome("busy", attempt, error="claim_lost")  # lapsed while checking: someone else checks now
            try:
                result = send(attempt)
            except Permanent as exc:
                failed = json.dumps({"state": "failed", "owner": token, "error": str(exc)})
                self._cas(keys=[key], args=[token, failed, self.failed_seconds])
                self.r.delete(attempt_key)
                return Outcome("failed", attempt, error=str(exc))
            except Transient as exc:
                if not exc.maybe_sent:  # Slack said it did nothing (e.g. still rate limited)
                    self.r.delete(attempt_key)
                    self._release(key, token)
                    return Outcome("retry", attempt, error=str(exc))
                # The outcome is unknown: find out before sending again.
                log.warning("%s: outcome unknown (%s); checking the channel before sending again", key, exc)
                time.sleep(self.settle_seconds)
                try:
                    found = find(attempt)
                except (Transient, Permanent) as check:
                    self._keep_progress(key, token, attempt, check)
                    self._release(key, token)  # the attempt stays: the next claimant checks first
                    return Outcome("retry", attempt, error=f"{exc}; not checked: {check}")
                if found is not None:
                    self._done(key, token, attempt, found, finish)
                    return Outcome("recovered", attempt, found)
                if sends > self.resends:
                    self._release(key, token)
                    return Outcome("retry", attempt, error=str(exc))
                continue
            self._done(key, token, attempt, result, finish)
            return Outcome("sent", attempt, result)

    def _extend(self, key: str, token: str, attempt: dict[str, Any] | None = None) -> bool:
        """Right before a send: whether the claim is still ours, extended by a whole lease if so (and the
        attempt recorded with it, so a process that lost the claim never overwrites the holder's attempt)."""
        record = json.dumps(attempt) if attempt is not None else ""
        return bool(self._extend_script(keys=[key, keys.attempt(key)],
                                        args=[token, self.lease_ms, record, self.attempt_seconds]))  # fmt: skip

    def _keep_progress(self, key: str, token: str, attempt: dict[str, Any], exc: Exception) -> None:
        """A search that got partway (``Unfinished``): record where in the attempt (only while the claim is
        ours), so the next claimant's ``find`` resumes there rather than reading the same pages again."""
        if isinstance(exc, Unfinished):
            self._extend(key, token, {**attempt, "search": exc.progress})

    def _release(self, key: str, token: str) -> None:
        """Give the claim back (if still ours) so the next sweep can try."""
        self._cas(keys=[key], args=[token, "", 0])

    def _done(self, key: str, token: str, attempt: dict[str, Any], result: dict[str, Any],
              finish: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:  # fmt: skip
        finish(attempt, result)
        done = json.dumps({"state": "done", "owner": token, "result": result})
        if not self._done_script(keys=[key, keys.attempt(key)], args=[token, done, self.done_seconds]):
            log.warning("%s: the claim lapsed during a slow send; recorded as done anyway (it happened)", key)
