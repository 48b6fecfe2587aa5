"""What the clock sends about sessions, as neutral views a front end renders (Slack: ``bot.slack.session_blocks``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.briefings.builder import EMBED_PROMPTS
from bot.briefings.sessions import Action, Session


@dataclass(frozen=True)
class ActionFollowUp:
    """To an action's owner on its due date (``reminder``: the one reminder): done, partly or not yet?"""

    action: Action
    reminder: bool = False


@dataclass(frozen=True)
class ActionUndeliverable:
    """To an action's facilitator, once: its owner can never get the follow-up (``error``: the platform's
    reason), so the action is marked undeliverable and nobody is asked about it again."""

    action: Action
    error: str = ""


@dataclass(frozen=True)
class SessionQuestions:
    """To a session's facilitator three months on: the partnership's three standing questions."""

    session: Session
    actions: tuple[Action, ...] = ()
    questions: tuple[str, ...] = EMBED_PROMPTS
