"""Events API listeners: thread replies to weekly posts become reflections; the App Home tab; uninstalls.

Slack retries any event that does not get a 2xx; events no listener here wants are acknowledged by
the catch-all listeners in ``bot.slack.app``. When Redis is down a reply cannot be stored, so the listener
raises: Bolt then answers 500 and Slack retries the event later, rather than the reflection being
silently dropped. Storing is the ack (it decides between 200 and 503); anything that calls Slack
(the private note about masked details, publishing App Home) runs in a lazy listener after the ack.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.once import record_seen
from bot.reflections.gazetteer import gazetteer
from bot.reflections.replies import ThreadReply, file_reply
from bot.reflections.store import message_id
from bot.services import Services
from bot.slack.blocks import escape
from bot.slack.context import workspace_of
from bot.slack.home import publish_home
from bot.slack.installations import installation_store
from bot.slack.tenants import must_run
from bot.storage import keys
from bot.storage.purge import Purger
from bot.storage.store import Workspace

log = logging.getLogger(__name__)
USER_CONTENT = (None, "thread_broadcast", "file_share")

MASKED_NOTE = (
    "To keep reflections anonymous, I removed {what} from your reply before saving it to your record. "
    "Your message in the thread is unchanged, so you may want to edit it. Please keep names and details of "
    "children and families out of Slack."
)


def safety_note(services: Services, ws: Workspace | None = None) -> str:
    """What the author of a reflection that reads as a live concern is told, privately: why it was kept
    out of the thread and the summary, where to take it today, and the workspace's contact line."""
    advice = services.corpus.safety
    if advice is None:
        return ""
    contact = services.concern_contact(ws)
    who = f"Who to contact here: {escape(contact)}" if contact else advice.no_contact
    return f":large_blue_circle: {advice.reflection_note}\n{who}"


def from_us(event: dict[str, Any], context: BoltContext) -> bool:
    """Whether Slack says our own bot made this message (Bolt's self-event filter is off, so we check)."""
    bot_id, user = event.get("bot_id"), event.get("user") or event.get("user_id")
    return bool((bot_id and bot_id == context.bot_id) or (user and user == context.bot_user_id))


SHARED_EVENT = "scr_shared_reflection"  # the metadata of a Reflect form the bot posts in a thread for its author


def note_own_post(services: Services, ws: Workspace, ts: str | None, metadata: dict[str, Any] | None,
                  channel: str = "") -> bool:  # fmt: skip
    """Our weekly post or summary, sent back by Slack with its metadata: record it under its claim, so a
    recovery after a lost answer finds it in Redis without reading Slack (where an app outside the
    Marketplace may read history once a minute, 15 messages at a time). A shared reflection we posted is
    recorded the same way, on the reflection (``message_ts``)."""
    payload = (metadata or {}).get("event_payload") or {}
    key = str(payload.get("key") or "")
    if (metadata or {}).get("event_type") == SHARED_EVENT:
        return bool(ts) and note_shared_post(services, ws, channel, str(ts), key)
    if not ts or not keys.is_claim_of(ws, key):  # only our own workspace's claims: nothing else is trusted
        return False
    record_seen(services.store.client, key, str(ts), dict(payload))
    return True


def note_shared_post(services: Services, ws: Workspace, channel: str, ts: str, rid: str) -> bool:
    """The post of a shared reflection, as Slack sent it back: its ts is recorded on the reflection, so the
    listener whose answer from Slack was lost (``views.post_once_in_thread``) knows it landed without reading
    the thread. Only a shared reflection of this workspace, in this channel, not yet recorded, is touched."""
    store = services.reflections
    refl = store.get(ws, rid) if rid else None
    if refl is None or not refl.shared or refl.channel != channel or refl.message_ts:
        return False
    store.update(ws, rid, message_ts=ts)
    return True


