"""The bot's own admin list per workspace, and the audit trail of who changed what.

A safeguarding partnership has to be able to say who may change a channel's weekly post, its digest
readers and the admin list, and show afterwards who did. The list (``/scr admins add``) and the trail
(``/scr audit``, ``scr-bot audit``) live under the workspace's key tag, so a purge of the workspace
removes both with everything else it kept.

The trail is a sorted set scored by time: entries older than ``keys.AUDIT_SECONDS`` are trimmed on
every write and never shown, and at most ``keys.AUDIT_MAX_ENTRIES`` are kept (the oldest go first), so
neither its age nor its size grows without bound.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass

import redis

from bot.storage import keys
from bot.storage.keys import Workspace


class AdminList:
    """The people a workspace named as the bot's admins, with ``/scr admins add``."""

    def __init__(self, client: redis.Redis):
        self.r = client

    def members(self, ws: Workspace) -> list[str]:
        return sorted(self.r.smembers(keys.admins(ws)))

    def contains(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.sismember(keys.admins(ws), user))

    def add(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.sadd(keys.admins(ws), user))

    def remove(self, ws: Workspace, user: str) -> bool:
        return bool(self.r.srem(keys.admins(ws), user))


@dataclass(frozen=True)
class AuditEntry:
    """One change: when (epoch seconds), by whom and in what capacity, what, where, and its detail."""

    at: float
    by: str  # Slack user id
    role: str  # "lead", "workspace admin", "bot admin"; on Teams "team member" ("digest on"/"off")
    action: str  # subscribe, resubscribe, unsubscribe, digest-add, digest-remove, admins-add, admins-remove
    channel: str = ""
    detail: str = ""

    def line(self) -> str:
        """One line for the CLI: UTC time, who (as what), what, where, detail."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.at))
        where = f" {self.channel}" if self.channel else ""
        return f"{when}Z  {self.by} ({self.role})  {self.action}{where}" + (f"  {self.detail}" if self.detail else "")


class AuditTrail:
    """The workspace's record of allowed changes (refusals change nothing and are not recorded)."""

    def __init__(self, client: redis.Redis):
        self.r = client

    def record(self, ws: Workspace, entry: AuditEntry) -> None:
        key = keys.audit(ws)
        # A random id keeps two identical changes in the same instant as two entries of the set.
        member = json.dumps({**asdict(entry), "id": uuid.uuid4().hex[:12]}, sort_keys=True)
        with self.r.pipeline() as pipe:  # one key, one slot: the trims and the write go together
            pipe.zadd(key, {member: entry.at})
            pipe.zremrangebyscore(key, "-inf", f"({entry.at - keys.AUDIT_SECONDS}")
            pipe.zremrangebyrank(key, 0, -keys.AUDIT_MAX_ENTRIES - 1)
            pipe.expire(key, keys.AUDIT_SECONDS)
            pipe.execute()

    def recent(self, ws: Workspace, n: int, now: float | None = None) -> list[AuditEntry]:
        """The newest ``n`` entries, newest first."""
        oldest = (time.time() if now is None else now) - keys.AUDIT_SECONDS
        raw = self.r.zrevrangebyscore(keys.audit(ws), "+inf", oldest, start=0, num=n)
        return [_entry(m) for m in raw]

    def since(self, ws: Workspace, since: float, now: float | None = None) -> list[AuditEntry]:
        """Every entry from ``since`` (epoch seconds) on, oldest first."""
        oldest = max(since, (time.time() if now is None else now) - keys.AUDIT_SECONDS)
        return [_entry(m) for m in self.r.zrangebyscore(keys.audit(ws), oldest, "+inf")]


def _entry(member: str | bytes) -> AuditEntry:
    data = json.loads(member)
    data.pop("id", None)
    return AuditEntry(**data)
