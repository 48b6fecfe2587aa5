"""Block Kit for briefing sessions: the session's buttons, the "Agree an action" form, an agreed action in the
thread, the follow-up DM and its form, the three-month questions, and the owner's actions on App Home.

Everything a person typed (an action's words, a line on what changed) is escaped before it is shown.
The session's own facts (theme, facilitator) travel in the buttons' ``block_id``, so a click still names
its session when the run's write was lost to a storage outage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from bot.briefings.sessions import (
    ANSWERS,
    CHANGE_MAX,
    DONE,
    NOT_YET,
    OPEN,
    OVERDUE,
    PARTLY,
    UNDELIVERABLE,
    WHAT_MAX,
    Action,
    Session,
)
from bot.slack.blocks import actions, button, escape

ACTION_ATTEND = "scr_session_attend"
ACTION_TICK = "scr_session_tick"
ACTION_AGREE = "scr_session_agree"
CALLBACK_ACTION = "scr_session_action"
CALLBACK_FOLLOWUP = "scr_followup_answer"
FOLLOWUP_ACTIONS = {DONE: "scr_followup_done", PARTLY: "scr_followup_partly", NOT_YET: "scr_followup_not_yet"}
SESSION_BLOCK = "scr_session:"  # prefix of the session buttons' block_id; the rest is JSON: theme, facilitator
AGREED_EVENT = "scr_agreed_action"
STATUS_LABEL = {OPEN: "open", DONE: "done", PARTLY: "partly done", NOT_YET: "not yet", OVERDUE: "overdue",
                UNDELIVERABLE: "undeliverable (the owner can't get messages from the bot)"}  # fmt: skip


SECTION_MAX = 3000  # Block Kit: characters in a section's text
MESSAGE_BLOCKS = 50  # Block Kit: blocks in a message
HOME_BLOCKS = 100  # Block Kit: blocks in a Home view


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX], "verbatim": True}}


def _sections(head: str, lines: Sequence[str]) -> list[tuple[dict[str, Any], int]]:
    """``head`` then ``lines``, packed into as many sections as they need (each at most Slack's 3,000
    characters, never cut mid-line), so a long list is never silently cut short. Each section comes with how
    many of ``lines`` it holds, so a list that still runs out of blocks can say how many it left out."""
    out: list[tuple[dict[str, Any], int]] = []
    text, count = head, 0
    for line in lines:
        joined = f"{text}\n{line}" if text else line
        if len(joined) <= SECTION_MAX:
            text, count = joined, count + 1
            continue
        if text:
            out.append((_section(text), count))
        text, count = line, 1
    if text:
        out.append((_section(text), count))
    return out


def _fit(parts: Sequence[tuple[dict[str, Any], int]], room: int, more: str) -> list[dict[str, Any]]:
    """The sections that fit in ``room`` blocks; when they don't all fit, the last block says how many were
    left out and how to see them (``more``: the end of "…and N more ___")."""
    if len(parts) <= room:
        return [block for block, _ in parts]
    if room < 1:
        return []
    kept = list(parts[:room - 1])
    left = sum(n for _, n in parts[room - 1:])
    return [block for block, _ in kept] + [_section(f"…and {left} more {more}")]


def _day(iso: str) -> str:
    try:
        return f"{date.fromisoformat(iso):%a %d %b %Y}"
    except ValueError:
        return escape(iso)


def facilitator_name(user: str) -> str:
    """Who ran a session: a mention, or "a former member" once they asked to be forgotten."""
    return f"<@{user}>" if user else "a former member"


def session_block_id(theme: str, facilitator: str) -> str:
    return SESSION_BLOCK + json.dumps({"t": theme, "f": facilitator}, separators=(",", ":"))


def parse_session_block(block_id: str) -> tuple[str, str] | None:
    """(theme, facilitator) from a session button's block_id, or None for anything else."""
    if not block_id.startswith(SESSION_BLOCK):
        return None
    try:
        data = json.loads(block_id[len(SESSION_BLOCK):])
        return str(data["t"]), str(data["f"])
    except (ValueError, KeyError, TypeError):
        return None


def session_controls(theme: str, facilitator: str) -> list[dict[str, Any]]:
    """Under a briefing run in a channel: "I was there", "Agree an action", and the facilitator's way to tick
    people in (a multi-user select: anyone else choosing is told it is the facilitator's)."""
    block_id = session_block_id(theme, facilitator)
    row = actions(button("I was there", ACTION_ATTEND, "attend", style="primary"),
                  button("Agree an action", ACTION_AGREE, "agree"),
                  {"type": "multi_users_select", "action_id": ACTION_TICK,
                   "placeholder": {"type": "plain_text", "text": "Facilitator: tick people in"}})  # fmt: skip
    return [{**row, "block_id": block_id}]


