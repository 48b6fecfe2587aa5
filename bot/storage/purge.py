"""Forget a workspace: its tokens and everything stored for it, in bounded batches.

Called when Slack says the app was uninstalled or its bot token revoked, and by
``scr-bot workspace purge``. Every key of a workspace carries its hash tag, so one ``SCAN`` per
tag (on the cluster node that owns its slot) finds them all; they are unlinked ``batch`` at a time,
so a large workspace never blocks Redis. Entries in the global indexes (the subscriptions the clock
walks, the list of installations) are removed first, so nothing schedules new work for it meanwhile.

Crash safety: the workspace is added to a pending set before anything is deleted and removed from
it only after a pass that finds nothing left; the clock's sweep finishes any purge a dead process
left half done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from bot.slack.installations import RedisInstallationStore
from bot.storage import keys
from bot.storage.store import Workspace

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class PurgeReport:
    workspace: Workspace
    keys_deleted: int
    subscriptions_removed: int


class Purger:
    def __init__(self, client: redis.Redis, batch: int = BATCH):
        self.r = client
        self.batch = batch

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

    def _delete(self, batch: list[str]) -> int:
        # One key per command: a batch may span slots on a cluster (an org's workspaces), and the
        # cluster client's pipeline sends each node its own keys.
        with self.r.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.unlink(key)
            return sum(int(n) for n in pipe.execute())

    def _drop_subscriptions(self, ws: Workspace) -> int:
        """Remove the workspace's entries from the global subscriptions index ("platform|enterprise|team|channel")."""
        prefix = keys.org_entry_prefix(ws) if self._org_wide(ws) else f"{keys.workspace_entry(ws)}|"
        gone = list(self.r.sscan_iter(keys.SUBSCRIPTIONS, match=prefix + "*", count=self.batch))
        for i in range(0, len(gone), self.batch):
            self.r.srem(keys.SUBSCRIPTIONS, *gone[i:i + self.batch])
        return len(gone)

    def _drop_from_indexes(self, ws: Workspace) -> None:
        """Other global "platform|enterprise|team" indexes (knowledge checks' opted-in workspaces)."""
        if self._org_wide(ws):
            entries = [e for e in self.r.smembers(keys.QUIZ_WORKSPACES) if e.startswith(keys.org_entry_prefix(ws))]
        else:
            entries = [keys.workspace_entry(ws)]
        if entries:
            self.r.srem(keys.QUIZ_WORKSPACES, *entries)

    def begin(self, ws: Workspace) -> None:
        """The quick part, done before answering Slack: mark the purge pending, delete the tokens."""
        self.r.sadd(keys.PURGE_PENDING, keys.workspace_entry(ws))
        RedisInstallationStore(self.r).delete_all(enterprise_id=ws.enterprise_id,
                                                  team_id=None if self._org_wide(ws) else ws.team_id)  # fmt: skip

    def purge(self, ws: Workspace) -> PurgeReport:
        """Delete the workspace's tokens and every key it has; safe to repeat, and to run from two processes."""
        self.begin(ws)
        subscriptions = self._drop_subscriptions(ws)
        self._drop_from_indexes(ws)
        deleted = 0
        while True:
            found = 0
            batch: list[str] = []
            for key in self._scan(ws):
                batch.append(key)
                if len(batch) >= self.batch:
                    found += len(batch)
                    deleted += self._delete(batch)
                    batch = []
            if batch:
                found += len(batch)
                deleted += self._delete(batch)
            if not found:
                break  # a pass that found nothing: no late writer slipped a key in behind the scan
        self.r.srem(keys.PURGE_PENDING, keys.workspace_entry(ws))
        log.info("workspace %s: purged %d key(s) and %d subscription(s)", ws.team_id, deleted, subscriptions)
        return PurgeReport(ws, deleted, subscriptions)

    def pending(self) -> list[Workspace]:
        """Purges a process started and did not finish (it died): the clock finishes them."""
        return [keys.parse_workspace_entry(e) for e in sorted(self.r.smembers(keys.PURGE_PENDING))]

    def resume(self) -> list[PurgeReport]:
        return [self.purge(ws) for ws in self.pending()]
