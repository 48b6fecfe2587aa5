"""The Reflect dialog: a private reflection on the weekly post's point, from Teams (``bot.teams.dialogs``).

``task/fetch`` (the post's Reflect pressed) opens the form; ``task/submit`` (its Save) stores the reflection
through the same core as Slack's Reflect form: the words masked (``bot.reflections.masking``), the live-concern
safety net (``bot.search.safety.classify``: the person is told where to take it), stored private in the
person's record (``ReflectionStore``). Both are answered in the HTTP response, with Redis only.

Saved once: the reflection's id is made from the person and the dialog's random id (given when the form was
opened), and the store adds an id once, so a double press of Save, a retried invoke or two processes store
one reflection. The thread named in the form is trusted only as far as it is checked: it must be one of this
tenant's weekly posts, else the reflection is kept without it (private either way).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

import redis

from bot.handlers.teams.threads import thread_of
from bot.reflections.masking import mask
from bot.reflections.store import MODAL, PRIVATE, Reflection, view_id
from bot.search.safety import classify
from bot.services import Services
from bot.storage.keys import Workspace
from bot.teams import cards, dialogs

log = logging.getLogger(__name__)
FETCH, SUBMIT = "task/fetch", "task/submit"

EMPTY = "Write a few words about what stood out for you."
GONE = "Sorry, that learning point is no longer available."
SAVE_FAILED = ("I couldn't save your reflection just now (my storage is unavailable). Your words are still here: "
               "please press Save again in a minute.")  # fmt: skip
SAVED = "Saved to your record. Only you see it; type export in my chat for your CPD record."


def _typed(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def _reflection_id(user: str, dialog: str) -> str:
    """The same for every Save of one dialog by one person; another person cannot name someone else's."""
    return view_id("teams-" + hashlib.sha256(f"{user}\n{dialog}".encode()).hexdigest()[:32])


class TeamsReflect:
    def __init__(self, services: Services):
        self.services = services

    def fetch(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The Reflect button pressed: the form, for the point the button names."""
        data = (activity.get("value") or {}).get("data") or {}
        point = self.services.corpus.point(str(data.get("point") or ""))
        if data.get("scr") != cards.VERB_REFLECT or point is None:
            return 200, dialogs.done(GONE)
        where = thread_of(activity)
        return 200, dialogs.dialog(dialogs.form(self.services.corpus, point, dialog=secrets.token_urlsafe(16),
                                                channel=where[0] if where else None,
                                                thread=where[1] if where else None))  # fmt: skip

    def submit(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Save pressed: stored once, private; the form again (words kept) when something is missing."""
        data = (activity.get("value") or {}).get("data") or {}
        user = str((activity.get("from") or {}).get("id") or "")
        corpus = self.services.corpus
        point = corpus.point(str(data.get("point") or ""))
        dialog = str(data.get("dialog") or "")
        if data.get("scr") != dialogs.VERB_SAVE or point is None or not dialog or not user:
            return 200, dialogs.done(GONE)
        channel, thread = str(data.get("channel") or "") or None, str(data.get("thread") or "") or None
        typed = {name: _typed(data, name) for name in dialogs.FIELDS}
        minutes = str(data.get("minutes") or dialogs.DEFAULT_MINUTES)
        if not minutes.isdigit() or int(minutes) not in dialogs.MINUTES:
            minutes = str(dialogs.DEFAULT_MINUTES)

        def again(error: str) -> tuple[int, dict[str, Any]]:
            return 200, dialogs.dialog(dialogs.form(corpus, point, dialog=dialog, channel=channel, thread=thread,
                                                    values={**typed, "minutes": minutes}, error=error))  # fmt: skip

        if not typed["stood_out"]:
            return again(EMPTY)
        live = classify("\n".join(typed.values())) if corpus.safety else None
        if live:
            log.info("a Teams Reflect form reads as a live concern (%s); kept private as every dialog is", live.cue)
        fields = {name: mask(value[:dialogs.FIELD_LIMIT]) for name, value in typed.items()}
        now = time.time()
        store = self.services.reflections
        refl = Reflection(id=_reflection_id(user, dialog), user=user, point=point.id, kind=MODAL, visibility=PRIVATE,
                          created_at=now, updated_at=now, stood_out=fields["stood_out"].text,
                          practice=fields["practice"].text, action=fields["action"].text[:dialogs.ACTION_LIMIT],
                          minutes=int(minutes), masked=sorted({k for m in fields.values() for k in m.found}))  # fmt: skip
        try:
            post = store.thread_record(ws, channel, thread) if channel and thread else None
            if post is not None:  # one of this tenant's weekly posts: the reflection belongs to its week
                refl.channel, refl.thread_ts, refl.week = channel, thread, post.get("week")
            created = store.add(ws, refl)
        except redis.RedisError:
            log.error("could not store a Teams reflection: Redis unavailable")
            return again(SAVE_FAILED)
        log.info("teams: a private reflection %s", "saved" if created else "already saved (same dialog)")
        notes = [SAVED]
        if any(m.changed for m in fields.values()):
            explained = ", ".join(sorted({m.explanation() for m in fields.values() if m.changed}))
            notes.append(f"To keep it anonymous I removed {explained} before saving.")
        if live and corpus.safety is not None:
            contact = self.services.concern_contact(ws)
            notes.append(f"{corpus.safety.reflection_note} "
                         + (f"Who to contact here: {contact}" if contact else corpus.safety.no_contact))  # fmt: skip
        return 200, dialogs.done(" ".join(notes))
