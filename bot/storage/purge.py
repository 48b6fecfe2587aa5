"""Forget a workspace: its tokens and everything stored for it, in bounded batches.

Called when Slack says the app was uninstalled or its bot token revoked, and by
``scr-bot workspace purge``. Every key of a workspace carries its hash tag, so one ``SCAN`` per
tag (on the cluster node that owns its slot) finds them all; they are unlinked ``batch`` at a time,
so a large workspace never blocks Redis. Entries in the global indexes (the subscriptions the clock
walks, the list of installations) are removed first, so nothing schedules new work for it meanwhile.

Crash safety: the workspace is added to a pending set before anything is deleted and removed from
it only after a pass that finds nothing left; the clock's sweep finishes any purge a dead process
left half done.

Reinstalls: a purge belongs to one uninstall. ``begin`` writes a fence (``keys.purge_fence``, in the
workspace's own slot) holding the purge's id, and every deletion is a Lua script that unlinks only
while the fence still holds that id. A reinstall (``RedisInstallationStore.save``) first finishes the
pending purge itself, synchronously, so the old generation's data is gone, then deletes the fence and
the pending entry before it writes the new tokens. A purge still running elsewhere (a lazy listener,
the clock's sweep) then deletes nothing more and stops. We chose this over tagging every key with a
generation because it needs no change to how any other key is written or read. Limits: the global
indexes (subscriptions, installations, quiz workspaces) live in another slot, so there the fence is
checked just before, not atomically with, the removal; likewise for an org-wide purge on a Cluster,
whose workspaces' keys live in other slots than the org's fence.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from bot.storage import crypto, keys
from bot.storage.store import Workspace

log = logging.getLogger(__name__)
BATCH = 500

# KEYS[1] is the fence, the rest are to be unlinked; ARGV[1] is the purge's id. -1: the purge was cancelled.
FENCED_UNLINK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local n = 0
for i = 2, #KEYS do n = n + redis.call('UNLINK', KEYS[i]) end
return n
"""
# Ends a purge: the fence goes only if it is still this purge's (a reinstall may have removed it already).
FENCE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Cancelled(Exception):
    """The workspace was reinstalled while this purge ran: the rest of its keys are not ours to delete."""


def _tag(key: str) -> str:
    """The hash tag of a key (``{E:T}``): keys with one tag share a Cluster slot."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start:end + 1] if start >= 0 and end > start else key


@dataclass(frozen=True)
class PurgeReport:
    workspace: Workspace
    keys_deleted: int
    subscriptions_removed: int


def pending_count(client: redis.Redis) -> int:
    """How many workspaces' purges have not finished (the ``scr_purges_pending`` gauge, read at scrape)."""
    return int(client.scard(keys.PURGE_PENDING))


def record_tombstone(client: redis.Redis, ws: Workspace, at: float | None = None) -> None:
    """Remember that ``ws`` was purged, and when (``keys.PURGED``: its id and a time, nothing else), so that
    ``scr-bot restore`` never brings back its data from a backup taken before. Bounded: entries older than
    ``keys.PURGED_SECONDS`` are trimmed on every write, and the key expires that long after the last purge."""
    now = time.time() if at is None else at
    with client.pipeline(transaction=False) as pipe:  # one key: its own slot
        pipe.zadd(keys.PURGED, {keys.workspace_entry(ws): now})
        pipe.zremrangebyscore(keys.PURGED, "-inf", f"({now - keys.PURGED_SECONDS}")
        pipe.expire(keys.PURGED, keys.PURGED_SECONDS)
        pipe.execute()


def purged_since(client: redis.Redis, since: float) -> list[Workspace]:
    """The workspaces whose latest purge began after ``since`` (epoch seconds), within the kept window."""
    oldest = max(since, time.time() - keys.PURGED_SECONDS)
    found = client.zrangebyscore(keys.PURGED, f"({oldest}", "+inf")
    return [keys.parse_workspace_entry(e.decode() if isinstance(e, bytes) else e) for e in found]


