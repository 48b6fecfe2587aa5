"""Back up every scr-bot key of a Redis server to a file, and restore it into an empty one.

Why DUMP/RESTORE and not a copy of the data files: the embedded server writes an append-only file
(``--save ""``), whose layout changed between Redis 6 and 7, and a copy taken while it is being
written is not guaranteed to load. DUMP gives each key's value in Redis's own serialisation, with its
type, so a restore is exact (hashes, sorted sets, streams alike); the keys are dumped in one
``MULTI``/``EXEC``, so the file is one moment's state even while the bot runs. The same command works
for a ``REDIS_URL`` server (a single one; a Redis Cluster is the provider's to back up).

Expiry is kept as an absolute time (``ABSTTL``), so a reflection restored a month later still
expires when it would have; keys whose time passed in between are not restored.

A workspace purged (uninstalled, or ``scr-bot workspace purge``) after the backup was taken is never
restored: the target Redis keeps a tombstone per purge (``keys.PURGED``: its id and when, 400 days),
which a restore honours (the target may hold it, and nothing else of ours), and the restore reports what
it left out. A backup restored into a Redis without those tombstones cannot know: what protects such
copies is their own retention and a master key rotation after the purge (see PRIVACY.md).

The file is JSON lines: a header, then one line per key (key and payload base64). It holds
reflections and Slack tokens, so it is written owner-only (0600), like the data directory itself.
A payload is tied to the Redis version's serialisation: restore into the same or a newer Redis.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bot.storage import keys
from bot.storage.keys import LAYOUT, PREFIX, Workspace

FORMAT = "scr-bot-backup"
VERSION = 1


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    keys: int
    expired: int = 0  # restore only: keys whose expiry passed since the backup (not restored)
    old_layout: bool = False  # restore only: taken before the current key layout, so its keys must be moved
    purged: tuple[Workspace, ...] = ()  # restore only: workspaces purged after the backup was taken (left out)
    purged_keys: int = 0  # restore only: how many of the backup's keys were theirs (not restored)


def _ours(client: redis.Redis) -> list[bytes]:
    """Every key the bot owns (``bot.storage.keys`` names them all under ``PREFIX``)."""
    return list(client.scan_iter(match=f"{PREFIX}:*", count=1000))


def backup(client: redis.Redis, path: Path) -> BackupReport:
    """Write every scr-bot key, its value and its absolute expiry to ``path`` (atomically, mode 0600)."""
    names = _ours(client)
    pipe = client.pipeline(transaction=True)  # one MULTI/EXEC: the same moment for every key
    for name in names:
        pipe.dump(name)
        pipe.pttl(name)
    pipe.time()
    replies = pipe.execute()
    server_secs, server_micros = replies[-1]
    now_ms = int(server_secs) * 1000 + int(server_micros) // 1000
    lines: list[str] = []
    for i, name in enumerate(names):
        payload, ttl = replies[2 * i], replies[2 * i + 1]
        if payload is None:  # deleted between the scan and the snapshot
            continue
        expires = now_ms + int(ttl) if int(ttl) > 0 else 0
        lines.append(json.dumps({"k": base64.b64encode(_bytes(name)).decode(),
                                 "v": base64.b64encode(payload).decode(), "x": expires}))  # fmt: skip
    info: dict[str, Any] = client.info("server")
    header = {"format": FORMAT, "version": VERSION, "keys": len(lines), "taken_ms": now_ms,
              "redis_version": info.get("redis_version")}  # fmt: skip
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(json.dumps(header) + "\n")
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return BackupReport(len(lines))


def read_backup(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and records of a backup file; a file that is not one is a ``file:line: message``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    rows = text.splitlines()
    records: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        try:
            record = json.loads(row)
            if number == 1:
                if record.get("format") != FORMAT or record.get("version") != VERSION:
                    raise ValueError(f"not a {FORMAT} file (version {VERSION})")
                header = record
                continue
            records.append({"k": base64.b64decode(record["k"], validate=True),
                            "v": base64.b64decode(record["v"], validate=True), "x": int(record["x"])})  # fmt: skip
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"{path}:{number}: {exc}") from None
    if not rows:
        raise BackupError(f"{path}:1: empty file, not a {FORMAT} file")
    if header.get("keys") != len(records):
        raise BackupError(f"{path}:{len(rows)}: the header says {header.get('keys')} keys but the file has "
                          f"{len(records)} (a truncated copy?)")  # fmt: skip
    return header, records


def restore(client: redis.Redis, path: Path) -> BackupReport:
    """Load a backup into a server holding no scr-bot data (a fresh or wiped one): never over live data.

    ``client`` must not decode replies (payloads are binary). When the report says ``old_layout``, the
    caller runs ``bot.storage.keys.migrate`` (with the bot's own client) after dropping the layout marker
    the fresh start wrote, so the restored keys are moved to the current names."""
    header, records = read_backup(path)
    kept = (LAYOUT.encode(), keys.PURGED.encode())  # a fresh start writes the marker; purge tombstones are honoured
    present = [k for k in _ours(client) if _bytes(k) not in kept]
    if present:
        raise BackupError(f"the target Redis already holds {len(present)} scr-bot key(s): restore only into an "
                          "empty one (stop the bot and move SCR_DATA_DIR aside, or point REDIS_URL at an empty "
                          "database), so nothing newer is overwritten")  # fmt: skip
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    purged = _purged_after(client, int(header.get("taken_ms") or 0) / 1000)
    pipe = client.pipeline(transaction=False)
    expired = left_out = 0
    found: dict[str, Workspace] = {}
    for record in records:
        owner = _purged_owner(record["k"], purged)
        if owner is not None:  # its organisation asked to be forgotten after this backup: never bring it back
            left_out += 1
            found[keys.workspace_entry(owner)] = owner
            continue
        if record["x"] and record["x"] <= now_ms:
            expired += 1
            continue
        pipe.restore(record["k"], record["x"], record["v"], replace=True, absttl=bool(record["x"]))
    try:
        pipe.execute()
    except redis.ResponseError as exc:
        raise BackupError(f"{path}: Redis refused the data ({exc}); the backup was taken on Redis "
                          f"{header.get('redis_version')}: restore into the same or a newer Redis") from None
    old_layout = not any(r["k"] == LAYOUT.encode() for r in records)
    return BackupReport(len(records) - expired - left_out, expired, old_layout, tuple(found.values()), left_out)


def _purged_after(client: redis.Redis, taken: float) -> dict[str, Workspace]:
    """The workspaces (by index entry) whose purge began after ``taken``: ``keys.PURGED``, in the target Redis."""
    raw = client.zrangebyscore(keys.PURGED, f"({taken}", "+inf")
    entries = [e.decode() if isinstance(e, bytes) else e for e in raw]
    return {e: keys.parse_workspace_entry(e) for e in entries}


def _purged_owner(name: bytes, purged: dict[str, Workspace]) -> Workspace | None:
    """The purged workspace (or org, for an org-wide install's purge) whose tag ``name`` carries, if any."""
    if not purged:
        return None
    ws = keys.workspace_of(name.decode("utf-8", "replace"))
    if ws is None:
        return None
    for candidate in (ws, Workspace(ws.enterprise_id, ws.enterprise_id, ws.platform) if ws.enterprise_id else None):
        if candidate is not None and keys.workspace_entry(candidate) in purged:
            return purged[keys.workspace_entry(candidate)]
    return None


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def age_seconds(header: dict[str, Any]) -> float:
    """How old a backup is, for the restore's report."""
    return max(0.0, time.time() - int(header.get("taken_ms") or 0) / 1000)
