"""Encryption at rest: workspaces' tokens and people's words are kept in Redis as AES-256-GCM ciphertexts.

Two levels of keys (envelope encryption), so that forgetting a workspace also forgets how to read it:

- the **master key** (``SCR_MASTER_KEY``; offline, a key file in ``SCR_DATA_DIR``) never touches Redis. It
  only wraps data keys. ``SCR_MASTER_KEY_OLD`` is the previous one, still accepted for unwrapping while
  ``scr-bot keys rotate`` re-wraps every data key under the current one;
- each workspace's **data key** (random, 256 bits) lives in Redis wrapped by the master key, in that
  workspace's own slot (``keys.data_key``). A purge deletes it first: whatever a backup kept of the
  workspace's ciphertexts cannot be read once it is gone, even with the master key. ``scr-bot keys rotate
  --data-keys`` (``rotate_data_keys``) replaces it and re-encrypts the workspace's values online; until the
  sweep ends the previous one stays in ``keys.data_key_old``, and readers open each value with the key its
  id names (``enc1:<data key id>:``).

Every value is sealed with associated data naming the Redis key it is stored under (which carries the
workspace's tag), so a ciphertext copied to another key, or another workspace, does not decrypt. A wrapped
data key is bound the same way to its workspace.

Values written before encryption existed are plain JSON: ``open`` returns them as they are (a value is
sealed exactly when it starts with ``SEALED``), every write seals, and ``rotate`` seals what is left.

Lookups never come here: only the stores of tokens, reflections, held replies and agreed actions do. No Slack import: the
core uses this, and the Slack front end's installation store too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.config import ConfigError, Settings, parse_master_key
from bot.storage import keys
from bot.storage.keys import Workspace

log = logging.getLogger(__name__)

SEALED = "enc1:"  # a sealed value: enc1:<data key id>:<base64 of nonce + ciphertext + tag>
WRAPPED = "w1:"  # a wrapped data key: w1:<master key id>:<base64 of nonce + ciphertext + tag>
KEY_FILE = "master.key"  # offline / embedded mode: the generated master key, in SCR_DATA_DIR, mode 0600
NONCE = 12  # bytes: AES-GCM's standard nonce; random per value (2^-32 collision odds only after 2^32 values a key)
CACHE_SECONDS = 60.0  # how long a process keeps an unwrapped data key for reads (a purge elsewhere: at most this)


class CryptoError(Exception):
    """A sealed value that does not open: its data key is gone (purged), or it was moved or tampered with."""


class MasterKeyMissing(CryptoError):
    """A data key wrapped by a master key this process does not hold: the process was given the wrong
    ``SCR_MASTER_KEY`` (or lacks ``SCR_MASTER_KEY_OLD`` mid-rotation). Nothing of that workspace can be
    read, so the process is not ready (``key_trouble``) until it is restarted with the right key."""


_troubled: dict[str, str] = {}  # workspace tag -> the last MasterKeyMissing for it, until a data key of it opens
_troubled_lock = threading.Lock()


def key_trouble() -> str | None:
    """Why this process cannot open some workspace's data key (one line), or None: what /readyz reports."""
    with _troubled_lock:
        return next(iter(_troubled.values()), None)


def check_master_keys(client: Any, keyring: Keyring, batch: int = 500) -> None:
    """At start-up: every data key in Redis must be wrapped by a master key this process holds, or the
    process stops with one line naming the key id. Otherwise a wrong ``SCR_MASTER_KEY`` would start
    "healthy", fail every request, and wrap the data key of any workspace installed meanwhile with the
    wrong key. Reads only the ``w1:<key id>:`` prefix of each data key (one SCAN, Cluster-safe)."""
    held = set(keyring.ids)
    foreign: dict[str, int] = {}
    total = 0
    for name in _data_key_names(client, batch):
        wrapped = client.get(name)
        if wrapped is None:
            continue
        total += 1
        prefix, _, rest = wrapped.partition(":")
        kid = rest.partition(":")[0] if prefix + ":" == WRAPPED else "?"
        if kid not in held:
            foreign[kid] = foreign.get(kid, 0) + 1
    if foreign:
        kid, count = max(foreign.items(), key=lambda kv: kv[1])
        raise ConfigError(f"SCR_MASTER_KEY does not open the data keys in Redis ({count} of {total} wrapped by key "
                          f"{kid}, this process holds {', '.join(sorted(held))}); set the key they were made with, "
                          "or SCR_MASTER_KEY_OLD during a rotation")  # fmt: skip


