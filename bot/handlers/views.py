"""The Reflect modal's submission.

The ack stores the reflection (so a storage failure is shown in the form, with the words kept) and
updates the modal to "Saved". Posting a shared reflection in the thread is a Web API call, so it runs
after the ack (a lazy listener), which then updates the modal with how that went.

The thread named in the form's private_metadata is trusted only as far as it is checked: it must be
one of this workspace's weekly posts (at submission), and Slack must say the person is a member of its
channel (before posting). Otherwise the reflection is kept private and the form says why.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import CALL_BUDGET
from bot.handlers.events import SHARED_EVENT, safety_note
from bot.reflections.masking import mask
from bot.reflections.store import MODAL, PRIVATE, SHARED, Reflection, ReflectionStore, view_id
from bot.search.safety import classify
from bot.services import Services
from bot.slack.client import ThreadNotFullyRead, find_in_thread, find_in_thread_after
from bot.slack.context import workspace_of
from bot.slack.home import user_in_channel
from bot.slack.reflect_blocks import CALLBACK_REFLECTION, saved_view, shared_reflection_message
from bot.slack.tenants import must_run
from bot.storage.store import Workspace

log = logging.getLogger(__name__)

SAVE_FAILED = ("I couldn't save your reflection just now (my storage is unavailable). Your words are still here: "
               "please press Save again in a minute.")  # fmt: skip


def _value(values: dict[str, Any], block: str) -> str:
    return ((values.get(block) or {}).get("value") or {}).get("value") or ""


def _selected(values: dict[str, Any], block: str, default: str) -> str:
    option = ((values.get(block) or {}).get("value") or {}).get("selected_option") or {}
    return option.get("value") or default


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The form's private_metadata (set by ``reflect_blocks.reflection_modal``); anything unreadable is empty."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _notes(fields: dict[str, Any]) -> str:
    """What the modal says after saving about masked details and where to find the record."""
    note = ""
    if any(m.changed for m in fields.values()):
        explanation = ", ".join(sorted({m.explanation() for m in fields.values() if m.changed}))
        note += f"\n\n:lock: To keep it anonymous I removed {explanation} before saving."
    return note + "\n\nYou can see, export or delete your reflections from my Home tab."


ECHO_WAIT = 5.0  # after a lost answer, how long to watch for Slack's copy of the post before reading the thread
ECHO_POLL = 0.1


def _echoed(seen: Callable[[], str | None] | None, wait: float) -> str | None:
    """The ts Slack's copy of our post brought back (``events.note_shared_post``), watched for ``wait`` s."""
    if seen is None:
        return None
    deadline = time.monotonic() + wait
    while True:
        ts = seen()
        if ts or time.monotonic() >= deadline:
            return ts
        time.sleep(ECHO_POLL)


def post_once_in_thread(client: WebClient, channel: str, thread_ts: str, rid: str, message: dict[str, Any],
                        seen: Callable[[], str | None] | None = None, oldest: str | None = None) -> str | None:  # fmt: skip
    """Post a shared reflection in its thread; its ts, or None if it is not there. The post carries the
    reflection's id in its metadata, so when Slack's answer is lost (5xx, reset, timeout: Slack may have
    posted) it is not sent again blindly (that could post it twice): first ``seen`` is watched for the copy
    of the post Slack sends back as an event, then, only if none came, the thread is searched. Reading the
    thread is the last resort: an app outside the Marketplace may do it once a minute; ``oldest`` keeps it to the
    replies from just before this attempt."""
    meta = {"event_type": SHARED_EVENT, "event_payload": {"key": rid}}
    try:
        return str(client.chat_postMessage(channel=channel, thread_ts=thread_ts, metadata=meta, **message)["ts"])
    except SlackApiError as exc:
        log.warning("could not share a reflection in %s: %s", channel, exc.response.get("error"))
        if exc.response.status_code < 500:
            return None  # Slack said no (e.g. not_in_channel): nothing was posted
    except OSError as exc:
        log.warning("sharing a reflection in %s: no answer from Slack (%s)", channel, exc)
    echoed = _echoed(seen, ECHO_WAIT)
    if echoed:
        return echoed
    try:
        found = find_in_thread(client, channel, thread_ts, SHARED_EVENT, rid, oldest=oldest)
    except (SlackApiError, OSError) as exc:
        log.warning("could not check the thread in %s for a shared reflection: %s", channel, exc)
        echoed = _echoed(seen, 0)
        if echoed:
            return echoed
        raise OutcomeUnknown(channel) from exc
    return str(found["ts"]) if found else _echoed(seen, 0)