def action_form(channel: str, ts: str, theme: str, *, what: str = "", owner: str = "",
                due: str = "", error: str = "") -> dict[str, Any]:  # fmt: skip
    """The "Agree an action" modal. Reopened with the words kept (``what``, ``owner``, ``due``) and ``error``
    at the top when the owner is not in the channel or the action could not be saved. It carries no
    facilitator: the save takes it from the stored session, so a facilitator forgotten since is not named."""
    meta = json.dumps({"c": channel, "ts": ts, "t": theme})
    what_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": WHAT_MAX,
                               "placeholder": {"type": "plain_text", "text": "e.g. Add fathers to the home visit checklist"}}  # fmt: skip
    if what:
        what_el["initial_value"] = what
    owner_el: dict[str, Any] = {"type": "users_select", "action_id": "value"}
    if owner:
        owner_el["initial_user"] = owner
    due_el: dict[str, Any] = {"type": "datepicker", "action_id": "value"}
    if due:
        due_el["initial_date"] = due
    body: list[dict[str, Any]] = []
    if error:
        body.append(_section(f":warning: {escape(error)}"))
    body += [
        {"type": "input", "block_id": "what", "label": {"type": "plain_text", "text": "What"}, "element": what_el},
        {"type": "input", "block_id": "owner", "label": {"type": "plain_text", "text": "Owner (someone in the channel)"},
         "element": owner_el},
        {"type": "input", "block_id": "due", "label": {"type": "plain_text", "text": "Due date"}, "element": due_el},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "The owner gets a message on the due date asking "
                                          "how it went. No case details, please."}]},
    ]  # fmt: skip
    return {"type": "modal", "callback_id": CALLBACK_ACTION, "private_metadata": meta,
            "title": {"type": "plain_text", "text": "Agree an action"}, "submit": {"type": "plain_text", "text": "Agree"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": body}  # fmt: skip


def note_view(title: str, text: str) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title[:24]},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": [_section(text)]}  # fmt: skip


def agreed_message(a: Action) -> dict[str, Any]:
    """An agreed action as a reply in the session's thread."""
    text = f":white_check_mark: *Agreed action:* {escape(a.what)}\nOwner <@{a.owner}> · due {_day(a.due)}"
    return {"text": f"Agreed action: {escape(a.what)}", "blocks": [_section(text)]}


def followup_message(a: Action, reminder: bool) -> dict[str, Any]:
    """The owner's follow-up DM on the due date (or its one reminder): three buttons, each opening the form."""
    lead = ":bell: A reminder, the only one:" if reminder else ":calendar: Today is the due date of an action you agreed:"
    text = f"{lead}\n>{escape(a.what)}\nDue {_day(a.due)}, from the team briefing in <#{a.channel}>. How did it go?"
    row = actions(*(button(label, FOLLOWUP_ACTIONS[status], a.id, style="primary" if status == DONE else None)
                    for status, label in ANSWERS.items()))  # fmt: skip
    return {"text": f"How did your action go? {escape(a.what)}", "blocks": [_section(text), row]}


def followup_form(a: Action, status: str, error: str = "", change: str = "") -> dict[str, Any]:
    el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": CHANGE_MAX,
                          "placeholder": {"type": "plain_text", "text": "One line: what changed in practice?"}}  # fmt: skip
    if change:
        el["initial_value"] = change
    body = [_section(f"*{escape(ANSWERS[status])}*: {escape(a.what)}")]
    if error:
        body.append(_section(f":warning: {escape(error)}"))
    body.append({"type": "input", "block_id": "change", "label": {"type": "plain_text", "text": "What changed"},
                 "element": el})  # fmt: skip
    return {"type": "modal", "callback_id": CALLBACK_FOLLOWUP, "private_metadata": json.dumps({"a": a.id, "s": status}),
            "title": {"type": "plain_text", "text": "How did it go?"}, "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": body}  # fmt: skip


def undeliverable_message(a: Action, error: str) -> dict[str, Any]:
    """To the facilitator, once: the owner can never get the follow-up, so nobody will be asked about it."""
    why = f" (Slack: `{escape(error)}`)" if error else ""
    text = (f":warning: <@{a.owner}> can't get messages from me{why}, so I couldn't ask them how this action "
            f"went, and won't try again:\n>{escape(a.what)}\nDue {_day(a.due)}, from the team briefing in "
            f"<#{a.channel}>. It shows as *undeliverable* in `/scr actions` there; if it still matters, agree "
            "it again with someone who is in the channel.")  # fmt: skip
    return {"text": f"An action's owner can't get messages: {escape(a.what)}", "blocks": [_section(text)]}