def new_master_key() -> str:
    """A fresh master key as ``SCR_MASTER_KEY`` takes it: 32 random bytes, URL-safe base64 (44 characters)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _kid(key: bytes) -> str:
    """A short public name for a key (8 hex digits of its SHA-256): which key wrapped or sealed a value."""
    return hashlib.sha256(key).hexdigest()[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        raise CryptoError("not a valid ciphertext") from None


def _wrap_aad(ws: Workspace) -> bytes:
    return f"scr-data-key|{ws.tag}".encode()


def _value_aad(name: str) -> bytes:
    return f"scr-value|{name}".encode()


@dataclass
class _Cached:
    tag: str
    wrapped: str
    kid: str
    aead: AESGCM
    at: float


class Keyring:
    """The master keys of one process (current, and the previous one during a rotation) and the data keys it
    has unwrapped, cached briefly so reading a thread's reflections unwraps once, not once per reflection."""

    def __init__(self, current: bytes, old: bytes | None = None):
        self.current = current
        self.old = old if old and old != current else None
        self._masters = {_kid(current): AESGCM(current)}
        if self.old:
            self._masters[_kid(self.old)] = AESGCM(self.old)
        # (workspace tag, data key id) -> key: two per workspace while ``rotate_data_keys`` moves it to a new one
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._lock = threading.Lock()

    @property
    def current_id(self) -> str:
        return _kid(self.current)

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of the master keys this process holds (current first)."""
        return tuple(self._masters)

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Raise the one-line ``ConfigError`` ``from_settings`` would, without touching any file."""
        if settings.master_key:
            parse_master_key("SCR_MASTER_KEY", settings.master_key)
        elif not (settings.redis_url is None or settings.mode == "shell"):
            raise ConfigError("SCR_MASTER_KEY is not set: tokens and reflections are encrypted at rest, so a bot "
                              "on a shared REDIS_URL needs one (make one with `scr-bot keys new`)")
        if settings.master_key_old:
            parse_master_key("SCR_MASTER_KEY_OLD", settings.master_key_old)

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """``SCR_MASTER_KEY`` (and ``SCR_MASTER_KEY_OLD``); without one, offline and embedded modes use a key
        file they create in ``SCR_DATA_DIR``. A process sharing an external Redis with others must be given
        the key: a key file on one machine would leave every other process unable to read."""
        if settings.master_key:
            current = parse_master_key("SCR_MASTER_KEY", settings.master_key)
        elif settings.redis_url is None or settings.mode == "shell":
            current = load_key_file(settings.data_dir)
        else:
            raise ConfigError("SCR_MASTER_KEY is not set: tokens and reflections are encrypted at rest, so a bot "
                              "on a shared REDIS_URL needs one (make one with `scr-bot keys new`)")
        old = parse_master_key("SCR_MASTER_KEY_OLD", settings.master_key_old) if settings.master_key_old else None
        return cls(current, old)

    # ----- data keys --------------------------------------------------------------------------------
    def wrap(self, ws: Workspace, data_key: bytes) -> str:
        nonce = os.urandom(NONCE)
        sealed = self._masters[self.current_id].encrypt(nonce, data_key, _wrap_aad(ws))
        return f"{WRAPPED}{self.current_id}:{_b64(nonce + sealed)}"

    def unwrap(self, ws: Workspace, wrapped: str) -> bytes:
        """The data key inside ``wrapped``, with the master key that wrapped it (current or old)."""
        prefix, _, rest = wrapped.partition(":")
        kid, _, body = rest.partition(":")
        master = self._masters.get(kid)
        if prefix + ":" != WRAPPED or master is None:
            problem = (f"data key of {ws.tag} is wrapped by master key {kid or '?'}, which this process does not "
                       "have (set SCR_MASTER_KEY to the key it was made with, or SCR_MASTER_KEY_OLD during a rotation)")
            with _troubled_lock:
                _troubled[ws.tag] = problem
            raise MasterKeyMissing(problem)
        raw = _unb64(body)
        try:
            key = master.decrypt(raw[:NONCE], raw[NONCE:], _wrap_aad(ws))
            with _troubled_lock:
                _troubled.pop(ws.tag, None)
            return key
        except InvalidTag:
            raise CryptoError(f"data key of {ws.tag} does not open (moved from another workspace, or damaged)") from None

    def _remember(self, ws: Workspace, wrapped: str) -> _Cached:
        key = self.unwrap(ws, wrapped)
        entry = _Cached(ws.tag, wrapped, _kid(key), AESGCM(key), time.monotonic())
        with self._lock:
            self._cache[(ws.tag, entry.kid)] = entry
        return entry

    def _cached(self, ws: Workspace, wrapped: str) -> _Cached:
        """The data key in ``wrapped``, unwrapped once: the kid is only known after unwrapping, so look by
        the wrapped text among the workspace's (at most two) cached keys."""
        with self._lock:
            hit = next((e for (tag, _), e in self._cache.items() if tag == ws.tag and e.wrapped == wrapped), None)
        return hit if hit is not None else self._remember(ws, wrapped)

    def forget(self, ws: Workspace) -> None:
        """Drop the workspace's cached data keys (a purge)."""
        with self._lock:
            for entry in [k for k in self._cache if k[0] == ws.tag]:
                self._cache.pop(entry, None)

    def data_key_for_writing(self, client: Any, ws: Workspace) -> _Cached:
        """The workspace's data key as Redis holds it now, made if it has none. One GET per write: a data
        key cached across a purge and a reinstall would seal values nobody could read."""
        name = keys.data_key(ws)
        wrapped = client.get(name)
        if wrapped is None:
            candidate = self.wrap(ws, AESGCM.generate_key(bit_length=256))
            if not client.set(name, candidate, nx=True):  # another process made one first: use theirs
                wrapped = client.get(name)
            wrapped = wrapped or candidate
        return self._cached(ws, wrapped)

    def data_key_for_reading(self, client: Any, ws: Workspace, kid: str) -> _Cached:
        """The data key a value names by its id: the workspace's current one, or, while ``rotate_data_keys``
        moves the workspace to a new key, its previous one (``keys.data_key_old``)."""
        cached = self._cache.get((ws.tag, kid))
        if cached is not None and time.monotonic() - cached.at < CACHE_SECONDS:
            return cached
        wrapped = client.get(keys.data_key(ws))
        if wrapped is None:
            raise CryptoError(f"the data key of {ws.tag} is gone (the workspace was purged)")
        entry = self._remember(ws, wrapped)
        if entry.kid == kid:
            return entry
        old = client.get(keys.data_key_old(ws))  # mid-rotation: the value may not have been moved yet
        if old is not None:
            entry = self._remember(ws, old)
            if entry.kid == kid:
                return entry
        raise CryptoError(f"value sealed with data key {kid}, which {ws.tag} no longer has (purged, or rotated away)")