class OutcomeUnknown(Exception):  # noqa: N818 - reads as "raise OutcomeUnknown(channel)"
    """Slack may have posted the shared reflection and nothing says whether it did: post nothing now; the
    intent stays (``ReflectionStore.pending_shares``) and the clock looks in the thread before posting."""


POSTED, KEPT_PRIVATE, NOT_A_MEMBER, UNKNOWN, GONE = "shared", "private", "not_member", "unknown", "gone"
GAVE_UP = "gave_up"  # the clock could not tell whether it was posted, sweep after sweep: kept private, never re-posted

LOOK_BACK = 60.0  # seconds before the intent a search of the thread starts: the post cannot be older (clock skew)
UNDECIDED_SWEEPS = 6  # clock sweeps that read nothing new of the thread before it stops trying (``GAVE_UP``)


def _search_from(refl: Reflection) -> str:
    """The oldest reply the shared post can be: just before the person saved the reflection."""
    return f"{refl.created_at - LOOK_BACK:.6f}"


def settle_share(client: WebClient, store: ReflectionStore, ws: Workspace, rid: str, *, look_first: bool) -> str:
    """Post one shared reflection in its thread, at most once, and drop its intent once that is settled.

    The web process's listener calls this right after the ack; the clock calls it (``look_first``) for an
    intent older than the grace period, left by a process killed after the ack: that one may have posted
    before it died, so the thread is searched before anything is posted. Returns what happened:
    ``shared`` (``message_ts`` recorded), ``private`` (Slack would not post it), ``not_member`` (the person's
    membership of the channel was not confirmed, so it is kept private), ``unknown`` (left for the clock),
    ``gave_up`` (the clock's sweeps could not read the thread, ``UNDECIDED_SWEEPS`` times: kept private, since
    posting again when it may be there could post it twice) or ``gone`` (deleted meanwhile, or no longer to share).

    The clock reads only replies from just before the intent (``LOOK_BACK``), within one call's budget, and
    records how far it got with the intent: with Slack's history limits (one read a minute, 15 messages a page)
    a busy thread takes several sweeps, each resuming where the last stopped."""
    refl = store.get(ws, rid)
    if refl is None or not refl.shared or not refl.channel or not refl.thread_ts:
        store.share_done(ws, rid)
        return GONE
    if refl.message_ts:  # Slack sent the post back (events.note_shared_post): it is there
        store.share_done(ws, rid)
        return POSTED
    # Checked here, not only when the form opened: the form's private_metadata is what names the thread,
    # and the person may have left the channel since. Never post someone's words where they are not.
    if not user_in_channel(client, refl.user, refl.channel):
        store.share_done(ws, rid, visibility=PRIVATE)
        log.warning("kept a reflection by %s private: not shown to be a member of %s", refl.user, refl.channel)
        return NOT_A_MEMBER
    if look_first:
        after = store.share_search(ws, rid) or _search_from(refl)
        try:
            found = find_in_thread_after(client, refl.channel, refl.thread_ts, SHARED_EVENT, rid, after=after,
                                         budget=float(getattr(client, "call_budget", CALL_BUDGET)))  # fmt: skip
        except ThreadNotFullyRead as exc:
            stuck = store.note_share_search(ws, rid, exc.after, moved=exc.after != after)
            log.warning("could not yet check the thread in %s for a shared reflection (read up to %s): %s",
                        refl.channel, exc.after, exc)  # fmt: skip
            if stuck >= UNDECIDED_SWEEPS:
                store.share_done(ws, rid, visibility=PRIVATE)
                return GAVE_UP
            return UNKNOWN
        if found:
            store.share_done(ws, rid, message_ts=str(found["ts"]))
            return POSTED
    try:
        ts = post_once_in_thread(client, refl.channel, refl.thread_ts, rid, shared_reflection_message(refl.user, refl),
                                 seen=lambda: _message_ts(store, ws, rid), oldest=_search_from(refl))  # fmt: skip
    except OutcomeUnknown:
        return UNKNOWN
    if ts:
        store.share_done(ws, rid, message_ts=ts)
        return POSTED
    store.share_done(ws, rid, visibility=PRIVATE)
    return KEPT_PRIVATE


