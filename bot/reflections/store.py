"""Reflections: what practitioners wrote about a learning point, kept per workspace in Redis.

A reflection comes from a reply in a weekly post's thread, or from the Reflect modal (shared in
the thread, or private). Its id is derived from where it came from (the Slack message, or the
modal's view), so a retried or duplicated event stores it once. Every key lives under the
workspace's prefix, so one workspace can never read, count or delete another's reflections, and
every reflection expires ``retention_days`` after it was written.

Slack delivers message events late, twice or out of order (retries after a slow answer or a 5xx).
So a thread reply is stored with the version of its text (the message's ts, or its edit's ts) and the
newest version wins whatever order the events arrive in; a deleted reply leaves a tombstone, and
"forget me" a marker, that refuse late copies for longer than Slack keeps retrying.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import redis

from bot.search.index import terms
from bot.storage import crypto, keys
from bot.storage.store import Workspace

THREAD = "thread"
MODAL = "modal"
PRIVATE = "private"
SHARED = "thread"
DEFAULT_MINUTES = 10  # a thread reply: reading the point and writing a reply
MATCH_MIN_SHARED = 2
MAX_TEXT = 40_000  # Slack's own limit on a message's text: nothing longer is a real reply
TEXT_FIELDS = ("text", "stood_out", "practice", "action")
TOMB_ANYONE = "1"  # a deletion tombstone whoever deleted it (Slack); else the ids of everyone who did (Teams)
TOMB_SEP = "\n"  # between the deleters' ids in a tombstone (no platform's user id holds a line break)


def cap(text: str) -> str:
    """A reflection's text as stored: at most Slack's message limit (a signed but oversized body is cut)."""
    return text[:MAX_TEXT]


@dataclass
class Reflection:
    id: str
    user: str
    point: str
    kind: str  # "thread" (a reply in the thread) or "modal" (the Reflect form)
    visibility: str  # "thread" (seen by the team) or "private" (only in the author's record)
    created_at: float
    updated_at: float
    channel: str | None = None
    thread_ts: str | None = None  # the weekly post this belongs to, if any
    message_ts: str | None = None  # the reply itself, or the bot's post of a shared modal reflection
    week: str | None = None
    text: str = ""  # thread replies (masked)
    stood_out: str = ""  # modal fields (masked)
    practice: str = ""
    action: str = ""
    minutes: int = DEFAULT_MINUTES
    masked: list[str] = field(default_factory=list)
    version: float = 0.0  # thread replies: Slack ts of the text stored (the message's, or its latest edit's)
    # Thread replies: stored from an edit that arrived before its message, on a platform where someone other than
    # the author may send an edit (Teams). Whose it is stays open until the message itself arrives: it is the
    # authority on its author, and replaces a provisional record stored under anyone else.
    provisional: bool = False

    @property
    def shared(self) -> bool:
        return self.visibility == SHARED

    @property
    def body(self) -> str:
        return self.text or "\n".join(x for x in (self.stood_out, self.practice, self.action) if x)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Reflection:
        return cls(**json.loads(raw))


def deleters(tombstone: str | None) -> set[str]:
    """Who deleted a reply, from its tombstone: ``TOMB_ANYONE`` (Slack: whoever it was, it goes), or each person
    who did (Teams), every one remembered: a later deleter never overwrites an earlier one."""
    return {who for who in (tombstone or "").split(TOMB_SEP) if who}


def message_id(channel: str, ts: str) -> str:
    return f"m-{channel}-{ts}"


def view_id(view: str) -> str:
    return f"v-{view}"


@dataclass(frozen=True)
class ThreadStats:
    reflections: int
    people: int
    questions: list[tuple[str, int]]  # (question, how many reflections touched it), most first


@dataclass(frozen=True)
class WeekStats:
    week: str
    point: str
    thread_ts: str
    reflections: int
    people: int


class ReflectionStore:
    def __init__(self, client: redis.Redis, retention_days: int, clock: Callable[[], float] = time.time):
        self.r = client
        self.retention = retention_days * 86400
        self.clock = clock
        self.vault = crypto.vault(client)  # people's words are sealed at rest (bot.storage.crypto)

    def _seal(self, ws: Workspace, refl: Reflection) -> str:
        return self.vault.seal(ws, self._key(ws, refl.id), refl.to_json())

    def _open(self, ws: Workspace, rid: str, raw: str) -> Reflection:
        return Reflection.from_json(self.vault.open(ws, self._key(ws, rid), raw))

    _key = staticmethod(keys.reflection)
    _user_key = staticmethod(keys.reflections_of_user)
    _thread_key = staticmethod(keys.reflections_in_thread)

    def _indexes(self, ws: Workspace, refl: Reflection) -> list[str]:
        keys = [self._user_key(ws, refl.user)]
        if refl.channel and refl.thread_ts:
            keys.append(self._thread_key(ws, refl.channel, refl.thread_ts))
        return keys

    # ----- writing ----------------------------------------------------------------------------
    def add(self, ws: Workspace, refl: Reflection, *, share_pending: bool = False, share_author: str = "") -> bool:
        """Store a new reflection; False (and nothing changed) if one with this id already exists.

        ``share_pending``: the person chose to share it in its thread. The intent is written with the
        reflection's indexes, before the form is acknowledged, so that if the process that should post it
        dies after the ack (a restart past gunicorn's grace) the clock still posts it (``pending_shares``).
        ``share_author``: the name the post shows, where the platform gives it only with the form (Teams): kept,
        sealed, with the intent (``share_author``) until the share is settled."""
        for name in TEXT_FIELDS:
            setattr(refl, name, cap(getattr(refl, name)))
        ttl = self._ttl(refl.created_at)
        if ttl <= 0:
            return False
        if not self.r.set(self._key(ws, refl.id), self._seal(ws, refl), nx=True, ex=ttl):
            return False
        with self.r.pipeline() as pipe:
            for index in self._indexes(ws, refl):
                pipe.zadd(index, {refl.id: refl.created_at})
                pipe.expire(index, self.retention)
            if share_pending:
                pipe.zadd(keys.shares_pending(ws), {refl.id: refl.created_at})
                pipe.expire(keys.shares_pending(ws), keys.SHARE_PENDING_SECONDS)
                pipe.sadd(keys.SHARE_WORKSPACES, keys.workspace_entry(ws))
                if share_author:
                    search = keys.share_search(ws, refl.id)
                    pipe.hset(search, "author", self.vault.seal(ws, search, share_author))
                    pipe.expire(search, keys.SHARE_PENDING_SECONDS)
            pipe.execute()
        return True

    # ----- shares not yet posted ----------------------------------------------------------------
    def pending_shares(self, ws: Workspace, saved_before: float) -> list[str]:
        """Ids of shared reflections saved before ``saved_before`` and not yet posted in their thread."""
        return list(self.r.zrangebyscore(keys.shares_pending(ws), "-inf", saved_before))

    def share_workspaces(self) -> list[Workspace]:
        """Workspaces that may have a shared reflection still to post (the clock's list)."""
        return [keys.parse_workspace_entry(m) for m in sorted(self.r.smembers(keys.SHARE_WORKSPACES))]

    def claim_share(self, ws: Workspace, rid: str, seconds: float) -> bool:
        """Become the one process posting this shared reflection for ``seconds`` (``SET NX``): the web
        process's listener right after the ack, or the clock once that has had its grace period."""
        return bool(self.r.set(keys.share_claim(ws, rid), "1", nx=True, px=max(1, int(seconds * 1000))))

    def share_done(self, ws: Workspace, rid: str, **changes: object) -> Reflection | None:
        """The share is settled (posted: ``message_ts``; or kept private): record it, then drop the intent."""
        refl = self.update(ws, rid, **changes) if changes else self.get(ws, rid)
        self.r.zrem(keys.shares_pending(ws), rid)
        self.r.delete(keys.share_search(ws, rid))
        return refl

    def share_author(self, ws: Workspace, rid: str) -> str:
        """The name a pending share's post shows, as kept with its intent (``add``); empty if none was kept."""
        key = keys.share_search(ws, rid)
        sealed = self.r.hget(key, "author")
        return self.vault.open(ws, key, sealed) if sealed else ""

    def share_search(self, ws: Workspace, rid: str) -> str | None:
        """How far the clock has read the thread of a pending share (``ts``; every reply up to it was read), if at all."""
        after = self.r.hget(keys.share_search(ws, rid), "after")
        return str(after) if after else None

    def note_share_search(self, ws: Workspace, rid: str, after: str, *, moved: bool) -> int:
        """Record how far an undecided search read (``after``), so the next sweep resumes there; returns how many
        sweeps have now read nothing new (``moved`` False), which bounds how long the clock keeps trying."""
        key = keys.share_search(ws, rid)
        with self.r.pipeline() as pipe:
            pipe.hset(key, "after", after)
            pipe.hincrby(key, "stuck", 0 if moved else 1)
            pipe.expire(key, keys.SHARE_PENDING_SECONDS)
            stuck = pipe.execute()[1]
        return int(stuck)

    def put_message(self, ws: Workspace, refl: Reflection, version: float) -> str:
        """Store a thread reply's text as of ``version`` (Slack's ts of the message or of its edit), in
        whatever order Slack delivers the message and its edits. Returns ``created``, ``updated``,
        ``withheld`` (updated, and a reply the team could count is now private: an edit made it read as a
        live concern), ``stale`` (this version or a newer one is stored, or the version is someone else's
        than the stored reply's author, as Teams can report: nothing changed) or ``deleted``
        (the message was deleted, or its author used "forget me" after writing it: nothing stored).

        Private is for good: a reply kept private as a live concern stays private when edited, since its
        author was asked to take details out of Slack and a redacted account of a live case may no longer
        read as one (a false alarm costs one uncounted reply).

        Whose a reply is: where someone other than its author can send an edit (Teams), an edit that arrives before
        its message is stored ``provisional``; the message itself is the authority on its author: from the same
        person it confirms the record (nothing else changes), from anyone else it replaces it, the other person's
        text and index entries gone ("created"). A platform where only the author edits (Slack) need not say.

        Check-and-write is one optimistic transaction (WATCH/MULTI), so a deletion or a newer edit
        arriving at the same moment is never overwritten; a conflict is re-read, never blindly re-sent."""
        for name in TEXT_FIELDS:
            setattr(refl, name, cap(getattr(refl, name)))
        key = self._key(ws, refl.id)
        tomb, forgot = keys.reflection_tombstone(ws, refl.id), keys.forgotten(ws, refl.user)
        aside = keys.reflection_edit_aside(ws, refl.user, refl.id)
        for _ in range(5):
            with self.r.pipeline(transaction=True) as pipe:  # explicit: a Cluster pipeline is not by default
                try:
                    pipe.watch(key, tomb, forgot, aside)
                    forgotten_at = pipe.get(forgot)
                    deleted_by = deleters(pipe.get(tomb))
                    if TOMB_ANYONE in deleted_by or (forgotten_at and refl.created_at <= float(forgotten_at)):
                        return "deleted"
                    raw = pipe.get(key)
                    current = self._open(ws, refl.id, raw) if raw is not None else None
                    # The message itself (not an edit) is the authority on whose a reply is: it replaces a record
                    # an edit stored first under someone else, and confirms one stored under its own author.
                    original = not refl.provisional
                    if refl.user in deleted_by:  # they deleted it: their late copy is refused
                        if original:  # and their message says the reply was theirs: deleted for everyone
                            self._delete_for_everyone(pipe, ws, refl.id, current)
                        return "deleted"
                    takeover = current is not None and current.user != refl.user and current.provisional and original
                    confirm = current is not None and current.user == refl.user and current.provisional and original
                    if current is not None and not takeover and (current.version >= version or current.user != refl.user):
                        if current.provisional and not original and current.user != refl.user:
                            # Whose the reply is stays open: another person's edit is kept aside, not lost, and
                            # applied if their own message arrives (and it is newer than what it stores).
                            self._keep_aside(pipe, ws, aside, refl, version)
                            return "stale"
                        if not confirm:
                            return "stale"  # newer already stored; or someone other than its author editing it
                        new = replace(current, provisional=False)  # its text stays the newer edit's
                    elif current is None or takeover:
                        new = replace(refl, version=version, updated_at=version)
                    else:
                        visibility = PRIVATE if PRIVATE in (current.visibility, refl.visibility) else refl.visibility
                        new = replace(current, text=refl.text, masked=refl.masked, visibility=visibility, version=version,
                                      updated_at=version, provisional=current.provisional and refl.provisional)
                    kept = pipe.get(aside) if original else None
                    if kept is not None:  # the author's own edit, kept aside while the record was someone else's
                        edit = json.loads(self.vault.open(ws, aside, kept))
                        if float(edit["version"]) > new.version:
                            visibility = PRIVATE if PRIVATE in (new.visibility, edit["visibility"]) else new.visibility
                            new = replace(new, text=edit["text"], masked=edit["masked"], visibility=visibility,
                                          version=float(edit["version"]), updated_at=float(edit["version"]))
                    ttl = self._ttl(new.created_at)
                    if ttl <= 0:
                        return "stale"
                    sealed = self._seal(ws, new)
                    pipe.multi()
                    pipe.set(key, sealed, ex=ttl)
                    if kept is not None:
                        pipe.delete(aside)
                    if takeover and current is not None:  # the other person's record goes, with its index entries
                        for index in self._indexes(ws, current):
                            pipe.zrem(index, refl.id)
                    if current is None or takeover:
                        for index in self._indexes(ws, new):
                            pipe.zadd(index, {new.id: new.created_at})
                            pipe.expire(index, self.retention)
                    pipe.execute()
                    if current is None or takeover:
                        return "created"
                    if new.version == current.version and new.text == current.text:
                        return "stale"  # only confirmed whose it is: nothing a person sees changed
                    return "withheld" if current.shared and not new.shared else "updated"
                except redis.WatchError:
                    continue  # changed under us: read again
        raise redis.WatchError(f"reflection {refl.id} kept changing; not stored (Slack will retry)")

    def _keep_aside(self, pipe: redis.client.Pipeline, ws: Workspace, aside: str, refl: Reflection, version: float) -> None:
        """Keep ``refl`` (an edit by someone other than the provisional record's owner) aside, sealed, unless a
        newer edit of theirs already is. Runs in ``put_message``'s transaction (``aside`` is watched)."""
        kept = pipe.get(aside)
        if kept is not None and float(json.loads(self.vault.open(ws, aside, kept))["version"]) >= version:
            return
        edit = {"version": version, "text": refl.text, "masked": refl.masked, "visibility": refl.visibility}
        sealed = self.vault.seal(ws, aside, json.dumps(edit))
        pipe.multi()
        pipe.set(aside, sealed, ex=keys.EDIT_ASIDE_SECONDS)
        pipe.execute()

    def _delete_for_everyone(self, pipe: redis.client.Pipeline, ws: Workspace, rid: str, current: Reflection | None) -> None:
        """Mark reply ``rid`` deleted for everyone (its author deleted it) and drop whatever is stored, in the
        caller's transaction (the record and tombstone are watched)."""
        pipe.multi()
        pipe.set(keys.reflection_tombstone(ws, rid), TOMB_ANYONE, ex=keys.TOMBSTONE_SECONDS)
        if current is not None:
            pipe.delete(self._key(ws, rid))
            for index in self._indexes(ws, current):
                pipe.zrem(index, rid)
        pipe.execute()

    def delete_message(self, ws: Workspace, rid: str, by: str | None = None) -> Reflection | None:
        """A reply was deleted: tombstone it first (so a late copy of the original, or of an edit, is refused),
        then delete whatever is stored. ``by``: who the platform says deleted it, when the platform lets that be
        someone else (Teams). Only a record's own author deletes it, and then it is deleted for everyone: the
        tombstone refuses a late copy or edit from anyone. Someone else's deletion changes nothing stored (a
        provisional record, stored from an edit that came first, goes only when its owner deletes it), but every
        deleter is remembered: a late copy of the message from one of them says the reply was theirs, and then it
        is deleted for everyone too (``put_message``). Slack's ``None``: whoever deleted it, it goes."""
        tomb = keys.reflection_tombstone(ws, rid)
        if by is None:
            self.r.set(tomb, TOMB_ANYONE, ex=keys.TOMBSTONE_SECONDS)
        else:
            gone = self._delete_by(ws, rid, by)
            if gone is None:
                return None
        channel = rid[2:].rsplit("-", 1)[0] if rid.startswith("m-") else "*"
        channel = "*" if any(c in channel for c in "*?[]\\") else channel  # not a glob
        self._drop_held(ws, keys.thread_pending_pattern(ws, channel),
                        lambda refl: refl.get("id") == rid and by in (None, refl.get("user")))  # fmt: skip
        return self.delete(ws, rid) if by is None else gone

    def _delete_by(self, ws: Workspace, rid: str, by: str) -> Reflection | None:
        """Teams' deletion of ``rid`` by ``by``, in one optimistic transaction with whatever is stored: the record
        if it was removed (its author's deletion, or a provisional record's owner's), else None."""
        key, tomb = self._key(ws, rid), keys.reflection_tombstone(ws, rid)
        for _ in range(5):
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key, tomb)
                    raw = pipe.get(key)
                    current = self._open(ws, rid, raw) if raw is not None else None
                    mine = current is not None and current.user == by
                    if mine and current is not None and not current.provisional:
                        self._delete_for_everyone(pipe, ws, rid, current)  # its author deleted it
                        self.r.delete(keys.reflection_edit_aside(ws, by, rid))
                        return current
                    pipe.multi()
                    pipe.append(tomb, TOMB_SEP + by)  # every deleter is kept: a second's must not hide the first's
                    pipe.expire(tomb, keys.TOMBSTONE_SECONDS)
                    pipe.delete(keys.reflection_edit_aside(ws, by, rid))
                    if mine and current is not None:  # their own provisional record: whose the reply is stays open
                        pipe.delete(key)
                        for index in self._indexes(ws, current):
                            pipe.zrem(index, rid)
                    pipe.execute()
                    return current if mine else None
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"reflection {rid} kept changing; deletion not recorded (Teams will retry)")

    def update(self, ws: Workspace, rid: str, **changes: object) -> Reflection | None:
        current = self.get(ws, rid)
        if current is None:
            return None
        for name, value in changes.items():
            setattr(current, name, cap(value) if name in TEXT_FIELDS and isinstance(value, str) else value)
        current.updated_at = self.clock()
        ttl = self._ttl(current.created_at)
        if ttl > 0:
            self.r.set(self._key(ws, rid), self._seal(ws, current), ex=ttl)
        return current

    def delete(self, ws: Workspace, rid: str) -> Reflection | None:
        current = self._raw(ws, rid)
        if current is None:
            return None
        with self.r.pipeline() as pipe:
            pipe.delete(self._key(ws, rid))
            for index in self._indexes(ws, current):
                pipe.zrem(index, rid)
            pipe.execute()
        return current

    def delete_user(self, ws: Workspace, user: str) -> int:
        """Forget everything one person wrote in this workspace. The time is remembered for a while, so a
        late (retried) delivery of a message they wrote before this is not stored again."""
        self.r.set(keys.forgotten(ws, user), repr(self.clock()), ex=keys.TOMBSTONE_SECONDS)
        self._drop_held(ws, keys.thread_pending_pattern(ws), lambda refl: refl.get("user") == user)
        for aside in self.r.scan_iter(match=keys.reflection_edits_aside_pattern(ws, user), count=500):
            self.r.delete(aside)  # their edits kept aside (Teams) go too
        mine = self.for_user(ws, user)
        for refl in mine:
            self.delete(ws, refl.id)
        self.r.delete(self._user_key(ws, user))
        return len(mine)

    def _ttl(self, created_at: float) -> int:
        return int(created_at + self.retention - self.clock())

    # ----- reading ----------------------------------------------------------------------------
    def _raw(self, ws: Workspace, rid: str) -> Reflection | None:
        raw = self.r.get(self._key(ws, rid))
        return self._open(ws, rid, raw) if raw is not None else None

    def get(self, ws: Workspace, rid: str) -> Reflection | None:
        refl = self._raw(ws, rid)
        if refl is None:
            return None
        if refl.created_at + self.retention <= self.clock():
            self.delete(ws, rid)  # past retention (Redis's TTL normally got there first)
            return None
        return refl

    def _load(self, ws: Workspace, index: str) -> list[Reflection]:
        cutoff = self.clock() - self.retention
        self.r.zremrangebyscore(index, "-inf", cutoff)
        ids = self.r.zrevrange(index, 0, -1)
        if not ids:
            return []
        raws = self.r.mget([self._key(ws, i) for i in ids])
        out = []
        for rid, raw in zip(ids, raws, strict=True):
            if raw is None:
                self.r.zrem(index, rid)  # expired by Redis
                continue
            refl = self._open(ws, rid, raw)
            if refl.created_at > cutoff:
                out.append(refl)
        return out

    def for_user(self, ws: Workspace, user: str) -> list[Reflection]:
        """One person's reflections, newest first."""
        return self._load(ws, self._user_key(ws, user))

    def for_thread(self, ws: Workspace, channel: str, thread_ts: str) -> list[Reflection]:
        return self._load(ws, self._thread_key(ws, channel, thread_ts))

    def _shared(self, ws: Workspace, channel: str, thread_ts: str) -> list[Reflection]:
        """What the team shared in a thread: private reflections are never shown or counted."""
        return [r for r in self.for_thread(ws, channel, thread_ts) if r.shared]

    def thread_stats(self, ws: Workspace, channel: str, thread_ts: str, questions: Iterable[str]) -> ThreadStats:
        shared = self._shared(ws, channel, thread_ts)
        counts = Counter()
        q_terms = {q: set(content_terms(q)) for q in questions}
        for refl in shared:
            words = set(content_terms(refl.body))
            for q, qt in q_terms.items():
                if len(qt & words) >= min(MATCH_MIN_SHARED, len(qt)):
                    counts[q] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], list(q_terms).index(kv[0])))
        return ThreadStats(len(shared), len({r.user for r in shared}), ranked)

    def channel_weeks(self, ws: Workspace, channel: str, since: float) -> list[WeekStats]:
        """Weekly posts in a channel since ``since`` (epoch), newest first, with what the team shared."""
        out = []
        for ts in self.r.zrevrangebyscore(keys.channel_posts(ws, channel), "+inf", since):
            info = self.thread_record(ws, channel, ts)
            if info is None:
                continue
            shared = self._shared(ws, channel, ts)
            out.append(WeekStats(info["week"], info["point"], ts, len(shared), len({r.user for r in shared})))
        return out

    def hold(self, ws: Workspace, refl: Reflection, version: float) -> None:
        """Keep a reply (already masked) to one of the bot's posts that is not yet known as a weekly post: the
        post's answer was lost and its recovery has not run. ``attach_held`` stores it once the post is confirmed."""
        key = keys.thread_pending(ws, refl.channel or "", refl.thread_ts or "")
        held = self.vault.seal(ws, key, json.dumps({"refl": asdict(refl), "version": version}))
        with self.r.pipeline() as pipe:
            pipe.rpush(key, held)
            pipe.ltrim(key, -keys.PENDING_MAX, -1)
            pipe.expire(key, keys.PENDING_SECONDS)
            pipe.execute()

    def attach_held(self, ws: Workspace, channel: str, thread_ts: str) -> int:
        """Store the replies held for a thread now known as a weekly post (``thread_record``); how many. Safe to
        run twice or at once: each reply's id and version make storing it idempotent."""
        post = self.thread_record(ws, channel, thread_ts)
        if post is None:
            return 0
        key = keys.thread_pending(ws, channel, thread_ts)
        with self.r.pipeline() as pipe:  # MULTI: a reply held meanwhile is either taken here or left for later
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            held, _ = pipe.execute()
        for raw in held:
            item = json.loads(self.vault.open(ws, key, raw))
            refl = replace(Reflection(**item["refl"]), point=post["point"], week=post.get("week"))
            self.put_message(ws, refl, float(item["version"]))
        return len(held)

    def _drop_held(self, ws: Workspace, pattern: str, matches: Callable[[dict], bool]) -> int:
        """Take held replies (``hold``) that ``matches`` out of every held list ``pattern`` names: a deleted
        reply, or everything a person who used "forget me" wrote, must not be stored when its post is confirmed
        (the tombstone and the forget-me marker refuse it too; this leaves nothing of it behind). How many."""
        dropped = 0
        for key in self.r.scan_iter(match=pattern, count=500):
            for raw in self.r.lrange(key, 0, -1):
                try:
                    item = json.loads(self.vault.open(ws, key, raw))
                except (ValueError, TypeError, crypto.CryptoError):
                    continue
                if matches(item.get("refl") or {}):
                    dropped += int(self.r.lrem(key, 0, raw))
        return dropped

    def thread_record(self, ws: Workspace, channel: str, thread_ts: str) -> dict | None:
        """The weekly post a thread belongs to, if ``thread_ts`` is one of ours (written by ``bot.weekly.poster``)."""
        raw = self.r.get(keys.thread(ws, channel, thread_ts))
        return json.loads(raw) if raw else None

    def latest_post(self, ws: Workspace, channel: str) -> dict | None:
        """The channel's latest weekly post, the one `/scr week` and App Home show (written by ``bot.weekly.poster``)."""
        raw = self.r.get(keys.channel_week(ws, channel))
        return json.loads(raw) if raw else None

    def posted_channels(self, ws: Workspace) -> list[str]:
        """Channels with weekly posts in this workspace (written by ``bot.weekly.poster``)."""
        return sorted(self.r.smembers(keys.posted_channels(ws)))



_COMMON = frozenset(terms("we our us team what how do does did would could should can practice think"))


def content_terms(text: str) -> list[str]:
    return [t for t in terms(re.sub(r"\[[a-z ]+ removed\]", " ", text or "")) if t not in _COMMON]


def iso_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