def register(app: App, services: Services) -> None:
    gazetteer()  # load the name lists for masking now (~0.3 s, once per process), not inside the first reply

    def on_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        """Thread replies to weekly posts, their edits and deletions, in whatever order Slack delivers them."""
        ws = workspace_of(body, context)
        store = services.reflections
        channel = event.get("channel") or ""
        subtype = event.get("subtype")
        if subtype == "message_deleted":
            deleted = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
            if deleted:
                store.delete_message(ws, message_id(channel, deleted))
            return
        if subtype == "message_changed":
            msg = event.get("message") or {}
            # Newest version wins: the edit's own ts (or, failing that, when the change happened).
            version = (msg.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
        else:
            msg = event if subtype in USER_CONTENT else {}
            version = msg.get("ts")
        if subtype is None and from_us(msg, context):
            note_own_post(services, ws, msg.get("ts"), msg.get("metadata"), channel)
            return
        if msg.get("bot_id") or not msg.get("user") or not msg.get("ts") or msg.get("subtype") == "tombstone":
            return
        ts, thread_ts = str(msg["ts"]), msg.get("thread_ts")
        if not thread_ts or thread_ts == ts:
            return  # not a reply
        # A reply to one of our posts not (yet) known as a weekly post (maybe one whose answer was lost and whose
        # recovery has not run) is held by the core until the recovery decides.
        own = bool(context.bot_user_id) and msg.get("parent_user_id") == context.bot_user_id
        filed = file_reply(store, ws, ThreadReply(channel, str(thread_ts), ts, msg["user"], str(msg.get("text") or ""),
                                                  float(ts), float(version or ts)),
                           own_post=own, safety=bool(services.corpus.safety))  # fmt: skip
        if filed is None:
            return  # a reply to something other than a weekly post
        if filed.masked:
            context["scr_masked_note"] = MASKED_NOTE.format(what=filed.masked)
        if filed.live:
            context["scr_safety_note"] = safety_note(services, ws)
            log.info("kept a reply in %s private: it reads as a live concern (%s)", channel, filed.live.cue)

    @must_run
    def tell_author(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """After the ack: tell the author, privately, what was masked before their reply was saved."""
        note = "\n\n".join(n for n in (context.get("scr_safety_note"), context.get("scr_masked_note")) if n)
        if not note:
            return
        msg = event.get("message") or event  # a reply, or an edit that arrived before it
        try:
            client.chat_postEphemeral(channel=event.get("channel", ""), user=msg["user"],
                                      thread_ts=msg.get("thread_ts"), text=note)  # fmt: skip
        except SlackApiError as exc:
            log.warning("could not tell %s what was masked: %s", msg.get("user"), exc.response.get("error"))

    def acknowledge_home() -> None:
        """App Home: acknowledged at once; the view is built and published after the ack."""

    def publish_home_tab(event: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        try:
            publish_home(services, client, workspace_of(body, context), event["user"])
        except redis.RedisError as exc:
            log.error("could not build App Home for %s: Redis unavailable (%s)", event["user"], type(exc).__name__)
        except SlackApiError as exc:
            log.warning("could not publish App Home for %s: %s", event["user"], exc.response.get("error"))

    def on_metadata_posted(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        """``message_metadata_posted``: how Slack reports a message with metadata to an app subscribed to its
        event type (manifest.yml, ``metadata_subscriptions``). Filed under the workspace Bolt authorized, as
        every event is (a Slack Connect channel's body may name the other organisation's team)."""
        if from_us(event, context):
            note_own_post(services, workspace_of(body, context), event.get("message_ts"), event.get("metadata"),
                          str(event.get("channel_id") or ""))

    app.event("message")(ack=on_message, lazy=[tell_author])
    app.event("message_metadata_posted")(ack=on_metadata_posted, lazy=[])
    app.event("app_home_opened")(ack=acknowledge_home, lazy=[publish_home_tab])

    if services.settings.distributed:
        _register_uninstall(app, services, getattr(app, "authorization", None))


def _uninstalled_workspace(context: BoltContext) -> Workspace:
    """The installation Slack is telling us about: an org-wide install is kept under its org."""
    if context.is_enterprise_install and context.enterprise_id:
        return Workspace(context.enterprise_id, context.enterprise_id)
    return Workspace(str(context.team_id or "unknown"), context.enterprise_id or None)


def _register_uninstall(app: App, services: Services, authorization: Any = None) -> None:
    """Uninstall and token revocation: the tokens go at once (before we answer), the data in the background.

    ``authorization`` (``bot.slack.oauth.CachedAuthorize``) forgets the workspace's kept authorization at once
    too, so this process stops answering for it (others re-read the store within ``AUTH_FRESH_SECONDS``).

    The purge is marked pending before anything is deleted, so if this process dies mid-purge the
    clock's sweep finishes it (``bot.storage.purge``).
    """

    def ack_and_revoke(ack: Ack, event: dict[str, Any], context: BoltContext) -> None:
        ack()
        ws = _uninstalled_workspace(context)
        if authorization is not None:
            authorization.forget(context.enterprise_id, context.team_id)
        tokens = event.get("tokens") or {}
        if event.get("type") == "tokens_revoked" and not tokens.get("bot"):
            for user in tokens.get("oauth") or []:  # only people's user tokens: keep the workspace
                installation_store(services).delete_installation(enterprise_id=context.enterprise_id,
                                                           team_id=context.team_id, user_id=user)  # fmt: skip
            return
        # The purge's id goes to the lazy listener: it purges for this uninstall only, never for a reinstall.
        context["scr_purge_id"] = Purger(services.store.client).begin(ws)

    @must_run
    def purge_workspace(event: dict[str, Any], context: BoltContext) -> None:
        tokens = event.get("tokens") or {}
        if event.get("type") == "tokens_revoked" and not tokens.get("bot"):
            return
        purge_id = context.get("scr_purge_id")
        if purge_id:
            Purger(services.store.client).purge(_uninstalled_workspace(context), purge_id)

    app.event("app_uninstalled")(ack=ack_and_revoke, lazy=[purge_workspace])
    app.event("tokens_revoked")(ack=ack_and_revoke, lazy=[purge_workspace])
