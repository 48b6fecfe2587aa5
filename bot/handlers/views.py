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

from bot.handlers.events import SHARED_EVENT, safety_note
from bot.reflections.masking import mask
from bot.reflections.store import MODAL, PRIVATE, SHARED, Reflection, ReflectionStore, view_id
from bot.search.safety import classify
from bot.services import Services
from bot.slack.client import find_in_thread
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
                        seen: Callable[[], str | None] | None = None) -> str | None:  # fmt: skip
    """Post a shared reflection in its thread; its ts, or None if it is not there. The post carries the
    reflection's id in its metadata, so when Slack's answer is lost (5xx, reset, timeout: Slack may have
    posted) it is not sent again blindly (that could post it twice): first ``seen`` is watched for the copy
    of the post Slack sends back as an event, then, only if none came, the thread is searched. Reading the
    thread is the last resort: an app outside the Marketplace may do it once a minute."""
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
        found = find_in_thread(client, channel, thread_ts, SHARED_EVENT, rid)
    except (SlackApiError, OSError) as exc:
        log.warning("could not check the thread in %s for a shared reflection: %s", channel, exc)
        return _echoed(seen, 0)
    return str(found["ts"]) if found else _echoed(seen, 0)


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
            created = store.add(ws, refl)
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
        """After the ack: post the shared reflection in the weekly post's thread, then say how it went."""
        share = context.get("scr_share")
        if not share:
            return
        ws, user, store = workspace_of(body, context), body["user"]["id"], services.reflections
        refl = store.get(ws, share["id"])
        if refl is None or not refl.channel or not refl.thread_ts:
            return
        note = ":white_check_mark: Saved to your record."
        # Checked again here, not only when the form opened: the form's private_metadata is what names the
        # thread, and the person may have left the channel since.
        if not user_in_channel(client, user, refl.channel):  # never post someone's words where they are not
            store.update(ws, refl.id, visibility=PRIVATE)
            log.warning("kept a reflection by %s private: not shown to be a member of %s", user, refl.channel)
            note += (f" I didn't share it in the thread because Slack didn't confirm you're a member of "
                     f"<#{refl.channel}>, so it's kept private (only you can see it).")  # fmt: skip
            _update_form(client, view, note + share["notes"])
            return
        ts = post_once_in_thread(client, refl.channel, refl.thread_ts, refl.id, shared_reflection_message(user, refl),
                                 seen=lambda: _message_ts(store, ws, refl.id))
        if ts:
            store.update(ws, refl.id, message_ts=ts)
            note += " It's shared in the thread too."
        else:
            store.update(ws, refl.id, visibility=PRIVATE)
            note += " I couldn't post it in the thread, so it's kept private."
        _update_form(client, view, note + share["notes"])

    app.view(CALLBACK_REFLECTION)(ack=on_submit, lazy=[share_in_thread])
