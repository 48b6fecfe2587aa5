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

from bot.reflections.gazetteer import gazetteer
from bot.reflections.masking import mask
from bot.reflections.store import SHARED, THREAD, Reflection, cap, message_id
from bot.services import Services
from bot.slack.context import workspace_of
from bot.slack.home import publish_home
from bot.slack.tenants import must_run
from bot.storage.purge import Purger
from bot.storage.store import Workspace

log = logging.getLogger(__name__)
USER_CONTENT = (None, "thread_broadcast", "file_share")

MASKED_NOTE = (
    "To keep reflections anonymous, I removed {what} from your reply before saving it to your record. "
    "Your message in the thread is unchanged, so you may want to edit it. Please keep names and details of "
    "children and families out of Slack."
)


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
        if msg.get("bot_id") or not msg.get("user") or not msg.get("ts") or msg.get("subtype") == "tombstone":
            return
        ts, thread_ts = str(msg["ts"]), msg.get("thread_ts")
        if not thread_ts or thread_ts == ts:
            return  # not a reply
        post = store.thread_record(ws, channel, thread_ts)
        if post is None:
            return  # a reply to something other than a weekly post
        masked = mask(cap(str(msg.get("text") or "")))
        refl = Reflection(
            id=message_id(channel, ts), user=msg["user"], point=post["point"], kind=THREAD, visibility=SHARED,
            created_at=float(ts), updated_at=float(ts), channel=channel, thread_ts=thread_ts, message_ts=ts,
            week=post.get("week"), text=masked.text, masked=sorted(masked.found),
        )  # fmt: skip
        # Idempotent: a retried, duplicated or out-of-date delivery changes nothing.
        outcome = store.put_message(ws, refl, float(version or ts))
        if outcome == "created" and masked.changed:
            context["scr_masked_note"] = MASKED_NOTE.format(what=masked.explanation())

    @must_run
    def tell_author(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """After the ack: tell the author, privately, what was masked before their reply was saved."""
        note = context.get("scr_masked_note")
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

    app.event("message")(ack=on_message, lazy=[tell_author])
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
                services.installations.delete_installation(enterprise_id=context.enterprise_id,
                                                           team_id=context.team_id, user_id=user)  # fmt: skip
            return
        Purger(services.store.client).begin(ws)

    @must_run
    def purge_workspace(event: dict[str, Any], context: BoltContext) -> None:
        tokens = event.get("tokens") or {}
        if event.get("type") == "tokens_revoked" and not tokens.get("bot"):
            return
        Purger(services.store.client).purge(_uninstalled_workspace(context))

    app.event("app_uninstalled")(ack=ack_and_revoke, lazy=[purge_workspace])
    app.event("tokens_revoked")(ack=ack_and_revoke, lazy=[purge_workspace])