def finish_pending_shares(store: ReflectionStore, clients: Callable[[Workspace], WebClient], grace: float,
                          now: float) -> list[tuple[str, str]]:  # fmt: skip
    """The clock's part: every shared reflection saved more than ``grace`` seconds ago and still not posted
    (its web process was killed after the ack) is settled once; a person whose reflection stays private is
    told by DM. Returns (reflection id, outcome) for each one looked at."""
    done: list[tuple[str, str]] = []
    for ws in store.share_workspaces():
        if ws.platform != "slack":  # Teams' are finished by bot.handlers.teams.reflect.finish_pending_shares
            continue
        try:
            pending = store.pending_shares(ws, now - grace)
            if not pending:
                continue
            client = clients(ws)
        except Exception:  # one workspace (uninstalled, Redis blip) must not stop the others
            log.exception("could not look at pending shared reflections of %s", ws.team_id)
            continue
        for rid in pending:
            if not store.claim_share(ws, rid, grace):
                continue  # the web process (or another clock) is on it
            try:
                outcome = settle_share(client, store, ws, rid, look_first=True)
            except (SlackApiError, OSError, redis.RedisError) as exc:
                log.warning("could not finish a shared reflection in %s: %s", ws.team_id, exc)
                continue
            done.append((rid, outcome))
            if outcome in (NOT_A_MEMBER, KEPT_PRIVATE, GAVE_UP):
                _tell_kept_private(client, store, ws, rid, outcome)
    return done