class Purger:
    def __init__(self, client: redis.Redis, batch: int = BATCH):
        self.r = client
        self.batch = batch

    def keyring_forget(self, ws: Workspace) -> None:
        """This process's cached copy of the workspace's data key goes with it (other processes' within
        ``crypto.CACHE_SECONDS``)."""
        with contextlib.suppress(crypto.CryptoError):
            crypto.vault(self.r).keyring.forget(ws)

    def _org_wide(self, ws: Workspace) -> bool:
        return ws.enterprise_id is not None and ws.team_id == ws.enterprise_id

    def _scan(self, ws: Workspace) -> Iterator[str]:
        """Every key of the workspace; for an org-wide install, of every workspace of the org."""
        if self._org_wide(ws):
            assert ws.enterprise_id is not None
            yield from self.r.scan_iter(match=keys.org_pattern(ws.enterprise_id, ws.platform), count=self.batch)  # every node
            return
        target = {}
        if hasattr(self.r, "get_node_from_key"):  # a Cluster: only the node that owns the workspace's slot
            target = {"target_nodes": self.r.get_node_from_key(keys.install_bot(ws))}
        yield from self.r.scan_iter(match=keys.workspace_pattern(ws), count=self.batch, **target)

    def _cluster(self) -> bool:
        return hasattr(self.r, "get_node_from_key")

    def _fence_holds(self, ws: Workspace, purge_id: str) -> bool:
        return self.r.get(keys.purge_fence(ws)) == purge_id

    def _delete(self, ws: Workspace, purge_id: str, batch: list[str]) -> int:
        """Unlink ``batch`` while the fence still holds ``purge_id``; raise ``Cancelled`` once it does not.

        Keys in the fence's slot (all of them, for a workspace) go in one script, atomically with the
        check. An org-wide purge on a Cluster also meets keys of the org's workspaces, in other slots:
        those are checked against the fence just before they are unlinked (one key per command, so
        the cluster client's pipeline sends each node its own keys).
        """
        fence = keys.purge_fence(ws)
        same = [k for k in batch if not self._cluster() or _tag(k) == _tag(fence)]
        other = [k for k in batch if self._cluster() and _tag(k) != _tag(fence)]
        deleted = 0
        if same:
            n = int(self.r.eval(FENCED_UNLINK, 1 + len(same), fence, *same, purge_id))
            if n < 0:
                raise Cancelled
            deleted += n
        if other:
            if not self._fence_holds(ws, purge_id):
                raise Cancelled
            with self.r.pipeline(transaction=False) as pipe:
                for key in other:
                    pipe.unlink(key)
                deleted += sum(int(n) for n in pipe.execute())
        return deleted

    def _drop_subscriptions(self, ws: Workspace) -> int:
        """Remove the workspace's entries from the global subscriptions index ("platform|enterprise|team|channel")."""
        prefix = keys.org_entry_prefix(ws) if self._org_wide(ws) else f"{keys.workspace_entry(ws)}|"
        gone = list(self.r.sscan_iter(keys.SUBSCRIPTIONS, match=prefix + "*", count=self.batch))
        for i in range(0, len(gone), self.batch):
            self.r.srem(keys.SUBSCRIPTIONS, *gone[i:i + self.batch])
        return len(gone)

    def _drop_from_indexes(self, ws: Workspace) -> None:
        """Other global "platform|enterprise|team" indexes (knowledge checks' opted-in workspaces), and the global keys
        a Teams tenant lists under itself (its download links)."""
        for index in (keys.QUIZ_WORKSPACES, keys.SESSION_WORKSPACES):  # and workspaces with briefing sessions
            if self._org_wide(ws):
                entries = [e for e in self.r.smembers(index) if e.startswith(keys.org_entry_prefix(ws))]
            else:
                entries = [keys.workspace_entry(ws)]
            if entries:
                self.r.srem(index, *entries)
        # A Teams tenant's download links: global keys (a link's URL names no tenant), listed under the tenant.
        for link in self.r.smembers(keys.teams_downloads(ws)):
            self.r.delete(keys.teams_download(link))  # one key per DEL: each link is in its own slot on a Cluster

    def begin(self, ws: Workspace) -> str:
        """The quick part, done before answering Slack: fence the purge, mark it pending, delete the tokens.

        Returns the purge's id. Slack sends both ``app_uninstalled`` and ``tokens_revoked`` for one
        uninstall: the second joins the purge the first began (the fence is set only if absent).
        """
        fence = keys.purge_fence(ws)
        purge_id = None
        while purge_id is None:  # a purge that finished between the two released its fence: set one again
            self.r.set(fence, uuid.uuid4().hex, nx=True)
            purge_id = self.r.get(fence)
        self.r.sadd(keys.PURGE_PENDING, keys.workspace_entry(ws))
        record_tombstone(self.r, ws)
        self._drop_tokens(ws, purge_id)
        return purge_id

    def _drop_tokens(self, ws: Workspace, purge_id: str) -> None:
        """Every token of the installation (kept under the org itself for an org-wide install) and its index entry."""
        users = self.r.smembers(keys.install_users(ws))
        # The data key first: from here on nothing sealed for the workspace (here or in a backup) opens.
        tokens = [keys.data_key(ws), keys.data_key_old(ws), keys.install_bot(ws), keys.install_installer(ws),
                  keys.install_users(ws), keys.install_rotating(ws), *[keys.install_installer(ws, u) for u in users]]  # fmt: skip
        self._delete(ws, purge_id, tokens)
        self.keyring_forget(ws)
        if self._fence_holds(ws, purge_id):
            self.r.hdel(keys.INSTALLATIONS, keys.workspace_entry(ws))  # its line in the installations index

    def purge(self, ws: Workspace, purge_id: str | None = None) -> PurgeReport:
        """Delete the workspace's tokens and every key it has; safe to repeat, and to run from two processes.

        ``purge_id`` is the id ``begin`` returned; without it a purge begins (or joins the one under way).
        If the workspace is reinstalled meanwhile the purge stops and reports what it had deleted.
        """
        if purge_id is None:
            purge_id = self.begin(ws)
        subscriptions = deleted = 0
        try:
            self._drop_tokens(ws, purge_id)
            if not self._fence_holds(ws, purge_id):
                raise Cancelled
            subscriptions = self._drop_subscriptions(ws)
            self._drop_from_indexes(ws)
            deleted = self._delete_all(ws, purge_id)
        except Cancelled:
            log.info("workspace %s: reinstalled during its purge; the purge stopped (%d key(s) deleted)",
                     ws.team_id, deleted)  # fmt: skip
            return PurgeReport(ws, deleted, subscriptions)
        self.r.srem(keys.PURGE_PENDING, keys.workspace_entry(ws))
        self.r.eval(FENCE_RELEASE, 1, keys.purge_fence(ws), purge_id)
        log.info("workspace %s: purged %d key(s) and %d subscription(s)", ws.team_id, deleted, subscriptions)
        return PurgeReport(ws, deleted, subscriptions)

    def _delete_all(self, ws: Workspace, purge_id: str) -> int:
        fence = keys.purge_fence(ws)
        deleted = 0
        while True:
            found = 0
            batch: list[str] = []
            for key in self._scan(ws):
                if key == fence:
                    continue  # the fence goes last, when the purge is done
                batch.append(key)
                if len(batch) >= self.batch:
                    found += len(batch)
                    deleted += self._delete(ws, purge_id, batch)
                    batch = []
            if batch:
                found += len(batch)
                deleted += self._delete(ws, purge_id, batch)
            if not found:
                return deleted  # a pass that found nothing: no late writer slipped a key in behind the scan

    def finish_before_reinstall(self, ws: Workspace) -> PurgeReport | None:
        """Called by a reinstall before it writes anything: delete what the uninstall left, then cancel.

        The old generation's data goes now, synchronously, so the sweep has nothing to finish; deleting
        the fence stops any purge of that uninstall still running elsewhere, so it cannot touch the keys
        the reinstall is about to write.
        """
        purge_id = self.r.get(keys.purge_fence(ws))
        pending = self.r.sismember(keys.PURGE_PENDING, keys.workspace_entry(ws))
        if purge_id is None and not pending:
            return None
        report = self.purge(ws, purge_id)  # a pending entry without a fence was left by an older version
        self.r.delete(keys.purge_fence(ws))
        self.r.srem(keys.PURGE_PENDING, keys.workspace_entry(ws))
        return report

    def drop_index_entries(self, ws: Workspace) -> None:
        """Remove the workspace's entries from every global index (``keys.INDEXES``) and nothing else: what a
        restore that left out a purged workspace's keys does, so no index names a workspace with no data."""
        self._drop_subscriptions(ws)
        self._drop_from_indexes(ws)
        entry = keys.workspace_entry(ws)
        self.r.hdel(keys.INSTALLATIONS, entry)
        self.r.srem(keys.PURGE_PENDING, entry)
        for index in keys.INDEXES:
            if self.r.type(index) == "set":
                gone = [e for e in self.r.sscan_iter(index, match=entry + "*", count=self.batch)
                        if e == entry or e.startswith(entry + "|")]  # fmt: skip
                if gone:
                    self.r.srem(index, *gone)

    def pending(self) -> list[Workspace]:
        """Purges a process started and did not finish (it died): the clock finishes them."""
        return [keys.parse_workspace_entry(e) for e in sorted(self.r.smembers(keys.PURGE_PENDING))]

    def resume(self) -> list[PurgeReport]:
        """Finish each pending purge, as the uninstall it belongs to (its fence's id).

        A pending entry whose fence is gone was cancelled by a reinstall (which removes the entry too, a
        moment later) and is left alone. One without a fence and without a bot token was left by an
        older version of the bot, before fences: it is purged afresh.
        """
        reports = []
        for ws in self.pending():
            purge_id = self.r.get(keys.purge_fence(ws))
            if purge_id is None:
                if self.r.exists(keys.install_bot(ws)):
                    continue  # reinstalled: the reinstall removes the entry
                purge_id = self.begin(ws)
            reports.append(self.purge(ws, purge_id))
        return reports
