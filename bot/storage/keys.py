"""Every Redis key the bot uses: its name, how long it lives, and how it is cleaned up. Nothing else
builds key strings.

Layout: ``scr:{<platform>:<enterprise or ->:<team>}:<kind>:<parts>``, the platform being ``slack`` (a
Microsoft Teams tenant would be ``scr:{teams:-:<tenant>}:``). The braces are a Redis Cluster hash tag:
every key of one tenant (``Workspace``) hashes to the same slot, so any multi-key operation on its data
(a pipeline, a Lua script, MULTI) stays valid on a Cluster, and no key of one tenant can be built from
another's identity, on the same platform or another. Keys that belong to no tenant live under ``scr:{_}:``;
their members name tenants as ``<platform>|<enterprise or ->|<team>`` (``workspace_entry``).

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
| ``refl-deleted:<id>`` (tombstone)        | string | 7 d: outlives Slack's event retries and any held reply |
| ``shares-pending``, ``share-claim:<id>`` | zset, string | 7 d, refreshed on write / grace period (a shared reflection not yet posted) |
| ``share-search:<id>``                    | hash   | 7 d; deleted when the share is settled (how far the clock read its thread; Teams: the author's name, sealed) |
| ``refl-forgotten:<user>``                | string | 7 d: "forget me" time; older messages refused   |
| ``refl-edit:<user>:<id>``                | string | 7 d: Teams, an edit kept aside while the reply is provisionally someone else's |
| ``install:bot``, ``install:installer`` (+ ``:<user>``), ``install:users`` | string, set | until uninstall / revocation (tokens) |
| ``install:rotating``                     | string | 30 s lock while one process refreshes a rotating token |
| ``purging``                              | string | the id of the purge under way; deleted when it ends or a reinstall cancels it |
| ``datakey``                              | string | the workspace's data key, wrapped by the master key (``bot.storage.crypto``); until purged (first) |
| ``datakey:old``                          | string | the previous data key while ``keys rotate --data-keys`` re-encrypts; deleted when it ends, or by a purge (first) |
| ``scr:{_}:subscriptions`` (global)       | set    | ``platform|ent|team|channel``, while subscribed |
| ``quiz:people``                          | hash   | while anyone is opted in; opt-out and forget remove the person |
| ``quiz:cards:<user>``, ``quiz:answers:<user>`` | hash | retention, refreshed on write; forget deletes |
| ``quiz:day:<user>:<date>``               | string | 2 d (the one-check-a-day claim)                 |
| ``quiz:week:<channel>:<week>`` (+ ``:people``) | hash, set | 400 d (team aggregates: counts only)   |
| ``quiz:month:<channel>:<month>`` (+ ``:people``) | hash, set | 400 d (the digest's monthly counts)  |
| ``quiz:memberships:<user>``              | set    | the ``:people`` sets a person is in; forget removes them from each |
| ``scr:{_}:quiz-workspaces`` (global)     | set    | workspaces where someone opted in               |
| ``scr:{_}:share-workspaces`` (global)    | set    | workspaces that ever had a shared reflection pending |
| ``session:<channel>:<ts>`` (+ ``:attended``, ``:actions``) | string, set, set | retention from the session |
| ``sessions``, ``sessions-questions-due``, ``sessions-user:<user>`` | zset, zset, set | retention; forget me |
| ``action:<id>``, ``actions-owner:<user>``, ``actions-due`` | string, set, zset | retention; forget me |
| ``followup:<action>:<stage>``, ``questions:<channel>:<ts>`` | string | once-only claims, as ``weekly`` |
| ``scr:{_}:session-workspaces`` (global) | set | workspaces with sessions                         |
| ``digest:readers``                       | set    | until readers are removed (the workspace's; layout 3 had one per channel) |
| ``digest:sent:<channel>:<month>:<user>`` | string | 40 d (the once-a-month claim)                   |
| ``admins``                               | set    | until removed (``/scr admins remove``)          |
| ``audit``                                | zset   | entries 400 d, at most 2,000; key refreshed on write |
| ``scr:{_}:installations`` (global)       | hash   | tag -> install summary, until uninstall         |
| ``scr:{_}:purge-pending`` (global)       | set    | workspaces being purged; removed when done      |
| ``scr:{_oauth}:state:<state>`` (global)  | string | OAuth state: 10 min, deleted when used (GETDEL) |
| ``scr:{_}:layout`` (global)              | string | the layout version, set once a migration is done |
| ``scr:{_}:layout-lock`` (global)         | string | 30 s, renewed: one process migrates at a time   |
| ``scr:{_}:datakey-rotation`` (global)    | hash   | a data-key rotation under way: start time, workspaces done; deleted when it ends |

Forgetting a workspace (``bot.storage.purge``) deletes every key matching ``workspace_pattern``, on the one
Cluster node that owns its slot, plus its entries in the global indexes.

Older versions wrote ``scr:<enterprise or ->:<team>:...`` and ``scr:_:...`` (layout 1), then
``scr:{<enterprise or ->:<team>}:...`` and index entries without the platform (layout 2); ``migrate``
moves both to the layout above at start-up, once: afterwards a start-up reads only ``scr:{_}:layout``.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
import uuid
from collections.abc import Iterator
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
# Slack retries an event 3 times over about 5 minutes (and a delivery can be late after an outage), and a
# reply to a post whose outcome is unknown is held (``thread-pending``) for up to ``PENDING_SECONDS``: a deleted
# reflection's tombstone, and a "forget me", refuse late copies (and held replies) at least that long.
TOMBSTONE_SECONDS = 7 * DAY


PLATFORM = re.compile(r"[a-z][a-z0-9]*")  # a platform's name: one lowercase word ("slack", "teams")


@dataclass(frozen=True)
class Workspace:
    """The tenant identity: whose data a key holds, on which chat platform.

    For Slack, a workspace (``team_id``), inside an Enterprise Grid org when ``enterprise_id`` is set;
    for another platform, its tenant (a Microsoft Teams tenant would be
    ``Workspace(team_id=<tenant id>, platform="teams")``). The platform is part of every key and index
    entry, so two platforms' ids can never name the same data. (Still called ``Workspace`` because
    the whole bot passes it around under that name.)"""

    team_id: str
    enterprise_id: str | None = None
    platform: str = "slack"

    def __post_init__(self) -> None:
        for part in (self.team_id, self.enterprise_id or "-"):
            if not part or any(c in part for c in ":{}|"):
                raise ValueError(f"invalid workspace id {self.team_id!r} (enterprise {self.enterprise_id!r})")
        if not isinstance(self.platform, str) or not PLATFORM.fullmatch(self.platform):
            raise ValueError(f"invalid platform {self.platform!r}: one lowercase word, such as 'slack'")

    @property
    def tag(self) -> str:
        """``scr:{P:E:T}``: the prefix of every key of this tenant (a Cluster hash tag)."""
        return f"{PREFIX}:{{{self.platform}:{self.enterprise_id or '-'}:{self.team_id}}}"


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


def thread_pending_pattern(ws: Workspace, channel: str = "*") -> str:
    """Every held-replies list of the workspace (in ``channel`` when given): a deleted reply or "forget me"
    takes its entries out of them, so a held reply never comes back once its post is confirmed."""
    return _key(ws, "thread-pending", channel, "*")


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


SUBSCRIPTIONS = f"{GLOBAL}:subscriptions"  # "platform|enterprise|team|channel" entries, so the clock can find them


def subscription_entry(ws: Workspace, channel: str) -> str:
    return f"{workspace_entry(ws)}|{channel}"


def parse_subscription_entry(entry: str) -> tuple[Workspace, str]:
    """``platform|enterprise|team|channel``; an entry an older version wrote (``enterprise|team|channel``,
    whose first field is never a lowercase word) is a Slack one."""
    parts = entry.split("|", 3)
    if len(parts) == 4 and PLATFORM.fullmatch(parts[0]):
        platform, enterprise, team, channel = parts
    else:
        (enterprise, team, channel), platform = entry.split("|", 2), "slack"
    return Workspace(team, None if enterprise == "-" else enterprise, platform), channel


# ----- reflections (bot.reflections.store) ---------------------------------------------------------------
def reflection(ws: Workspace, rid: str) -> str:
    return _key(ws, "refl", rid)


def reflections_of_user(ws: Workspace, user: str) -> str:
    return _key(ws, "refl-user", user)


def reflections_in_thread(ws: Workspace, channel: str, ts: str) -> str:
    return _key(ws, "refl-thread", channel, ts)


SHARE_PENDING_SECONDS = 7 * DAY  # a shared reflection not yet in its thread: the clock finishes it well before
SHARE_WORKSPACES = f"{GLOBAL}:share-workspaces"  # workspace entries, so the clock can find pending shares


def shares_pending(ws: Workspace) -> str:
    """Zset: reflection id -> when it was saved, for each reflection shared in a thread but not yet posted there.
    Written with the reflection, before the ack; removed once it is posted (or kept private). The clock posts
    what a web process did not finish (killed after the ack), once ``SCR_PENDING_GRACE_S`` has passed."""
    return _key(ws, "shares-pending")


def share_claim(ws: Workspace, rid: str) -> str:
    """Held (``SET NX``, the grace period) by the one process posting a shared reflection: the web process's
    lazy listener, or the clock after it; never two at once."""
    return _key(ws, "share-claim", rid)


def share_search(ws: Workspace, rid: str) -> str:
    """Hash kept with a pending share's intent while the clock looks for it in its thread: ``after`` (every reply
    up to this ts was read, so the next sweep reads only later ones) and ``stuck`` (sweeps that read nothing new).
    Slack's history limits allow one read a minute, so one sweep may read only part of a busy thread. On Teams,
    ``author``: the name the post shows (Teams gives it only with the dialog's Save), sealed, for the clock's post."""
    return _key(ws, "share-search", rid)


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


def teams_conversations(ws: Workspace) -> str:
    """Hash: a Teams tenant's conversation references (conversation id -> JSON: serviceUrl, team, channel,
    scope), written when the bot is added to a team or a personal chat; removed with the tenant (purge)."""
    return _key(ws, "teams", "conversations")


def teams_paused(ws: Workspace) -> str:
    """Set: the ids of a Teams tenant's teams deleted in Teams (``teamDeleted``: restorable for 30 days), whose
    channels the bot posts nothing to until ``teamRestored``; their install, references and data are kept. Removed
    with the team (``teamHardDeleted``, the app's removal) and the tenant (purge)."""
    return _key(ws, "teams", "paused")


def teams_installs(ws: Workspace) -> str:
    """Set: where a Teams tenant has the app installed ("team:<team id>", "personal:<chat id>"), apart from the
    references (``teams_conversations``) so that only Teams' install and removal activities write it: a mention
    racing the app's removal may rewrite a reference, never an install. Removed with the tenant (purge)."""
    return _key(ws, "teams", "installs")


def teams_shared(ws: Workspace, reflection: str) -> str:
    """String: the exactly-once claim (``bot.once``) of one shared reflection's post in its weekly post's Teams
    thread (the Reflect dialog's "Share in the thread"), so a second Save of the same dialog posts nothing. Goes
    with the tenant (purge)."""
    return _key(ws, "teams", "shared", reflection)


def teams_welcome(ws: Workspace, conversation: str) -> str:
    """String: the exactly-once claim (``bot.once``) of the welcome card in one Teams conversation (a team's
    channel or a personal chat), so adding the app twice, or a redelivered install, welcomes once. Goes with
    the tenant (purge): a later install after removal is welcomed again."""
    return _key(ws, "teams", "welcome", conversation)


def teams_posts(ws: Workspace, channel: str) -> str:
    """Hash: the marker key of each post the bot made in a Teams channel -> its activity id, written when the
    Bot Connector answers (``bot.teams.delivery``); its first look before asking Graph. Expires with attempts."""
    return _key(ws, "teams", "posts", channel)


def teams_download(link: str) -> str:
    """String: what a Teams download link resolves to (JSON: kind, tenant, user), while the link lives
    (``bot.teams.downloads``). ``link`` is the SHA-256 of the link's token (``downloads.link_id``), never the
    token: a Redis dump holds no working link. Global, because the link's URL names no tenant; ids, no words."""
    return f"{GLOBAL}:teams:download:{link}"


def teams_downloads(ws: Workspace) -> str:
    """Set: the tenant's download links (the SHA-256 of each token, as ``teams_download`` names them), so a purge of the tenant can find those global
    keys and delete them with the rest (a token names its tenant and, for an export, a person)."""
    return _key(ws, "teams", "downloads")


def teams_chart(ws: Workspace, link: str) -> str:
    """String: a digest chart's PNG served at its Teams link until the link expires; purged with the tenant.
    ``link``: the SHA-256 of the link's token, as for ``teams_download``."""
    return _key(ws, "teams", "chart", link)


INSTALLATIONS = f"{GLOBAL}:installations"  # hash: workspace tag -> JSON summary, for the clock and the CLI
PURGE_PENDING = f"{GLOBAL}:purge-pending"  # workspace entries of workspaces whose purge has not finished
# Sorted set: workspace entry -> when its purge began (epoch seconds). No personal data: ids and a time. A restore
# (``bot.storage.backup``) leaves out every workspace purged after its backup was taken, so a pre-purge backup
# cannot bring an uninstalled organisation's data back. Entries older than PURGED_SECONDS are trimmed on write.
PURGED = f"{GLOBAL}:purged"
PURGED_SECONDS = 400 * 24 * 3600  # longer than any backup should be kept (see PRIVACY.md)


def purge_fence(ws: Workspace) -> str:
    """The id of the purge under way for a workspace (or org). A purge deletes a key only while this still
    holds its id, checked atomically in the workspace's slot: a reinstall deletes it, so nothing written
    after the reinstall can be touched by a purge of the uninstall before it."""
    return _key(ws, "purging")
OAUTH_STATE_TTL = 600


# ----- encryption at rest (bot.storage.crypto) -------------------------------------------------------------
def data_key(ws: Workspace) -> str:
    """The workspace's data key, wrapped by the master key: a purge deletes it first, so whatever is left of
    the workspace's sealed values (in a backup, say) cannot be read any more."""
    return _key(ws, "datakey")


def data_key_old(ws: Workspace) -> str:
    """The workspace's previous data key (wrapped by the master key) while ``scr-bot keys rotate --data-keys``
    re-encrypts its values under the new one: readers open a value with whichever key its id names. Deleted
    when the sweep ends, and by a purge (with ``data_key``, first)."""
    return _key(ws, "datakey:old")


DATA_KEY_PATTERN = f"{PREFIX}:{{*}}:datakey"  # every workspace's data key (``scr-bot keys rotate``)
DATA_KEY_OLD_PATTERN = f"{PREFIX}:{{*}}:datakey:old"  # data keys being rotated away (``keys rotate --data-keys``)
# A data-key rotation under way (``scr-bot keys rotate --data-keys``): hash, ``started_at`` and one ``done:<tag>``
# field per workspace finished, so a run that was killed resumes rather than starting over; deleted at the end.
DATA_KEY_ROTATION = f"{GLOBAL}:datakey-rotation"
# Keys whose values are sealed (tokens, reflections, held replies, agreed actions): where ``keys rotate`` looks
# for plaintext an older version wrote, and what ``keys rotate --data-keys`` re-encrypts. Keep in step with the
# stores that seal (``Vault.seal`` callers).
SEALED_PATTERNS = (f"{PREFIX}:{{*}}:install:bot", f"{PREFIX}:{{*}}:install:installer*",
                   f"{PREFIX}:{{*}}:refl:*", f"{PREFIX}:{{*}}:refl-edit:*", f"{PREFIX}:{{*}}:thread-pending:*",
                   f"{PREFIX}:{{*}}:action:*")  # fmt: skip


def is_sealed(key: str) -> bool:
    """Whether the values under ``key`` are sealed by ``bot.storage.crypto`` (one of ``SEALED_PATTERNS``)."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in SEALED_PATTERNS)


def workspace_of(key: str) -> Workspace | None:
    """The tenant whose tag a current-layout key carries (``scr:{P:E:T}:...``), or None for a global key."""
    if not key.startswith(PREFIX + ":{"):
        return None
    tag, brace, _ = key[len(PREFIX) + 2:].partition("}")
    parts = tag.split(":")
    if not brace or len(parts) != 3:
        return None
    platform, enterprise, team = parts
    try:
        return Workspace(team, None if enterprise == "-" else enterprise, platform)
    except ValueError:
        return None


def reflection_tombstone(ws: Workspace, rid: str) -> str:
    """Set (``TOMBSTONE_SECONDS``) when a reflection's message is deleted: a late copy is not stored again."""
    return _key(ws, "refl-deleted", rid)


EDIT_ASIDE_SECONDS = TOMBSTONE_SECONDS  # an edit kept aside waits as long as a late original is still accepted


def reflection_edit_aside(ws: Workspace, user: str, rid: str) -> str:
    """Teams: ``user``'s newest edit of reply ``rid``, kept aside (sealed, ``EDIT_ASIDE_SECONDS``) while the
    reply is stored provisionally under someone else; applied if newer when ``user``'s own message arrives."""
    return _key(ws, "refl-edit", user, rid)


def reflection_edits_aside_pattern(ws: Workspace, user: str) -> str:
    """Every edit of ``user``'s kept aside (``reflection_edit_aside``): "forget me" deletes them."""
    return _key(ws, "refl-edit", re.sub(r"([*?\[\]\\])", r"\\\1", user), "m-*")


def forgotten(ws: Workspace, user: str) -> str:
    """When a person last used "forget me" (epoch seconds, ``TOMBSTONE_SECONDS``): late copies of messages
    they wrote before it are not stored again."""
    return _key(ws, "refl-forgotten", user)


# ----- knowledge checks (bot.learning.quiz) ------------------------------------------------------------------
QUIZ_DAY_SECONDS = 2 * DAY  # the one-a-day claim outlives its day, whatever the time zone
QUIZ_ATTEMPT_SECONDS = 30 * DAY  # a send of unknown outcome waits for the person's next quiz day, weeks at most
QUIZ_AGGREGATE_SECONDS = 400 * DAY  # long enough for a year of monthly digests
QUIZ_WORKSPACES = f"{GLOBAL}:quiz-workspaces"  # workspace entries, so the clock can find opted-in people


def quiz_people(ws: Workspace) -> str:
    return _key(ws, "quiz", "people")


def quiz_cards(ws: Workspace, user: str) -> str:
    return _key(ws, "quiz", "cards", user)


def quiz_answers(ws: Workspace, user: str) -> str:
    return _key(ws, "quiz", "answers", user)


def quiz_day(ws: Workspace, user: str, day: str) -> str:
    return _key(ws, "quiz", "day", user, day)


def quiz_attempt(ws: Workspace, user: str) -> str:
    """The knowledge check being sent to ``user`` (recorded before the send), until its outcome is known."""
    return _key(ws, "quiz", "attempt", user)


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
    """A tenant as a member of a global index: ``platform|enterprise or -|team``."""
    return f"{ws.platform}|{ws.enterprise_id or '-'}|{ws.team_id}"


def org_entry_prefix(ws: Workspace) -> str:
    """What every index entry of the tenant's whole org starts with (for an org-wide purge)."""
    return f"{ws.platform}|{ws.enterprise_id or '-'}|"


def parse_workspace_entry(entry: str) -> Workspace:
    """The inverse of ``workspace_entry``; an older version's ``enterprise|team`` is a Slack workspace."""
    parts = entry.split("|")
    if len(parts) == 3:
        platform, enterprise, team = parts
    elif len(parts) == 2:
        (enterprise, team), platform = parts, "slack"
    else:
        raise ValueError(f"not a workspace entry: {entry!r}")
    return Workspace(team, None if enterprise == "-" else enterprise, platform)


def oauth_state(state: str) -> str:
    """An OAuth ``state``: global (no workspace yet), its own hash tag so states spread across a Cluster."""
    return f"{PREFIX}:{{_oauth}}:state:{state}"


def workspace_pattern(ws: Workspace) -> str:
    """A SCAN pattern matching every key of the workspace (all in one slot)."""
    return f"{ws.tag}:*"


def org_pattern(enterprise_id: str, platform: str = "slack") -> str:
    """A SCAN pattern matching every key of every workspace of an Enterprise Grid org (many slots)."""
    return f"{PREFIX}:{{{platform}:{enterprise_id}:*"


# ----- the learning lead's digest (bot.learning.digest_sender) ------------------------------------------------
DIGEST_CLAIM_SECONDS = 40 * DAY  # the once-a-month claim outlives its month's first week


def digest_readers(ws: Workspace) -> str:
    """The workspace's digest readers (``/scr digest add``): each gets the monthly digest of every channel of
    the workspace. Under the workspace's tag, so only that workspace's commands read or change it."""
    return _key(ws, "digest", "readers")


# Layout 3 kept readers per channel (``digest:readers:<channel>``); ``migrate`` merges each such set into its
# workspace's ``digest_readers`` (layout 4). Only the migration looks for them.
CHANNEL_READERS_PATTERN = f"{PREFIX}:{{*}}:digest:readers:*"


def channel_readers_workspace(key: str) -> Workspace | None:
    """The workspace whose layout-3 per-channel reader set ``key`` is, or None if it is not one."""
    ws = workspace_of(key)
    if ws is None:
        return None
    prefix = digest_readers(ws) + ":"
    rest = key[len(prefix):] if key.startswith(prefix) else ""
    return ws if rest and ":" not in rest else None


def digest_claim(ws: Workspace, channel: str, month: str, user: str) -> str:
    return _key(ws, "digest", "sent", channel, month, user)


# ----- who may change what, and the record of changes (bot.storage.roles) -------------------------------------
AUDIT_SECONDS = 400 * DAY  # a year of changes and a margin, for a partnership's annual review
AUDIT_MAX_ENTRIES = 2000  # a busy workspace's trail stays small; the oldest go first


def admins(ws: Workspace) -> str:
    """The workspace's own list of the bot's admins (``/scr admins add``)."""
    return _key(ws, "admins")


def audit(ws: Workspace) -> str:
    """The workspace's audit trail of schedule, digest-reader and admin-list changes."""
    return _key(ws, "audit")


# ----- briefing sessions and their actions (bot.briefings.sessions, bot.briefings.followup) ---------------------
SESSION_WORKSPACES = f"{GLOBAL}:session-workspaces"  # workspace entries with sessions, so the clock can find them
SESSION_QUESTIONS_DAYS = 91  # "three months after the session": the facilitator's standing questions


def session(ws: Workspace, channel: str, ts: str) -> str:
    """A briefing run in a channel (its post's ts): theme, title, facilitator, when."""
    return _key(ws, "session", channel, ts)


def session_attended(ws: Workspace, channel: str, ts: str) -> str:
    """The user ids of who was there ("I was there", or ticked in by the facilitator)."""
    return _key(ws, "session", channel, ts, "attended")


def session_actions(ws: Workspace, channel: str, ts: str) -> str:
    """The ids of the actions agreed at a session."""
    return _key(ws, "session", channel, ts, "actions")


def sessions_index(ws: Workspace) -> str:
    """Every session (``<channel>:<ts>``) by when it ran: the digest's months and the three-month questions."""
    return _key(ws, "sessions")


def sessions_questions_due(ws: Workspace) -> str:
    """Sessions whose three-month questions are not yet sent, scored by when they are due."""
    return _key(ws, "sessions-questions-due")


def sessions_of_user(ws: Workspace, user: str) -> str:
    """Sessions a person attended (their CPD record; "forget me" takes them out of each)."""
    return _key(ws, "sessions-user", user)


def action(ws: Workspace, action_id: str) -> str:
    """One agreed action: what, owner, due date, session, and its follow-up state and answer. Sealed
    (``bot.storage.crypto``): its words are a team's and a person's (``SEALED_PATTERNS``)."""
    return _key(ws, "action", action_id)


def actions_of_owner(ws: Workspace, user: str) -> str:
    """The ids of the actions a person owns (App Home, CPD export, "forget me")."""
    return _key(ws, "actions-owner", user)


def actions_due(ws: Workspace) -> str:
    """Actions still waiting for their follow-up, scored by their due date: what the clock's sweep reads."""
    return _key(ws, "actions-due")


def followup_claim(ws: Workspace, action_id: str, stage: str) -> str:
    """The once-only claim on an action's follow-up DM (``due`` or ``reminder``)."""
    return _key(ws, "followup", action_id, stage)


BRIEFING_RUN_CLAIM_SECONDS = 7 * DAY  # a preview left open longer is run again as a new session


def briefing_run_claim(ws: Workspace, channel: str, preview: str) -> str:
    """Held (``SET NX``) by the one click that runs a briefing preview in its channel: a double-click on "Run
    in channel" posts the briefing and records the session once. Released when the post definitely failed."""
    return _key(ws, "briefing-run", channel, preview)


def questions_claim(ws: Workspace, channel: str, ts: str) -> str:
    """The once-only claim on a session's three-month questions to its facilitator."""
    return _key(ws, "questions", channel, ts)


# ----- a workspace's own settings, and its people's time zones (bot.storage.wssettings) -----------------------
PERSON_TZ_SECONDS = DAY  # a person's Slack time zone, asked again the next day (they may have travelled)


def workspace_settings(ws: Workspace) -> str:
    """The workspace's settings (``/scr settings``): time zone, hours, days, bank holidays, contact line."""
    return _key(ws, "settings")


def person_tz(ws: Workspace, user: str) -> str:
    """A person's time zone as Slack reports it (``users.info`` ``tz``), cached for ``PERSON_TZ_SECONDS``."""
    return _key(ws, "tz", user)


# ----- writing with lifetimes ----------------------------------------------------------------------
def post_epoch(ts: str) -> float:
    """When a post was made, in epoch seconds, from its id: Slack's ts is epoch seconds ("1700000000.123456");
    a Teams channel message's id is epoch milliseconds ("1700000000123")."""
    whole = float(ts.split(".")[0])
    return whole / 1000 if whole >= 10**11 else whole


def record_weekly_post(pipe: Any, ws: Workspace, schedule_id: str, channel: str, ts: str, record: str,
                       status: dict[str, str], retention: int) -> None:  # fmt: skip
    """Queue on ``pipe`` everything a weekly post leaves behind, each with its lifetime."""
    posted_at = post_epoch(ts)
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


# ----- migration from older layouts ---------------------------------------------------------------
# Layout 1: ``scr:<E or ->:<T>:...`` and ``scr:_:...`` (no hash tag). Layout 2: ``scr:{E:T}:...`` (no platform).
# Layout 3: ``scr:{slack:E:T}:...``, and platform-qualified index entries. Layout 4, the current one: as 3, with
# digest readers kept per workspace (``digest:readers``) rather than per channel (``digest:readers:<channel>``).
LAYOUT_VERSION = 4
LAYOUT = f"{GLOBAL}:layout"  # the layout version this Redis holds, set when a migration has finished
LAYOUT_LOCK = f"{GLOBAL}:layout-lock"  # held (briefly, refreshed per batch) by the one process migrating
LAYOUT_LOCK_SECONDS = 30  # a migrator that dies frees the lock this soon
MIGRATION_WAIT_SECONDS = 120  # how long a start-up waits for another process's migration before giving up
INDEXES = (SUBSCRIPTIONS, QUIZ_WORKSPACES, SESSION_WORKSPACES, PURGE_PENDING, INSTALLATIONS, SHARE_WORKSPACES)  # global keys whose members are entries

_REFRESH = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Merge one channel's reader set into its workspace's and delete it, atomically: both keys carry the same hash
# tag (one Cluster slot), so a crash leaves either both as they were or the merge done, and a rerun (or a second
# process) finds nothing left to merge. SUNIONSTORE, not SMEMBERS + SADD: no Lua stack limit on a big set.
_MERGE_READERS = ("local t = redis.call('TYPE', KEYS[2]).ok if t == 'none' then return 0 end "
                  "if t ~= 'set' then return -1 end "
                  "redis.call('SUNIONSTORE', KEYS[1], KEYS[1], KEYS[2]) redis.call('DEL', KEYS[2]) return 1")


def legacy_name(key: str) -> str | None:
    """The previous layout's name of a current Slack key (``scr:{slack:E:T}:x`` -> ``scr:{E:T}:x``), for
    recognising key strings an older version embedded in Slack messages' metadata."""
    if not key.startswith(PREFIX + ":{"):
        return None
    tag, _, rest = key[len(PREFIX) + 2:].partition("}")
    platform, _, ids = tag.partition(":")
    if platform != "slack" or ids.count(":") != 1:
        return None
    return f"{PREFIX}:{{{ids}}}{rest}"


def new_name(old: str) -> str | None:
    """The current name for a key in an older layout (1 or 2, see above), or None if it is not one."""
    if not old.startswith(PREFIX + ":"):
        return None
    rest = old[len(PREFIX) + 1:]
    if rest.startswith("{"):  # layout 2 (two ids in the tag) or current (three) or global (one)
        tag, brace, tail = rest[1:].partition("}")
        if not brace or tag.count(":") != 1 or not all(tag.split(":")):
            return None
        return f"{PREFIX}:{{slack:{tag}}}{tail}"
    if rest.startswith("_:"):
        return f"{GLOBAL}:{rest[2:]}"
    parts = rest.split(":", 2)
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return None
    enterprise, team, tail = parts
    return f"{PREFIX}:{{slack:{enterprise}:{team}}}:{tail}"


@dataclass(frozen=True)
class Migration:
    """What one ``migrate`` call did: keys moved, keys dropped because their new name already held data,
    index entries rewritten, per-channel digest reader sets merged into their workspace's, and whether it had
    nothing to do (the marker said the layout is current)."""

    moved: int = 0
    kept: int = 0
    entries: int = 0
    current: bool = False
    readers: int = 0


def migrate(client: redis.Redis, batch: int = 500, wait: float = MIGRATION_WAIT_SECONDS,
            lock_seconds: int = LAYOUT_LOCK_SECONDS) -> Migration:  # fmt: skip
    """Bring keys and global index entries written by an older version to the current layout, once.

    At a start-up after the migration finished it reads one key (``LAYOUT``) and nothing else: no SCAN.
    Otherwise one process takes ``LAYOUT_LOCK`` and migrates while any other waits (up to ``wait``
    seconds, then ``TimeoutError``) for the marker, so two starts never interleave their work.

    Every key moves by DUMP + PTTL, RESTORE under the new name, then DEL of the old one: the new name
    carries a new hash tag, so on a Redis Cluster it usually lives in another slot, where RENAME fails
    with CROSSSLOT (redis-py's cluster client routes each RESTORE to the new key's node). Each primary is
    scanned in turn, ``batch`` keys at a time. A crash anywhere leaves a state a rerun completes: a key
    restored but not yet deleted meets BUSYKEY (RESTORE never replaces), so the new copy is kept and the
    old deleted; index entries are added in the new form before the old form is removed. Last, each
    per-channel digest reader set (layout 3) is merged into its workspace's set and deleted, one atomic script
    per set (both in the workspace's slot)."""
    if client.get(LAYOUT) == str(LAYOUT_VERSION):
        return Migration(current=True)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not client.set(LAYOUT_LOCK, token, nx=True, px=lock_seconds * 1000):
        if client.get(LAYOUT) == str(LAYOUT_VERSION):
            return Migration(current=True)  # another process finished it while this one waited
        if time.monotonic() > deadline:
            raise TimeoutError(f"another process has held {LAYOUT_LOCK} for over {wait:.0f} s")
        time.sleep(0.1)
    try:
        if client.get(LAYOUT) == str(LAYOUT_VERSION):
            return Migration(current=True)
        moved = kept = 0
        for old_keys in _old_key_batches(client, batch):
            m, k = _move(client, old_keys)
            moved, kept = moved + m, kept + k
            client.eval(_REFRESH, 1, LAYOUT_LOCK, token, lock_seconds * 1000)
        entries = sum(_rewrite_index(client, index, batch) for index in INDEXES)
        readers = 0
        for found in _scan_batches(client, CHANNEL_READERS_PATTERN, batch):
            readers += _merge_channel_readers(client, found)
            client.eval(_REFRESH, 1, LAYOUT_LOCK, token, lock_seconds * 1000)
        client.set(LAYOUT, str(LAYOUT_VERSION))
    finally:
        client.eval(_RELEASE, 1, LAYOUT_LOCK, token)
    if moved or kept or entries or readers:
        log.info("Redis layout %d: moved %d key(s), dropped %d older duplicate(s), rewrote %d index entries, "
                 "merged %d channel digest reader list(s) into their workspace's",
                 LAYOUT_VERSION, moved, kept, entries, readers)  # fmt: skip
    return Migration(moved, kept, entries, readers=readers)


def _old_key_batches(client: Any, batch: int) -> Iterator[list[str]]:
    """Keys in an older layout, ``batch`` at a time, from each primary (the one server if not a Cluster)."""
    nodes = client.get_primaries() if hasattr(client, "get_primaries") else [None]
    for node in nodes:
        target = {} if node is None else {"target_nodes": node}
        found: list[str] = []
        for key in client.scan_iter(match=f"{PREFIX}:*", count=batch, **target):
            key = key.decode() if isinstance(key, bytes) else key
            if new_name(key) is not None:
                found.append(key)
            if len(found) >= batch:
                yield found
                found = []
        if found:
            yield found


def _scan_batches(client: Any, match: str, batch: int) -> Iterator[list[str]]:
    """Keys matching ``match``, ``batch`` at a time, from each primary (the one server if not a Cluster)."""
    nodes = client.get_primaries() if hasattr(client, "get_primaries") else [None]
    for node in nodes:
        target = {} if node is None else {"target_nodes": node}
        found: list[str] = []
        for key in client.scan_iter(match=match, count=batch, **target):
            found.append(key.decode() if isinstance(key, bytes) else key)
            if len(found) >= batch:
                yield found
                found = []
        if found:
            yield found


def _merge_channel_readers(client: Any, found: list[str]) -> int:
    """Merge each layout-3 per-channel digest reader set in ``found`` into its workspace's set; how many."""
    merged = 0
    for key in found:
        ws = channel_readers_workspace(key)
        if ws is None:
            continue
        outcome = client.eval(_MERGE_READERS, 2, digest_readers(ws), key)
        if outcome == 1:
            merged += 1
        elif outcome == -1:
            log.warning("key %s is not a set of digest readers; left as it is", key)
    return merged


def _move(client: Any, old_keys: list[str]) -> tuple[int, int]:
    """Move one batch; (moved, dropped because the new name existed)."""
    with client.pipeline(transaction=False) as pipe:
        for key in old_keys:
            pipe.dump(key)
            pipe.pttl(key)
        dumped = pipe.execute()
    present = [(key, dumped[2 * i], int(dumped[2 * i + 1])) for i, key in enumerate(old_keys)
               if dumped[2 * i] is not None and int(dumped[2 * i + 1]) != -2]  # fmt: skip
    with client.pipeline(transaction=False) as pipe:
        for key, value, ttl in present:
            pipe.restore(new_name(key), 0 if ttl == -1 else max(ttl, 1), value)  # 0 would mean "never expires"
        restored = pipe.execute(raise_on_error=False)
    moved = kept = 0
    for (key, _, _), outcome in zip(present, restored, strict=True):
        if not isinstance(outcome, Exception):
            moved += 1
        elif "BUSYKEY" in str(outcome):
            kept += 1
            new = new_name(key)
            assert new is not None
            if new in INDEXES:
                _merge_index(client, key, new)  # both names hold entries: keep them all
            else:
                log.warning("key %s dropped: %s already exists (kept)", key, new)
        else:
            raise outcome
    with client.pipeline(transaction=False) as pipe:
        for key, _, _ in present:
            pipe.delete(key)  # one key per DEL: the old keys of a batch span slots
        pipe.execute()
    return moved, kept


def _merge_index(client: Any, old: str, new: str) -> None:
    """Copy an old copy of a global index's members into the current one (which wins on a clash)."""
    if client.type(old) == "hash":
        for field, value in client.hgetall(old).items():
            client.hsetnx(new, field, value)
    else:
        members = client.smembers(old)
        if members:
            client.sadd(new, *members)


def _rewrite_index(client: Any, index: str, batch: int) -> int:
    """Rewrite an index's members written by an older version to the current entry form; how many."""
    is_hash = client.type(index) == "hash"
    members = client.hscan_iter(index, count=batch) if is_hash else client.sscan_iter(index, count=batch)
    rewritten = 0
    for item in list(members):
        entry, value = item if is_hash else (item, None)
        try:
            if index == SUBSCRIPTIONS:
                current = subscription_entry(*parse_subscription_entry(entry))
            else:
                current = workspace_entry(parse_workspace_entry(entry))
        except ValueError:
            log.warning("index %s: entry %r is not one the bot writes; left as it is", index, entry)
            continue
        if current == entry:
            continue
        if is_hash:
            client.hsetnx(index, current, value)  # the new form first: a crash here loses nothing
            client.hdel(index, entry)
        else:
            client.sadd(index, current)
            client.srem(index, entry)
        rewritten += 1
    return rewritten