def questions_message(session: Session, acts: Sequence[Action], questions: Sequence[str]) -> dict[str, Any]:
    """The facilitator's three-month questions, with the session's actions and how each stands (their team's
    own list: only the facilitator receives it)."""
    lines = "\n".join(f"{i}. {escape(q)}" for i, q in enumerate(questions, start=1))
    text = (f":spiral_calendar_pad: *Three months on: {escape(session.title)}* (run in <#{session.channel}>)\n"
            f"The partnership's standing questions, for your next team meeting or action plan:\n{lines}")
    out = [_section(text)]
    if acts:
        listed = [f"• {escape(a.what)} · <@{a.owner}> · {STATUS_LABEL.get(a.status, a.status)}" for a in acts]
        out += _fit(_sections("*Actions agreed*", listed), MESSAGE_BLOCKS - 1,
                    f"action{'s' if len(acts) != 1 else ''}: `/scr actions` in <#{session.channel}> lists them all.")  # fmt: skip
    return {"text": f"Three months on: {escape(session.title)}", "blocks": out}


def home_actions(acts: Sequence[Action], room: int = HOME_BLOCKS) -> list[dict[str, Any]]:
    """App Home for an action's owner: the actions they own, newest due date last, in at most ``room`` blocks
    (what the rest of the Home view leaves of Slack's 100); any that don't fit are counted, never dropped
    silently."""
    if not acts or room < 2:
        return []
    listed = [f"• {escape(a.what)} · due {_day(a.due)} · {STATUS_LABEL.get(a.status, a.status)}" for a in acts]
    return [{"type": "header", "text": {"type": "plain_text", "text": "Your actions from team briefings"}},
            *_fit(_sections("", listed), room - 1, "of your actions: your CPD export (`/scr export`) lists them all.")]  # fmt: skip


def team_actions_message(listed: Sequence[tuple[Session, Sequence[Action]]], everyone: bool,
                         page: int = 1, zone: tzinfo = UTC) -> dict[str, Any]:  # fmt: skip
    """A channel's action list for its facilitator or an admin (``everyone``: all its sessions, else only the
    ones this facilitator ran): each session, then its actions with owner, due date, status and the owner's
    line on what changed. It names people, so it is only ever sent privately. A session's date is its day in
    ``zone``, the workspace's time zone (never the server's).

    A long list takes as many sections as it needs (3,000 characters each). Past Slack's 50 blocks a message,
    ``page`` 1 shows the newest sessions and ends saying how many earlier actions there are and which page
    (`/scr actions 2`) shows them: nothing is left out without saying so."""
    whose = "every briefing run here" if everyone else "the briefings you ran here"
    parts: list[tuple[dict[str, Any], int]] = []
    for session, acts in listed:
        head = f"*{escape(session.title)}*, {_day(datetime.fromtimestamp(session.at, zone).date().isoformat())}, run by {facilitator_name(session.facilitator)}"
        if not acts:
            parts.append((_section(f"{head}\n_No actions agreed._"), 0))
            continue
        lines = [f"• {escape(a.what)} · <@{a.owner}> · due {_day(a.due)} · {STATUS_LABEL.get(a.status, a.status)}"
                 + (f" · “{escape(a.change)}”" if a.change else "") for a in acts]  # fmt: skip
        parts += _sections(head, lines)
    per_page = MESSAGE_BLOCKS - 2  # the title, and the line saying what is on other pages
    page = max(1, page)
    end = len(parts) - per_page * (page - 1)
    shown, earlier = parts[max(0, end - per_page):max(0, end)], parts[:max(0, end - per_page)]
    title = f":clipboard: *Team action list* ({whose}). Only you can see this: it names people."
    if page > 1:
        title += f" Page {page}: earlier briefings."
    out = [_section(title), *(block for block, _ in shown)]
    if not shown:
        out.append(_section(f"_Nothing on page {page}: `/scr actions` shows the newest briefings._"))
    if earlier:
        left = sum(n for _, n in earlier)
        out.append(_section(f"…and {left} more action{'s' if left != 1 else ''} from earlier briefings: "
                            f"`/scr actions {page + 1}` shows them."))  # fmt: skip
    return {"response_type": "ephemeral", "text": "Team action list", "blocks": out}