class Vault:
    """Seals and opens values of one Redis client with a keyring: what the stores call."""

    def __init__(self, client: Any, keyring: Keyring):
        self.r = client
        self.keyring = keyring

    def seal(self, ws: Workspace, name: str, plaintext: str) -> str:
        """``plaintext`` as stored under the Redis key ``name`` (a key of ``ws``): only that key opens it."""
        entry = self.keyring.data_key_for_writing(self.r, ws)
        nonce = os.urandom(NONCE)
        sealed = entry.aead.encrypt(nonce, plaintext.encode(), _value_aad(name))
        return f"{SEALED}{entry.kid}:{_b64(nonce + sealed)}"

    def open(self, ws: Workspace, name: str, value: str) -> str:
        """The plaintext of a value read from key ``name``; a value from before encryption is returned as is."""
        if not value.startswith(SEALED):
            return value
        kid, _, body = value[len(SEALED):].partition(":")
        entry = self.keyring.data_key_for_reading(self.r, ws, kid)
        raw = _unb64(body)
        try:
            return entry.aead.decrypt(raw[:NONCE], raw[NONCE:], _value_aad(name)).decode()
        except InvalidTag:
            raise CryptoError(f"{name}: does not open (copied from another key or workspace, or damaged)") from None


# ----- which keyring a client uses ---------------------------------------------------------------------
_attached: weakref.WeakKeyDictionary[Any, Keyring] = weakref.WeakKeyDictionary()
_default: Keyring | None = None


def attach(client: Any, keyring: Keyring) -> None:
    """``client`` seals and opens with ``keyring`` (``bot.storage.store.Store`` does this for its client)."""
    _attached[client] = keyring


def use_default(keyring: Keyring | None) -> None:
    """The keyring of clients nobody attached one to (a process with one Store sets it at start-up)."""
    global _default
    _default = keyring


