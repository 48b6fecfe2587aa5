"""Slack glue for a person's own record: the App Home tab and the export sent by DM."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.learning import cpd
from bot.services import Services
from bot.slack import quiz_blocks, session_blocks
from bot.slack.reflect_blocks import home_view
from bot.storage.store import Workspace

log = logging.getLogger(__name__)
EIGHT_WEEKS = 8 * 7 * 86400


def user_channels(services: Services, client: WebClient, ws: Workspace, user: str) -> list[str]:
    """Channels with weekly posts that this person is in (all of the workspace's, if Slack won't say)."""
    scheduled = services.reflections.posted_channels(ws)
    try:
        resp = client.users_conversations(user=user, types="public_channel,private_channel", limit=500)
        member_of = {c["id"] for c in resp.get("channels", [])}
        return [c for c in scheduled if c in member_of]
    except SlackApiError as exc:
        log.info("users.conversations unavailable (%s); showing all scheduled channels", exc.response.get("error"))
        return scheduled


def user_in_channel(client: WebClient, user: str, channel: str) -> bool:
    """Whether ``user`` is in ``channel`` (so may share in its threads); False when Slack cannot say."""
    return bool(channel_membership(client, user, channel))


def channel_membership(client: WebClient, user: str, channel: str) -> bool | None:
    """Whether ``user`` is in ``channel``; None when Slack could not say (an error or no answer), so a caller
    that refuses on "not a member" can tell that apart and ask the person to try again instead."""
    cursor = None
    try:
        for _ in range(20):
            resp = client.users_conversations(user=user, types="public_channel,private_channel", limit=1000,
                                              cursor=cursor)  # fmt: skip
            if any(c.get("id") == channel for c in resp.get("channels", [])):
                return True
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError as exc:
        log.info("users.conversations unavailable (%s)", exc.response.get("error"))
        return None
    except OSError as exc:
        log.info("users.conversations: no answer from Slack (%s)", exc)
        return None
    return None  # more pages than we read: not known


def publish_home(services: Services, client: WebClient, ws: Workspace, user: str) -> None:
    store = services.reflections
    channels = user_channels(services, client, ws, user)
    this_week = [(c, latest) for c in channels if (latest := store.latest_post(ws, c))]
    since = time.time() - EIGHT_WEEKS
    team = [(c, store.channel_weeks(ws, c, since)) for c in channels]
    view = home_view(services.corpus, this_week=this_week, mine=store.for_user(ws, user),
                     team=[t for t in team if t[1]], retention_days=services.settings.retention_days)  # fmt: skip
    quiz = services.quiz
    person = quiz.person(ws, user)
    extra = quiz_blocks.home_blocks(services.corpus, quiz.answers(ws, user), person is not None,
                                    person.paused_until if person else 0.0, time.time())  # fmt: skip
    mine = [b.to_dict() for b in extra]
    room = session_blocks.HOME_BLOCKS - len(view["blocks"]) - len(mine) - 1  # Slack's limit for a Home view
    mine += session_blocks.home_actions(services.sessions.actions_of(ws, user), room)
    if len(view["blocks"]) + len(mine) < session_blocks.HOME_BLOCKS:
        view["blocks"] += [{"type": "divider"}, *mine]
    client.views_publish(user_id=user, view=view)


def what_was_exported(reflections: int, answers: int, sessions: int = 0, actions: int = 0) -> str:
    """What a record held, in words ("2 reflections and 1 knowledge check"): the count of each kind, so a
    record of answers only is never called reflections."""
    kinds = ((reflections, "reflection"), (answers, "knowledge check"), (sessions, "team briefing"), (actions, "action"))
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in kinds
             if n or word == "reflection" and not (answers or sessions or actions)]  # fmt: skip
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def send_export(services: Services, client: WebClient, ws: Workspace, user: str, *,
                say_if_empty: bool = True) -> tuple[int, int, int, int]:  # fmt: skip
    """DM the person their record as Markdown and CSV files; returns how many reflections, knowledge-check
    answers, team briefings attended and actions owned it held (theirs only, in this workspace only).
    ``say_if_empty``: with nothing to export, say so by DM (the Home button has no other way to answer)."""
    mine = services.reflections.for_user(ws, user)
    answers = services.quiz.answers(ws, user)
    sessions = services.sessions.sessions_of(ws, user)
    actions = services.sessions.actions_of(ws, user)
    counts = (len(mine), len(answers), len(sessions), len(actions))
    if not any(counts) and not say_if_empty:
        return counts
    dm = client.conversations_open(users=user)["channel"]["id"]
    if not any(counts):
        client.chat_postMessage(channel=dm, text="You have no reflections saved yet, so there is nothing to export.")
        return counts
    zone = ZoneInfo(services.workspace_settings.hours(ws).timezone)  # dates as the team's own days
    now = datetime.now(zone)
    md = cpd.to_markdown(services.corpus, mine, who=f"Slack user {user}", exported=now, answers=answers,
                         sessions=sessions, actions=actions, zone=zone)  # fmt: skip
    csv_text = cpd.to_csv(services.corpus, mine, answers, sessions, actions, zone=zone)
    stamp = now.strftime("%Y-%m-%d")
    client.files_upload_v2(
        channel=dm,
        initial_comment=(f"Your reflective-practice record: {what_was_exported(*counts)}"
                         + ", as Markdown (to read or paste into your CPD log) and CSV (for a spreadsheet)."),
        file_uploads=[
            {"content": md, "filename": f"scr-reflections-{stamp}.md", "title": f"Reflective practice record {stamp}"},
            {"content": csv_text, "filename": f"scr-reflections-{stamp}.csv", "title": f"Reflections {stamp} (CSV)"},
        ],
    )  # fmt: skip
    return counts
