"""A reply in a weekly post's thread, filed as a reflection: the one path every platform's thread replies take.

Why here, not in a front end: masking, the live-concern safety net, holding replies to a post whose answer
was lost, and the newest-version-wins rule for edits arriving in any order are what a reflection *is*; a
Slack reply and a Teams reply differ only in how their ids, times and text are read. Each front end turns
its event into a :class:`ThreadReply` and tells its author what :class:`Filed` says, in its own way.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.reflections.masking import mask
from bot.reflections.store import PRIVATE, SHARED, THREAD, Reflection, ReflectionStore, cap, message_id
from bot.search.safety import Verdict, classify
from bot.storage.keys import Workspace


@dataclass(frozen=True)
class ThreadReply:
    """One version of a reply: where (``channel``, the weekly post ``thread`` it answers), which message, whose
    words, when the message was written (``created_at``) and which version this is (``version``: the
    message's own time, or its edit's; newer wins)."""

    channel: str
    thread: str
    message: str
    user: str
    text: str
    created_at: float
    version: float
    # An edit, not the message itself: on a platform where someone other than the author may send one (Teams),
    # an edit that arrives first is stored provisionally, until the message says whose the reply is.
    edit: bool = False


@dataclass(frozen=True)
class Filed:
    """What filing did: the store's outcome (``created``, ``updated``, ``withheld``, ``stale``, ``deleted``),
    what masking removed when the reply was first stored (for the author's private note; "" when nothing),
    and the live-concern verdict that should be told to its author now (None when nothing to tell)."""

    outcome: str
    masked: str
    live: Verdict | None


def file_reply(store: ReflectionStore, ws: Workspace, reply: ThreadReply, *, own_post: bool, safety: bool) -> Filed | None:
    """Store ``reply`` as a thread reflection, masked; None when it does not answer one of our weekly posts.

    ``own_post``: the platform says the thread's root is the bot's own message. Such a reply to a post not
    (yet) known as a weekly post is held (masked) until the post's recovery decides, rather than lost.
    ``safety``: the corpus has safety advice, so a reply that reads as a live concern about a particular
    child is kept private (never in the thread's counts) and its author is told once, when it first is."""
    post = store.thread_record(ws, reply.channel, reply.thread)
    held = post is None and own_post
    if post is None and not held:
        return None  # a reply to something other than a weekly post
    raw = cap(reply.text)
    masked = mask(raw)
    live = classify(raw) if safety else None
    refl = Reflection(
        id=message_id(reply.channel, reply.message), user=reply.user, point=(post or {}).get("point", ""), kind=THREAD,
        visibility=PRIVATE if live else SHARED, created_at=reply.created_at, updated_at=reply.created_at,
        channel=reply.channel, thread_ts=reply.thread, message_ts=reply.message, week=(post or {}).get("week"),
        text=masked.text, masked=sorted(masked.found), provisional=reply.edit,
    )  # fmt: skip
    if held:
        store.hold(ws, refl, reply.version)
        store.attach_held(ws, reply.channel, reply.thread)  # confirmed meanwhile: nothing is left waiting
        outcome = "created"
    else:  # Idempotent: a retried, duplicated or out-of-date delivery changes nothing.
        outcome = store.put_message(ws, refl, reply.version)
    # "Removed a name before saving it to your record" only where that is true: a held reply (under a post of ours
    # not known as a weekly post, maybe a lookup someone shared) is saved only if the post proves to be one.
    note = masked.explanation() if outcome == "created" and masked.changed and not held else ""
    # Told once: when it is first kept private (new, or an edit made it read as a live concern), not again for
    # each later edit or re-sent copy of a reply already kept private.
    return Filed(outcome, note, live if live and outcome in ("created", "withheld") else None)