def vault(client: Any) -> Vault:
    """The vault for a Redis client: its attached keyring, or the process's default. Never a silent
    plaintext: without a keyring, sealing fails loudly."""
    keyring = _attached.get(client, _default)
    if keyring is None:
        raise CryptoError("no master key loaded (bot.storage.store.Store loads SCR_MASTER_KEY at start-up)")
    return Vault(client, keyring)


# ----- the offline key file ----------------------------------------------------------------------------
def load_key_file(data_dir: Path) -> bytes:
    """The master key in ``data_dir/master.key``, created (mode 0600, never replaced) on first use, so the
    offline two-command start needs no setting. Two processes starting at once agree: O_EXCL lets one write."""
    path = Path(data_dir) / KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(new_master_key() + "\n")
            log.info("created a master key for encryption at rest: %s (keep it with the data)", path)
        for _ in range(50):  # the other process may still be writing it
            text = path.read_text().strip()
            if text:
                return parse_master_key(str(path), text)
            time.sleep(0.01)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create or read the master key ({exc.strerror})") from None
    raise ConfigError(f"{path}: empty master key file (delete it only if nothing was ever stored with it)")


# ----- rotation and migration --------------------------------------------------------------------------
# Compare-and-set: replace a value only if nobody changed it since it was read; KEEPTTL keeps its lifetime.
_SWAP = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0"


@dataclass(frozen=True)
class Rotation:
    """What one ``rotate`` did: data keys re-wrapped under the current master key, plaintext values sealed."""

    rewrapped: int = 0
    sealed: int = 0
    unreadable: int = 0  # data keys wrapped by a master key this process does not have (logged)


def _scan(client: Any, pattern: str, batch: int) -> Iterator[str]:
    """Keys matching ``pattern`` on every primary (the one server if not a Cluster)."""
    nodes = client.get_primaries() if hasattr(client, "get_primaries") else [None]
    for node in nodes:
        target = {} if node is None else {"target_nodes": node}
        for key in client.scan_iter(match=pattern, count=batch, **target):
            yield key.decode() if isinstance(key, bytes) else key


def _data_key_names(client: Any, batch: int) -> Iterator[str]:
    """Every wrapped data key in Redis: each workspace's, and its previous one while a data-key rotation runs."""
    yield from _scan(client, keys.DATA_KEY_PATTERN, batch)
    yield from _scan(client, keys.DATA_KEY_OLD_PATTERN, batch)


def rotate(client: Any, keyring: Keyring, batch: int = 500) -> Rotation:
    """Online, in batches of ``batch`` keys: re-wrap every workspace's data key under the current master key
    (data keys stay the same, so no value is re-encrypted and running processes keep reading), then seal
    every value still in plaintext (written before encryption). Safe to run twice, or while the bot runs:
    each write is a compare-and-set, so a value changed meanwhile is left to its writer (who sealed it)."""
    rewrapped = unreadable = 0
    for name in _data_key_names(client, batch):
        ws = keys.workspace_of(name)
        wrapped = client.get(name)
        if ws is None or wrapped is None:
            continue
        if wrapped.startswith(f"{WRAPPED}{keyring.current_id}:"):
            continue
        try:
            fresh = keyring.wrap(ws, keyring.unwrap(ws, wrapped))
        except CryptoError as exc:
            log.error("%s", exc)
            unreadable += 1
            continue
        rewrapped += int(client.eval(_SWAP, 1, name, wrapped, fresh))
    sealed = 0
    for pattern in keys.SEALED_PATTERNS:
        for name in _scan(client, pattern, batch):
            ws = keys.workspace_of(name)
            if ws is not None:
                sealed += _seal_plaintext(client, Vault(client, keyring), ws, name)
    if rewrapped or sealed or unreadable:
        log.info("keys rotate: %d data key(s) re-wrapped, %d value(s) sealed, %d unreadable",
                 rewrapped, sealed, unreadable)  # fmt: skip
    return Rotation(rewrapped, sealed, unreadable)