def _tell_kept_private(client: WebClient, store: ReflectionStore, ws: Workspace, rid: str, outcome: str) -> None:
    """The form that would have said so is long gone: tell the person by DM that their reflection stays private."""
    refl = store.get(ws, rid)
    if refl is None or not refl.channel:
        return
    if outcome == GAVE_UP:
        text = (f"I saved the reflection you chose to share in <#{refl.channel}>, but Slack didn't let me check "
                f"whether it reached the thread: it may already have been posted there. So that it is never posted "
                f"twice I won't post it again, and it's kept private in your record (only you can see it, in my "
                f"Home tab). If it isn't in the thread, you can share your words there yourself.")  # fmt: skip
    else:
        why = ("Slack didn't confirm you're a member of" if outcome == NOT_A_MEMBER else "I couldn't post it in")
        text = (f"I saved the reflection you chose to share in <#{refl.channel}>, but I didn't share it in the thread: "
                f"{why} <#{refl.channel}>. It's kept private (only you can see it, in my Home tab).")  # fmt: skip
    try:
        client.chat_postMessage(channel=refl.user, text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not tell %s their reflection was kept private: %s", refl.user, exc)


def _message_ts(store: ReflectionStore, ws: Workspace, rid: str) -> str | None:
    refl = store.get(ws, rid)
    return refl.message_ts if refl else None


def _update_form(client: WebClient, view: dict[str, Any], text: str) -> None:
    try:
        client.views_update(view_id=view["id"], view=saved_view(text))
    except SlackApiError as exc:  # the person may have closed the form already
        log.info("could not update the Reflect form: %s", exc.response.get("error"))


def register(app: App, services: Services) -> None:
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
        values = view["state"]["values"]
        stood_out = _value(values, "stood_out").strip()
        if not stood_out:
            ack(response_action="errors", errors={"stood_out": "Write a few words about what stood out for you."})
            return
        meta = _metadata(view)
        point = services.corpus.point(str(meta.get("point") or ""))
        if point is None:
            ack(response_action="errors", errors={"stood_out": "That learning point is no longer available."})
            return
        ws = workspace_of(body, context)
        user = body["user"]["id"]
        channel, thread_ts = _text(meta.get("channel")), _text(meta.get("thread_ts"))
        visibility = _selected(values, "visibility", PRIVATE)
        typed = "\n".join(_value(values, name) for name in ("stood_out", "practice", "action"))
        live = classify(typed) if services.corpus.safety else None
        if live:  # a live, identifiable case: never shared in the thread, never counted in its summary
            visibility = PRIVATE
            log.info("kept a Reflect form private: it reads as a live concern (%s)", live.cue)
        fields = {name: mask(_value(values, name).strip()) for name in ("practice", "action")}
        fields["stood_out"] = mask(stood_out)
        found = sorted({k for m in fields.values() for k in m.found})
        now = time.time()
        store = services.reflections
        refl = Reflection(
            id=view_id(view["id"]), user=user, point=point.id, kind=MODAL, visibility=visibility, created_at=now,
            updated_at=now, channel=channel, thread_ts=thread_ts, week=None,
            stood_out=fields["stood_out"].text, practice=fields["practice"].text, action=fields["action"].text,
            minutes=int(_selected(values, "minutes", "10")), masked=found,
        )  # fmt: skip
        try:
            post = store.thread_record(ws, channel, thread_ts) if (channel and thread_ts) else None
            if post is None:  # not (or no longer) one of this workspace's weekly posts: keep it private
                refl.channel, refl.thread_ts, refl.visibility = None, None, PRIVATE
                visibility = PRIVATE
            else:
                refl.week = post.get("week")
            created = store.add(ws, refl, share_pending=refl.visibility == SHARED)
        except redis.RedisError:
            log.error("could not store a reflection for %s: Redis unavailable", user)
            ack(response_action="errors", errors={"stood_out": SAVE_FAILED})
            return
        notes = _notes(fields)
        if live:
            notes = "\n\n" + safety_note(services, ws) + notes
        if visibility == SHARED and created:  # a resubmitted form is stored, and posted, once
            context["scr_share"] = {"id": refl.id, "notes": notes}
            ack(response_action="update", view=saved_view(":white_check_mark: Saved to your record. "
                                                         "Sharing it in the thread…" + notes))  # fmt: skip
            return
        ack(response_action="update", view=saved_view(":white_check_mark: Saved to your record." + notes))

    @must_run
    def share_in_thread(body: dict[str, Any], view: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """After the ack: post the shared reflection in the weekly post's thread, then say how it went. The intent
        was stored with the reflection before the ack; if this process dies before settling it, the clock does."""
        share = context.get("scr_share")
        if not share:
            return
        ws, store = workspace_of(body, context), services.reflections
        if not store.claim_share(ws, share["id"], services.settings.pending_grace_seconds):
            return  # already being settled elsewhere
        outcome = settle_share(client, store, ws, share["id"], look_first=False)
        if outcome == GONE:
            return
        note = ":white_check_mark: Saved to your record." + {
            POSTED: " It's shared in the thread too.",
            KEPT_PRIVATE: " I couldn't post it in the thread, so it's kept private.",
            UNKNOWN: " Slack didn't confirm the post in the thread yet: I'll check and share it there once, "
                     "or tell you if I can't.",
        }.get(outcome, "")  # fmt: skip
        if outcome == NOT_A_MEMBER:
            refl = store.get(ws, share["id"])
            channel = refl.channel if refl else ""
            note += (f" I didn't share it in the thread because Slack didn't confirm you're a member of "
                     f"<#{channel}>, so it's kept private (only you can see it).")  # fmt: skip
        _update_form(client, view, note + share["notes"])

    app.view(CALLBACK_REFLECTION)(ack=on_submit, lazy=[share_in_thread])
