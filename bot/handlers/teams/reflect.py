"""The Reflect dialog: a private reflection on the weekly post's point, from Teams (``bot.teams.dialogs``).

``task/fetch`` (the post's Reflect pressed) opens the form; ``task/submit`` (its Save) stores the reflection
through the same core as Slack's Reflect form: the words masked (``bot.reflections.masking``), the live-concern
safety net (``bot.search.safety.classify``: the person is told where to take it), stored private in the
person's record (``ReflectionStore``). Both are answered in the HTTP response, with Redis only.

Saved once: the reflection's id is made from the person and the dialog's random id (given when the form was
opened), and the store adds an id once, so a double press of Save, a retried invoke or two processes store
one reflection. The thread named in the form is trusted only as far as it is checked: it must be one of this
tenant's weekly posts, else the reflection is kept without it, private.

"Share in the thread" (offered when the dialog was opened from a weekly post's thread, as Slack's form offers
it): the reflection is stored shared, so the thread's summary counts it, and posted as a reply in the thread
after the invoke is answered (``share``, run in a worker: no Connector call before the answer). The post goes
through the delivery port under the exactly-once protocol (``bot.once``, key ``keys.teams_shared``), so a second
Save of the same dialog, a retried invoke or two processes post it once; an answer lost on the way is looked for
(the port's record of its post, then Graph) before anything is posted again. Never shared: words that read as
a live concern (kept private, the person told, as on Slack), and a person Teams does not confirm is a member of
the channel's team (kept private, the person told in their personal chat).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis

from bot.delivery import Deliveries, Marker
from bot.handlers.teams.threads import thread_of
from bot.once import Once, Permanent, Transient
from bot.reflections.masking import mask
from bot.reflections.store import MODAL, PRIVATE, SHARED, Reflection, view_id
from bot.search.safety import classify
from bot.services import Services
from bot.storage import keys
from bot.storage.keys import Workspace
from bot.teams import cards, dialogs, shapes
from bot.teams.references import References

log = logging.getLogger(__name__)
NOT_A_MEMBER = "not_a_member"  # a share's Permanent error when Teams does not count its author in the team
FETCH, SUBMIT = "task/fetch", "task/submit"

EMPTY = "Write a few words about what stood out for you."
GONE = "Sorry, that learning point is no longer available."
SAVE_FAILED = ("I couldn't save your reflection just now (my storage is unavailable). Your words are still here: "
               "please press Save again in a minute.")  # fmt: skip
SAVED = "Saved to your record. Only you see it; type export in my chat for your CPD record."
SHARING = "Saved to your record, and I'm sharing it in the thread now (names and similar details masked)."
LIVE_KEPT_PRIVATE = "I haven't shared it in the thread: it reads as a concern about a child now, so it's kept private."
NOT_SHARED = ("I saved the reflection you chose to share in the weekly post's thread, but I didn't share it there: "
              "{why}. It's kept private (only you see it; type export here for your CPD record).")  # fmt: skip
POSTED, KEPT_PRIVATE, GONE_SHARE, BUSY, RETRY = "shared", "private", "gone", "busy", "retry"  # settle's outcomes
SHARED_KIND = "shared_reflection"  # the marker kind of a shared reflection's post in its thread
# A shared reflection's post is done for as long as a reflection is kept; past that the reflection is gone too.
SHARED_DONE_DAYS = 365  # as long as a reflection is kept by default: a Save after that finds no reflection to post


def _typed(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def _reflection_id(user: str, dialog: str) -> str:
    """The same for every Save of one dialog by one person; another person cannot name someone else's."""
    return view_id("teams-" + hashlib.sha256(f"{user}\n{dialog}".encode()).hexdigest()[:32])