def _seal_plaintext(client: Any, vault: Vault, ws: Workspace, name: str) -> int:
    """Seal a plaintext string, or the plaintext items of a list (held replies); how many values."""
    kind = client.type(name)
    if kind == "string":
        value = client.get(name)
        if value is None or value.startswith(SEALED):
            return 0
        return int(client.eval(_SWAP, 1, name, value, vault.seal(ws, name, value)))
    if kind != "list":
        return 0
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(name)
            items = pipe.lrange(name, 0, -1)
            plain = sum(1 for item in items if not item.startswith(SEALED))
            if not plain:
                return 0
            ttl = pipe.pttl(name)
            sealed = [item if item.startswith(SEALED) else vault.seal(ws, name, item) for item in items]
            pipe.multi()
            pipe.delete(name)
            pipe.rpush(name, *sealed)
            if ttl > 0:
                pipe.pexpire(name, ttl)
            pipe.execute()
            return plain
        except redis.WatchError:
            return 0  # changed meanwhile: its writer sealed what it added; the next rotate takes the rest


# ----- data-key rotation -------------------------------------------------------------------------------
# Move a workspace to a new data key: only if its data key is still the one read, and no rotation of it is under
# way. The previous key is kept (re-wrapped under the current master key) for readers until the sweep ends.
_SWITCH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""
_DELETE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
SWEEPS = 5  # passes over a workspace before giving up on a value that keeps coming back under the old key


@dataclass(frozen=True)
class DataKeyRotation:
    """What one ``rotate_data_keys`` did."""

    workspaces: int = 0  # workspaces now on a new data key, their previous one deleted
    resealed: int = 0  # values re-encrypted (or, if written before encryption, encrypted) under a new data key
    resumed: bool = False  # a rotation a previous run left unfinished was carried on
    unfinished: tuple[str, ...] = ()  # workspaces whose old data key was kept: a value still needs it (logged)


def _open_batches(client: Any, ws: Workspace, batch: int) -> Iterator[list[str]]:
    """The workspace's sealed keys, ``batch`` names at a time, from one SCAN of its prefix on the one node
    that owns its hash tag's slot (on a Cluster, every key of a workspace is there)."""
    target = {"target_nodes": client.get_node_from_key(keys.data_key(ws))} if hasattr(client, "get_primaries") else {}
    names: list[str] = []
    for raw in client.scan_iter(match=keys.workspace_pattern(ws), count=batch, **target):
        name = raw.decode() if isinstance(raw, bytes) else raw
        if keys.is_sealed(name):
            names.append(name)
        if len(names) >= batch:
            yield names
            names = []
    if names:
        yield names


def _stale(value: str, new_kid: str) -> bool:
    """A value to re-encrypt: sealed with any key but the new one, or never sealed (an older version's)."""
    return not value.startswith(f"{SEALED}{new_kid}:")


def _reseal_string(client: Any, vault: Vault, ws: Workspace, name: str, new_kid: str) -> tuple[int, int]:
    """(values moved, values still stale). Compare-and-set: a value the bot rewrote meanwhile is its writer's."""
    value = client.get(name)
    if value is None or not _stale(value, new_kid):
        return 0, 0
    fresh = vault.seal(ws, name, vault.open(ws, name, value))
    if not fresh.startswith(f"{SEALED}{new_kid}:"):
        raise CryptoError(f"the data key of {ws.tag} changed during its rotation (purged or reinstalled)")
    if client.eval(_SWAP, 1, name, value, fresh):
        return 1, 0
    now = client.get(name)
    return 0, int(now is not None and _stale(now, new_kid))


def _reseal_list(client: Any, vault: Vault, ws: Workspace, name: str, new_kid: str) -> tuple[int, int]:
    """(items moved, items still stale) of a list (held replies), in one WATCH/MULTI: LSET keeps order and TTL."""
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(name)
            items = pipe.lrange(name, 0, -1)
            stale = [(i, item) for i, item in enumerate(items) if _stale(item, new_kid)]
            if not stale:
                return 0, 0
            fresh = [(i, vault.seal(ws, name, vault.open(ws, name, item))) for i, item in stale]
            pipe.multi()
            for i, value in fresh:
                pipe.lset(name, i, value)
            pipe.execute()
            return len(fresh), 0
        except redis.WatchError:
            return 0, 1  # changed meanwhile: the next pass looks again


def _sweep(client: Any, vault: Vault, ws: Workspace, new_kid: str, batch: int, pause: float,
           progress: Any) -> tuple[int, int]:  # fmt: skip
    """One pass over the workspace: (values moved, values left under another key)."""
    moved = left = 0
    for number, names in enumerate(_open_batches(client, ws, batch), 1):
        done = 0
        for name in names:
            kind = client.type(name)
            try:
                if kind == "string":
                    m, s = _reseal_string(client, vault, ws, name, new_kid)
                elif kind == "list":
                    m, s = _reseal_list(client, vault, ws, name, new_kid)
                else:
                    continue
            except MasterKeyMissing:
                raise
            except CryptoError as exc:  # under neither key (damaged, or moved here): no key of ours opens it
                log.error("keys rotate: %s", exc)
                continue
            done += m
            left += s
        moved += done
        if progress is not None:
            progress(f"{ws.tag}: batch {number}: {done} value(s) re-encrypted")
        if pause:
            time.sleep(pause)
    return moved, left


