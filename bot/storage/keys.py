"""Every Redis key the bot uses: its name, how long it lives, and how it is cleaned up. Nothing else
builds key strings.

Layout: ``scr:{<enterprise or ->:<team>}:<kind>:<parts>``. The braces are a Redis Cluster hash tag:
every key of one workspace hashes to the same slot, so any multi-key operation on a workspace's data
(a pipeline, a Lua script, MULTI) stays valid on a Cluster, and no key of one workspace can be built
from another workspace's identity. Keys that belong to no workspace live under ``scr:{_}:``.

| key (after the workspace tag)            | type   | lifetime                                       |
|------------------------------------------|--------|------------------------------------------------|
| ``weekly:<schedule>:<week>``             | string | claim lease, then done 60 d / failed 1 h        |
| ``summary:<schedule>:<week>``            | string | same as ``weekly``                              |
| ``<claim>:attempt``                      | string | 14 d (an attempt whose outcome is unknown)      |
| ``<claim>:seen``                         | string | 14 d (Slack sent our post back as an event: its ts) |
| ``thread-pending:<channel>:<ts>``        | list   | 7 d (replies to a bot post not yet known as a weekly post) |
| ``schedule-status:<schedule>``           | hash   | retention, refreshed on write; unsubscribe      |
| ``thread:<channel>:<ts>``                | string | retention (the weekly post a thread belongs to) |
| ``channel-week:<channel>``               | string | retention; unsubscribe                          |
| ``channel-posts:<channel>``              | zset   | retention, refreshed on write; old entries trimmed |
| ``posted-channels``                      | set    | retention, refreshed on write; unsubscribe removes the channel |
| ``rotation:<schedule>`` (+ ``:posted``)  | hash, set | while subscribed; unsubscribe               |
| ``subscription:<channel>``               | string | while subscribed                                |
| ``refl:<id>``                            | string | retention from when it was written              |
| ``refl-user:<user>``, ``refl-thread:<channel>:<ts>`` | zset | retention, refreshed; entries trimmed on read |
| ``refl-deleted:<id>`` (tombstone)        | string | 1 d: outlives Slack's event retries             |
| ``refl-forgotten:<user>``                | string | 1 d: "forget me" time; older messages refused   |
| ``install:bot``, ``install:installer`` (+ ``:<user>``), ``install:users`` | string, set | until uninstall / revocation (tokens) |
| ``install:rotating``                     | string | 30 s lock while one process refreshes a rotating token |
| ``purging``                              | string | the id of the purge under way; deleted when it ends or a reinstall cancels it |
| ``scr:{_}:subscriptions`` (global)       | set    | while any subscription exists                   |
| ``quiz:people``                          | hash   | while anyone is opted in; opt-out and forget remove the person |
| ``quiz:cards:<user>``, ``quiz:answers:<user>`` | hash | retention, refreshed on write; forget deletes |
| ``quiz:day:<user>:<date>``               | string | 2 d (the one-check-a-day claim)                 |
| ``quiz:week:<channel>:<week>`` (+ ``:people``) | hash, set | 400 d (team aggregates: counts only)   |
| ``quiz:month:<channel>:<month>`` (+ ``:people``) | hash, set | 400 d (the digest's monthly counts)  |
| ``quiz:memberships:<user>``              | set    | the ``:people`` sets a person is in; forget removes them from each |
| ``scr:{_}:quiz-workspaces`` (global)     | set    | workspaces where someone opted in               |
| ``digest:readers:<channel>``             | set    | until readers are removed                       |
| ``digest:sent:<channel>:<month>:<user>`` | string | 40 d (the once-a-month claim)                   |
| ``scr:{_}:installations`` (global)       | hash   | tag -> install summary, until uninstall         |
| ``scr:{_}:purge-pending`` (global)       | set    | workspaces being purged; removed when done      |
| ``scr:{_oauth}:state:<state>`` (global)  | string | OAuth state: 10 min, deleted when used (GETDEL) |

Forgetting a workspace (``bot.storage.purge``) deletes every key matching ``workspace_pattern``, on the one
Cluster node that owns its slot, plus its entries in the global indexes.

Before this module, keys were ``scr:<enterprise or ->:<team>:...`` and ``scr:_:...``; ``migrate``
renames such keys to the layout above on start-up (idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger(__name__)

PREFIX = "scr"
GLOBAL = f"{PREFIX}:{{_}}"
CLAIM_DONE_DAYS = 60  # how long "this week is posted" is remembered (longer than any week it guards)
CLAIM_FAILED_SECONDS = 3600  # a permanent failure is retried hourly (someone may invite the bot)
ATTEMPT_DAYS = 14  # an attempt whose outcome is unknown is checked against Slack for this long
DAY = 86400
# Slack retries an event 3 times over about 5 minutes (and a delivery can be late after an outage):
# a deleted reflection's tombstone, and a "forget me", refuse late copies for a day, far beyond that.
TOMBSTONE_SECONDS = DAY


@dataclass(frozen=True)
class Workspace:
    """A Slack workspace (``team_id``), inside an Enterprise Grid org when ``enterprise_id`` is set."""

    team_id: str
    enterprise_id: str | None = None

    def __post_init__(self) -> None:
        for part in (self.team_id, self.enterprise_id or "-"):
            if not part or any(c in part for c in ":{}|"):
                raise ValueError(f"invalid workspace id {self.team_id!r} (enterprise {self.enterprise_id!r})")

    @property
    def tag(self) -> str:
        """``scr:{E:T}``: the prefix of every key of this workspace (a Cluster hash tag)."""
        return f"{PREFIX}:{{{self.enterprise_id or '-'}:{self.team_id}}}"


def _key(ws: Workspace, *parts: str) -> str:
    return ":".join((ws.tag, *parts))


# ----- weekly posts and summaries (bot.weekly.poster, bot.weekly.summary, bot.once) ------------------------------
def weekly_claim(ws: Workspace, schedule_id: str, week: str) -> str:
    return _key(ws, "weekly", schedule_id, week)


def summary_claim(ws: Workspace, schedule_id: str, week: str) -> str:
    return _key(ws, "summary", schedule_id, week)


def attempt(claim: str) -> str:
    """Where ``bot.once`` keeps the attempt for a claim: same hash tag, so one Lua script may touch both."""
    return claim + ":attempt"


def seen(claim: str) -> str:
    """Our own post for a claim, as Slack sent it back in an event (``bot.handlers.events``): a recovery reads
    it before asking Slack. Same hash tag as the claim."""
    return claim + ":seen"


def is_claim_of(ws: Workspace, key: str) -> bool:
    """Whether ``key`` (carried in a post's metadata) names a weekly post or summary claim of ``ws``."""
    for prefix in (_key(ws, "weekly", ""), _key(ws, "summary", "")):
        if key.startswith(prefix) and key[len(prefix):].count(":") == 1:  # <schedule>:<week>
            return True
    return False


PENDING_SECONDS = 7 * DAY  # replies held until the weekly post they answer is confirmed (a week's recovery)
PENDING_MAX = 1000  # replies held per thread at most


def thread_pending(ws: Workspace, channel: str, ts: str) -> str:
    return _key(ws, "thread-pending", channel, ts)


def schedule_status(ws: Workspace, schedule_id: str) -> str:
    return _key(ws, "schedule-status", schedule_id)


def thread(ws: Workspace, channel: str, ts: str) -> str:
    return _key(ws, "thread", channel, ts)


def channel_week(ws: Workspace, channel: str) -> str:
    return _key(ws, "channel-week", channel)


def channel_posts(ws: Workspace, channel: str) -> str:
    return _key(ws, "channel-posts", channel)


def posted_channels(ws: Workspace) -> str:
    return _key(ws, "posted-channels")


def rotation(ws: Workspace, schedule_id: str) -> tuple[str, str]:
    """(state hash, set of points posted this cycle)."""
    return _key(ws, "rotation", schedule_id), _key(ws, "rotation", schedule_id, "posted")


# ----- subscriptions (bot.weekly.schedules) ---------------------------------------------------------------
def subscription(ws: Workspace, channel: str) -> str:
    return _key(ws, "subscription", channel)


SUBSCRIPTIONS = f"{GLOBAL}:subscriptions"  # "enterprise|team|channel" entries, so the clock can find them


def subscription_entry(ws: Workspace, channel: str) -> str:
    return f"{ws.enterprise_id or '-'}|{ws.team_id}|{channel}"


def parse_subscription_entry(entry: str) -> tuple[Workspace, str]:
    enterprise, team, channel = entry.split("|", 2)
    return Workspace(team, None if enterprise == "-" else enterprise), channel


# ----- reflections (bot.reflections.store) ---------------------------------------------------------------
def reflection(ws: Workspace, rid: str) -> str:
    return _key(ws, "refl", rid)


def reflections_of_user(ws: Workspace, user: str) -> str:
    return _key(ws, "refl-user", user)


def reflections_in_thread(ws: Workspace, channel: str, ts: str) -> str:
    return _key(ws, "refl-thread", channel, ts)


# ----- installations and OAuth (bot.slack.installations, bot.slack.oauth) --------------------------------------
def install_bot(ws: Workspace) -> str:
    """The latest bot token (and rotation fields) of a workspace, or of an org for an org-wide install."""
    return _key(ws, "install", "bot")


def install_installer(ws: Workspace, user_id: str | None = None) -> str:
    """The latest installation, or the latest by one installing user."""
    return _key(ws, "install", "installer", *([user_id] if user_id else []))


def install_users(ws: Workspace) -> str:
    """Users with an installation record here, so a revocation can find every copy of a token."""
    return _key(ws, "install", "users")


def install_rotating(ws: Workspace) -> str:
    """Held while one process refreshes the workspace's rotating token."""
    return _key(ws, "install", "rotating")


INSTALLATIONS = f"{GLOBAL}:installations"  # hash: workspace tag -> JSON summary, for the clock and the CLI
PURGE_PENDING = f"{GLOBAL}:purge-pending"  # "enterprise|team" of workspaces whose purge has not finished


def purge_fence(ws: Workspace) -> str:
    """The id of the purge under way for a workspace (or org). A purge deletes a key only while this still
    holds its id, checked atomically in the workspace's slot: a reinstall deletes it, so nothing written
    after the reinstall can be touched by a purge of the uninstall before it."""
    return _key(ws, "purging")
OAUTH_STATE_TTL = 600


def reflection_tombstone(ws: Workspace, rid: str) -> str:
    """Set (``TOMBSTONE_SECONDS``) when a reflection's message is deleted: a late copy is not stored again."""
    return _key(ws, "refl-deleted", rid)


def forgotten(ws: Workspace, user: str) -> str:
    """When a person last used "forget me" (epoch seconds, ``TOMBSTONE_SECONDS``): late copies of messages
    they wrote before it are not stored again."""
    return _key(ws, "refl-forgotten", user)


# ----- knowledge checks (bot.learning.quiz) ------------------------------------------------------------------
QUIZ_DAY_SECONDS = 2 * DAY  # the one-a-day claim outlives its day, whatever the time zone
QUIZ_AGGREGATE_SECONDS = 400 * DAY  # long enough for a year of monthly digests
QUIZ_WORKSPACES = f"{GLOBAL}:quiz-workspaces"  # "enterprise|team" entries, so the clock can find opted-in people


def quiz_people(ws: Workspace) -> str:
    return _key(ws, "quiz", "people")


def quiz_cards(ws: Workspace, user: str) -> str:
    return _key(ws, "quiz", "cards", user)


def quiz_answers(ws: Workspace, user: str) -> str:
    return _key(ws, "quiz", "answers", user)


def quiz_day(ws: Workspace, user: str, day: str) -> str:
    return _key(ws, "quiz", "day", user, day)


def quiz_memberships(ws: Workspace, user: str) -> str:
    """The aggregate ``:people`` sets this person was added to, so forgetting them can take them out of each."""
    return _key(ws, "quiz", "memberships", user)


def quiz_week(ws: Workspace, channel: str, week: str) -> tuple[str, str]:
    """(counts hash, set of people) for a team's checks in an ISO week."""
    return _key(ws, "quiz", "week", channel, week), _key(ws, "quiz", "week", channel, week, "people")


def quiz_month(ws: Workspace, channel: str, month: str) -> tuple[str, str]:
    """(counts hash, set of people) for a team's checks in a month ("2026-11")."""
    return _key(ws, "quiz", "month", channel, month), _key(ws, "quiz", "month", channel, month, "people")


def workspace_entry(ws: Workspace) -> str:
    return f"{ws.enterprise_id or '-'}|{ws.team_id}"


def parse_workspace_entry(entry: str) -> Workspace:
    enterprise, team = entry.split("|", 1)
    return Workspace(team, None if enterprise == "-" else enterprise)


def oauth_state(state: str) -> str:
    """An OAuth ``state``: global (no workspace yet), its own hash tag so states spread across a Cluster."""
    return f"{PREFIX}:{{_oauth}}:state:{state}"


def workspace_pattern(ws: Workspace) -> str:
    """A SCAN pattern matching every key of the workspace (all in one slot)."""
    return f"{ws.tag}:*"


def org_pattern(enterprise_id: str) -> str:
    """A SCAN pattern matching every key of every workspace of an Enterprise Grid org (many slots)."""
    return f"{PREFIX}:{{{enterprise_id}:*"


# ----- the learning lead's digest (bot.learning.digest_sender) ------------------------------------------------
DIGEST_CLAIM_SECONDS = 40 * DAY  # the once-a-month claim outlives its month's first week


def digest_readers(ws: Workspace, channel: str) -> str:
    return _key(ws, "digest", "readers", channel)


def digest_claim(ws: Workspace, channel: str, month: str, user: str) -> str:
    return _key(ws, "digest", "sent", channel, month, user)


# ----- writing with lifetimes ----------------------------------------------------------------------
def record_weekly_post(pipe: Any, ws: Workspace, schedule_id: str, channel: str, ts: str, record: str,
                       status: dict[str, str], retention: int) -> None:  # fmt: skip
    """Queue on ``pipe`` everything a weekly post leaves behind, each with its lifetime."""
    posted_at = float(ts.split(".")[0])
    pipe.set(thread(ws, channel, ts), record, ex=retention)
    pipe.set(channel_week(ws, channel), record, ex=retention)
    posts = channel_posts(ws, channel)
    pipe.zadd(posts, {ts: posted_at})
    pipe.zremrangebyscore(posts, "-inf", posted_at - retention)  # keep it bounded
    pipe.expire(posts, retention)
    pipe.sadd(posted_channels(ws), channel)
    pipe.expire(posted_channels(ws), retention)
    set_status(pipe, ws, schedule_id, status, retention)


def set_status(pipe: Any, ws: Workspace, schedule_id: str, fields: dict[str, str], retention: int) -> None:
    key = schedule_status(ws, schedule_id)
    pipe.hset(key, mapping=fields)
    pipe.expire(key, retention)


# ----- clean-up ------------------------------------------------------------------------------------
def forget_subscription(pipe: Any, ws: Workspace, channel: str, schedule_id: str) -> None:
    """Queue on ``pipe`` the removal of a channel's subscription and everything that only served it: the
    rotation, the schedule's status, and the channel's place in App Home and ``/scr week``. Posted threads
    and what the team reflected (``thread``, ``channel-posts``, reflections) stay until their retention ends,
    and the week's claim stays, so subscribing again the same week does not post that week twice."""
    pipe.delete(subscription(ws, channel))
    pipe.srem(SUBSCRIPTIONS, subscription_entry(ws, channel))
    for key in (*rotation(ws, schedule_id), schedule_status(ws, schedule_id), channel_week(ws, channel)):
        pipe.delete(key)  # one key per DEL: a Redis Cluster pipeline refuses multi-key DEL
    pipe.srem(posted_channels(ws), channel)


# ----- migration from the old layout ---------------------------------------------------------------
def legacy_name(key: str) -> str | None:
    """The old name of a key in the current layout (``scr:{E:T}:x`` -> ``scr:E:T:x``), for recognising
    old key strings embedded in Slack messages' metadata."""
    if not key.startswith(PREFIX + ":{"):
        return None
    tag, _, rest = key[len(PREFIX) + 2:].partition("}")
    return f"{PREFIX}:{tag}{rest}"


def new_name(old: str) -> str | None:
    """The current name for a key in the old layout, or None if it is not one."""
    if not old.startswith(PREFIX + ":") or old.startswith(PREFIX + ":{"):
        return None
    rest = old[len(PREFIX) + 1:]
    if rest.startswith("_:"):
        return f"{GLOBAL}:{rest[2:]}"
    parts = rest.split(":", 2)
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return None
    enterprise, team, tail = parts
    return f"{PREFIX}:{{{enterprise}:{team}}}:{tail}"


def migrate(client: redis.Redis, batch: int = 500) -> tuple[int, int]:
    """Rename every key in the old layout to the current one; (renamed, left because the new name exists).

    Idempotent and safe to run from several processes at once: RENAMENX never overwrites, and a key
    another process renamed first is simply gone. TTLs move with the key."""
    renamed = kept = 0
    for old in client.scan_iter(match=f"{PREFIX}:[^{{]*", count=batch):
        old = old.decode() if isinstance(old, bytes) else old
        new = new_name(old)
        if new is None:
            continue
        try:
            if client.renamenx(old, new):
                renamed += 1
            else:
                kept += 1
                log.warning("key %s not migrated: %s already exists", old, new)
        except redis.ResponseError as exc:  # gone meanwhile (renamed by another process)
            if "no such key" not in str(exc).lower():
                raise
    if renamed:
        log.info("migrated %d Redis key(s) to the hash-tagged layout", renamed)
    return renamed, kept
