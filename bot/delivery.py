"""The delivery port: the one small interface through which the core reaches a chat platform.

Why a port: the exactly-once protocol (``bot.once``), the weekly poster, the thread summary, knowledge
checks and the digest are the same whatever the platform; only how a message is shown and sent differs.
The core hands a :class:`Delivery` a neutral view (``bot.views``) and a :class:`Marker` it can later
recognise; each front end implements the port (Slack today: ``bot.slack.delivery``) and renders views its
own way. The core never imports a platform SDK.

Failures come back as the protocol's own two kinds, so the core never reads a platform's error codes:
``Permanent`` (the platform said no for good: not in the channel, not installed) and ``Transient``
(try again later; ``maybe_sent`` when the platform may have acted, so the caller must look before it
sends again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.once import Permanent, Transient, Unfinished
from bot.storage.keys import Workspace

__all__ = ["Deliveries", "Delivery", "FileToSend", "Found", "Marker", "Permanent", "Transient", "Unfinished", "Unreachable"]


class Unreachable(Permanent):
    """A person the platform will never let the bot message (left, deactivated, a bot): a ``Permanent`` no
    for them, not for this one send, so the caller stops asking them (an action is marked undeliverable)
    rather than trying again every hour for ever."""


@dataclass(frozen=True)
class Marker:
    """What makes a post recognisable later: its kind, its exactly-once key, and a payload to carry.

    ``also`` lists older names of the same key (a post made before a key-layout change still counts)."""

    kind: str
    key: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    also: tuple[str, ...] = ()

    def matches(self, kind: str | None, key: str | None) -> bool:
        return kind == self.kind and key is not None and key in (self.key, *self.also)


@dataclass(frozen=True)
class Found:
    """A post the bot made earlier, found again: its id on the platform and the payload it carried."""

    id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class FileToSend:
    """A file for one person (the digest's chart), with the message that goes with it."""

    filename: str
    content: bytes
    title: str
    comment: str


class Delivery(Protocol):
    """One tenant's way out to its chat platform. Every method may raise ``Permanent`` or ``Transient``."""

    def post(self, channel: str, view: Any, *, marker: Marker | None = None, thread: str | None = None) -> str:
        """Post ``view`` to ``channel`` (in ``thread`` when given), carrying ``marker``; the post's id."""

    def find_post(self, channel: str, marker: Marker, *, oldest: datetime, latest: datetime,
                  progress: Mapping[str, Any] | None = None) -> Found | None:  # fmt: skip
        """The post carrying ``marker`` made in ``channel`` between ``oldest`` and ``latest``, if any.

        Only that window is read, so the cost is bounded by the window, not by the channel's traffic. A window
        too big to read within one call's budget raises ``Unfinished`` with its ``progress``; passing that
        back resumes the search where it stopped."""

    def find_reply(self, channel: str, thread: str, marker: Marker, *, oldest: datetime | None = None,
                   latest: datetime | None = None) -> Found | None:  # fmt: skip
        """The reply carrying ``marker`` in ``thread`` (posted between ``oldest`` and ``latest`` when given), if
        any. Read in bounded pages: more than one search reads raises ``Transient`` rather than "not there"."""

    def dm(self, user: str, view: Any, *, marker: Marker | None = None) -> str:
        """Send ``view`` to ``user`` privately (carrying ``marker`` when given); the message's id. Opening the
        conversation sends nothing, so a failure there is never ``maybe_sent``."""

    def find_dm(self, user: str, marker: Marker, *, oldest: datetime, latest: datetime) -> Found | None:
        """The DM to ``user`` carrying ``marker`` sent between ``oldest`` and ``latest``, if any (``find_post`` in
        the person's DM): how a follow-up whose answer was lost is recognised rather than sent twice."""

    def send_file(self, user: str, file: FileToSend) -> None:
        """Send ``file`` to ``user`` privately."""

    def is_member(self, user: str, channel: str) -> bool:
        """Whether ``user`` is in ``channel`` (a shared reflection goes only where its author is)."""

    def timezone(self, user: str) -> str | None:
        """``user``'s own time zone (an IANA name) as the platform knows it, or None: knowledge checks arrive
        in a person's working day, not the team's. Asked by the clock (and cached), never on a request path."""


# The tenant's delivery, looked up per workspace (distributed mode: its own token). Raises
# ``Permanent("not_installed")`` for a workspace that has no way in (never installed, uninstalled).
Deliveries = Callable[[Workspace], Delivery]