def rotate_data_keys(client: Any, keyring: Keyring, batch: int = 500, grace: float = 5.0, pause: float = 0.0,
                     progress: Any = None) -> DataKeyRotation:  # fmt: skip
    """Give every workspace a new data key and re-encrypt its values under it, online, ``batch`` keys at a time.

    1. Each workspace's data key is replaced by a new one (wrapped by the current master key) in one Lua step
       that keeps the previous one in ``keys.data_key_old``: from then on every write seals with the new key,
       and readers open a value with the key its id names, so both keys work while values move.
    2. ``grace`` seconds pass: a write that read the previous key just before the switch lands meanwhile.
    3. Each workspace is swept (SCAN of its prefix on its node): every sealed value not under the new key is
       opened and sealed again, written by compare-and-set (strings) or WATCH/MULTI (lists), so a value the
       running bot rewrote meanwhile is never overwritten. Passes repeat until one finds nothing left.
    4. The workspace is marked done in ``keys.DATA_KEY_ROTATION``, then its previous data key is deleted: a
       leaked copy of it opens nothing stored from then on.

    Killed anywhere, a rerun resumes: a workspace with a previous key still in Redis is swept again (values
    already under the new key are skipped, so none is encrypted twice), and one marked done is not rotated
    again. Workspaces installed during a run get a new key of their own and need no sweep."""
    resumed = bool(client.exists(keys.DATA_KEY_ROTATION))
    client.hsetnx(keys.DATA_KEY_ROTATION, "started_at", f"{time.time():.0f}")
    done = set(client.hkeys(keys.DATA_KEY_ROTATION))
    switched = 0
    for name in list(_scan(client, keys.DATA_KEY_PATTERN, batch)):
        ws = keys.workspace_of(name)
        wrapped = client.get(name)
        if ws is None or wrapped is None or f"done:{ws.tag}" in done or client.exists(keys.data_key_old(ws)):
            continue
        try:
            previous = keyring.wrap(ws, keyring.unwrap(ws, wrapped))  # under the current master key
        except CryptoError as exc:
            log.error("%s", exc)
            continue
        fresh = keyring.wrap(ws, AESGCM.generate_key(bit_length=256))
        switched += int(client.eval(_SWITCH, 2, name, keys.data_key_old(ws), wrapped, previous, fresh))
    if switched and grace > 0:
        time.sleep(grace)
    vault_ = Vault(client, keyring)
    workspaces = resealed = 0
    unfinished: list[str] = []
    for name in list(_scan(client, keys.DATA_KEY_OLD_PATTERN, batch)):
        ws = keys.workspace_of(name)
        old, current = client.get(name), client.get(keys.data_key(ws)) if ws else None
        if ws is None or old is None:
            continue
        if current is None:  # purged meanwhile: nothing left to read with either key
            client.eval(_DELETE_IF, 1, name, old)
            continue
        new_kid = keyring.data_key_for_writing(client, ws).kid
        clean = False
        for _ in range(SWEEPS):  # until a whole pass finds nothing to move: that pass is the check
            moved, left = _sweep(client, vault_, ws, new_kid, batch, pause, progress)
            resealed += moved
            if not moved and not left:
                clean = True
                break
        if not clean:
            log.error("keys rotate: %s keeps changing values under its previous data key; kept it, run again", ws.tag)
            unfinished.append(ws.tag)
            continue
        client.hset(keys.DATA_KEY_ROTATION, f"done:{ws.tag}", f"{time.time():.0f}")
        client.eval(_DELETE_IF, 1, name, old)
        keyring.forget(ws)
        workspaces += 1
    if not unfinished:
        client.delete(keys.DATA_KEY_ROTATION)
    log.info("keys rotate --data-keys: %d workspace(s) on a new data key, %d value(s) re-encrypted%s",
             workspaces, resealed, " (resumed)" if resumed else "")  # fmt: skip
    return DataKeyRotation(workspaces, resealed, resumed, tuple(unfinished))