class TeamsReflect:
    """``deliveries``: the tenant's way out (the delivery port); ``tell``: a note in a person's personal chat
    (``TeamsThreads.tell``), for a share that could not be made once the dialog is closed."""

    def __init__(self, services: Services, deliveries: Deliveries | None = None,
                 tell: Callable[[Workspace, str, str, str], None] | None = None):  # fmt: skip
        self.services = services
        self.deliveries = deliveries
        self.tell = tell

    def fetch(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The Reflect button pressed: the form, for the point the button names."""
        data = shapes.mapping(shapes.mapping(activity.get("value")).get("data"))  # a signed invoke of another shape: as empty
        point = self.services.corpus.point(str(data.get("point") or ""))
        if data.get("scr") != cards.VERB_REFLECT or point is None:
            return 200, dialogs.done(GONE)
        where = thread_of(activity)
        return 200, dialogs.dialog(dialogs.form(self.services.corpus, point, dialog=secrets.token_urlsafe(16),
                                                channel=where[0] if where else None,
                                                thread=where[1] if where else None))  # fmt: skip

    def submit(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Save pressed: stored once, private; the form again (words kept) when something is missing."""
        data = shapes.mapping(shapes.mapping(activity.get("value")).get("data"))  # a signed invoke of another shape: as empty
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
        chose_shared = data.get("visibility") == SHARED and bool(channel and thread)
        live = classify("\n".join(typed.values())) if corpus.safety else None
        if live:
            log.info("a Teams Reflect form reads as a live concern (%s); kept private", live.cue)
        fields = {name: mask(value[:dialogs.FIELD_LIMIT]) for name, value in typed.items()}
        now = time.time()
        store = self.services.reflections
        visibility = SHARED if chose_shared and not live else PRIVATE
        refl = Reflection(id=_reflection_id(user, dialog), user=user, point=point.id, kind=MODAL, visibility=visibility,
                          created_at=now, updated_at=now, stood_out=fields["stood_out"].text,
                          practice=fields["practice"].text, action=fields["action"].text[:dialogs.ACTION_LIMIT],
                          minutes=int(minutes), masked=sorted({k for m in fields.values() for k in m.found}))  # fmt: skip
        try:
            post = store.thread_record(ws, channel, thread) if channel and thread else None
            if post is not None:  # one of this tenant's weekly posts: the reflection belongs to its week
                refl.channel, refl.thread_ts, refl.week = channel, thread, post.get("week")
            else:  # not (or no longer) one of this tenant's weekly posts: never shared there
                refl.visibility = PRIVATE
            # A share's intent is written with it, before the invoke is answered: if this process dies before the
            # post reaches Teams, the clock finishes it (``finish_pending_shares``) once its grace has passed.
            shared = refl.visibility == SHARED
            created = store.add(ws, refl, share_pending=shared,
                                share_author=str((activity.get("from") or {}).get("name") or "") if shared else "")  # fmt: skip
        except redis.RedisError:
            log.error("could not store a Teams reflection: Redis unavailable")
            return again(SAVE_FAILED)
        log.info("teams: a %s reflection %s", refl.visibility, "saved" if created else "already saved (same dialog)")
        if not created:  # a second Save of this dialog: what was stored first is what counts, shared or not
            kept = store.get(ws, refl.id)
            refl.visibility = kept.visibility if kept is not None else refl.visibility
        notes = [SHARING if refl.shared else SAVED]
        if any(m.changed for m in fields.values()):
            explained = ", ".join(sorted({m.explanation() for m in fields.values() if m.changed}))
            notes.append(f"To keep it anonymous I removed {explained} before saving.")
        if live and corpus.safety is not None:
            contact = self.services.concern_contact(ws)
            if chose_shared:
                notes.append(LIVE_KEPT_PRIVATE)
            notes.append(f"{corpus.safety.reflection_note} "
                         + (f"Who to contact here: {contact}" if contact else corpus.safety.no_contact))  # fmt: skip
        return 200, dialogs.done(" ".join(notes))

    def share(self, ws: Workspace, activity: dict[str, Any], service_url: str) -> str | None:
        """After a ``task/submit`` was answered: post the reflection it saved as a reply in its weekly post's thread,
        once, if its author chose to share it. Returns how it went (None: nothing to share)."""
        data = shapes.mapping(shapes.mapping(activity.get("value")).get("data"))  # a signed invoke of another shape: as empty
        sender = activity.get("from") or {}
        user, dialog = str(sender.get("id") or ""), str(data.get("dialog") or "")
        if self.deliveries is None or data.get("scr") != dialogs.VERB_SAVE or not user or not dialog:
            return None
        store = self.services.reflections
        rid = _reflection_id(user, dialog)
        refl = store.get(ws, rid)
        if refl is None or not refl.shared or not refl.channel or not refl.thread_ts or refl.message_ts:
            return None  # private, never saved, or already posted (a second Save of the same dialog)
        if not store.claim_share(ws, rid, self.services.settings.pending_grace_seconds):
            return BUSY  # another process (a second Save's worker, or the clock) is on it
        return self.settle(ws, rid, service_url, author=str(sender.get("name") or ""))

    def settle(self, ws: Workspace, rid: str, service_url: str | None = None, author: str | None = None) -> str:
        """Post one shared reflection in its thread, at most once, and drop its intent once that is settled.

        The web process's worker calls this right after the invoke is answered; the clock
        (``finish_pending_shares``) for an intent older than the grace period, left by a process killed before it
        finished. Either way the post goes through ``bot.once``: a process killed after Teams posted left its
        attempt, so the next one looks for the reply by its marker (the port's record, then Graph) before posting,
        and when Graph will not say, nothing is posted: the intent stays for the next sweep. Returns ``shared``
        (``message_ts`` recorded), ``private`` (kept private, the person told), ``gone`` (nothing to share), or
        ``busy`` / ``retry`` (left pending). ``service_url``: where to open the person's personal chat, if needed
        (the clock has none: the channel's)."""
        store, settings = self.services.reflections, self.services.settings
        refl = store.get(ws, rid)
        if self.deliveries is None:
            return RETRY
        if refl is None or not refl.shared or not refl.channel or not refl.thread_ts:
            store.share_done(ws, rid)
            return GONE_SHARE
        if refl.message_ts:  # posted, and recorded
            store.share_done(ws, rid)
            return POSTED
        channel, thread, user = refl.channel, refl.thread_ts, refl.user
        delivery = self.deliveries(ws)
        key = keys.teams_shared(ws, rid)
        marker = Marker(SHARED_KIND, key)
        if author is None:
            author = store.share_author(ws, rid)
        view = cards.SharedReflection(author=author, stood_out=refl.stood_out, practice=refl.practice,
                                      action=refl.action)  # fmt: skip
        once = Once(store.r, settings.claim_lease_seconds, done_days=SHARED_DONE_DAYS,
                    settle_seconds=settings.claim_settle_seconds)  # fmt: skip

        def prepare(previous: dict[str, Any] | None) -> dict[str, Any]:
            return previous or {"at": datetime.now(UTC).timestamp()}

        def send(attempt: dict[str, Any]) -> dict[str, Any]:
            # Membership is asked just before each send, never before the search for an earlier attempt's reply: a
            # process killed after Teams posted it left its attempt, and a reply already in the thread is recorded
            # as shared whoever is in the team now (telling the person it was kept private would be untrue).
            try:
                member = delivery.is_member(user, channel)
            except Permanent:
                member = False
            except Transient as exc:  # not known now: nothing sent, the intent stays for the next sweep
                log.warning("teams: could not confirm a member of %s for a shared reflection: %s", channel, exc)
                raise Transient(f"membership not confirmed: {exc}", maybe_sent=False) from None
            if not member:  # never post someone's words where they are not
                raise Permanent(NOT_A_MEMBER)
            return {"id": delivery.post(channel, view, marker=marker, thread=thread)}

        def find(attempt: dict[str, Any]) -> dict[str, Any] | None:
            oldest = datetime.fromtimestamp(float(attempt["at"]) - 60, UTC)
            found = delivery.find_reply(channel, thread, marker, oldest=oldest, latest=datetime.now(UTC))
            return {"id": found.id} if found else None

        def finish(attempt: dict[str, Any], result: dict[str, Any]) -> None:
            store.update(ws, rid, message_ts=str(result.get("id") or ""))

        outcome = once.run(key, prepare=prepare, send=send, find=find, finish=finish)
        log.info("teams: a shared reflection in %s: %s", channel, outcome.state)
        if outcome.state == "failed" and outcome.error == NOT_A_MEMBER:
            return self._kept_private(ws, refl, service_url, "Teams didn't confirm you're a member of that team")
        if outcome.state == "failed":  # Teams said no for good (the bot was removed from the team...)
            return self._kept_private(ws, refl, service_url, "I couldn't post it in that thread")
        if outcome.state in ("sent", "recovered", "already"):
            store.share_done(ws, rid)
            return POSTED
        return BUSY if outcome.state == "busy" else RETRY

    def _kept_private(self, ws: Workspace, refl: Reflection, service_url: str | None, why: str) -> str:
        self.services.reflections.share_done(ws, refl.id, visibility=PRIVATE)
        log.warning("teams: kept a reflection by %s private (%s)", refl.user, why)
        if service_url is None and refl.channel:  # the clock: the person's chat is opened where the channel is served
            ref = References(self.services.store.client).get(ws, refl.channel)
            service_url = ref.service_url if ref is not None else None
        if self.tell is not None and service_url:
            self.tell(ws, refl.user, service_url, NOT_SHARED.format(why=why))
        return KEPT_PRIVATE


def finish_pending_shares(reflect: TeamsReflect, grace: float, now: float) -> list[tuple[str, str]]:
    """The clock's part for Teams (as ``bot.handlers.views.finish_pending_shares`` is Slack's): every reflection
    shared from the Reflect dialog more than ``grace`` seconds ago and still not settled (its web process died
    before posting it, or before recording the post) is settled once by ``TeamsReflect.settle``. Returns
    (reflection id, outcome) for each one looked at."""
    store = reflect.services.reflections
    done: list[tuple[str, str]] = []
    for ws in store.share_workspaces():
        if ws.platform != "teams":
            continue
        try:
            pending = store.pending_shares(ws, now - grace)
        except redis.RedisError as exc:
            log.warning("teams: could not look at pending shared reflections: %s", exc)
            continue
        for rid in pending:
            try:
                if not store.claim_share(ws, rid, grace):
                    continue  # the web process (or another clock) is on it
                done.append((rid, reflect.settle(ws, rid)))
            except (Permanent, Transient, OSError, redis.RedisError) as exc:
                log.warning("teams: could not finish a shared reflection: %s", exc)
    return done


def clock_reflect(services: Services) -> TeamsReflect:
    """The Reflect dialog's share, as the clock finishes it: the tenant's delivery port, and the personal-chat note
    for a share kept private (``TeamsThreads.tell``), built from settings (``bot.teams.setup``)."""
    from bot.handlers.teams.threads import TeamsThreads
    from bot.teams import setup

    return TeamsReflect(services, setup.deliveries(services), TeamsThreads(services, setup.connector(services.settings)).tell)
