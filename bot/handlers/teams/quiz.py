"""Knowledge checks in Teams: "quiz on" / "quiz off" in the personal chat, and the answer buttons.

The clock sends each check through the delivery port (``bot.learning.quiz_sender``, Teams' ``dm``); here is
what a person does with it. A button is an Adaptive Card ``Action.Execute``: Teams sends an ``invoke`` named
``adaptiveCard/action`` and shows the card our HTTP answer carries. The answer is recorded once through the
core's quiz store (``QuizStore.choose``: idempotent per check and day), so a double press, a retried invoke or
two processes at once record one answer; a press after the first shows the first answer, kept. An answer is
only to a check the clock sent that person on the day it names: a press naming any other day or check (the
data of an Action.Execute is whatever the invoke carries) is answered with a card saying so, nothing stored.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis

from bot.learning.quiz import NotSent, QuizStore
from bot.services import Services
from bot.storage.keys import Workspace
from bot.teams import cards
from bot.teams.shapes import mapping

log = logging.getLogger(__name__)
INVOKE_ACTION = "adaptiveCard/action"
ON, OFF = "quiz on", "quiz off"

OPTED_IN = ("You're in. I'll send you a short knowledge check here on quiz days, in working hours, never more than "
            "one a day. Only you see your answers; your team sees only totals, and never for fewer than 3 people. "
            "Type quiz off to stop them.")  # fmt: skip
ALREADY_IN = "You already get knowledge checks. Type quiz off to stop them."
OPTED_OUT = "Knowledge checks stopped. Your past answers stay in your record. Type quiz on to start them again."
NOT_IN = "You weren't getting knowledge checks. Type quiz on to start them."


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text, "textFormat": "plain"}


def _invoke_card(card: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"statusCode": 200, "type": cards.CARD_TYPE, "value": card}


def _invoke_message(text: str, status: int = 200) -> tuple[int, dict[str, Any]]:
    """An invoke answered with a line of text in place of a card (Universal Actions' message response)."""
    return 200, {"statusCode": status, "type": "application/vnd.microsoft.activity.message", "value": text}


class TeamsQuiz:
    def __init__(self, services: Services):
        self.services = services

    def command(self, ws: Workspace, user: str, words: str) -> dict[str, Any] | None:
        """The reply to "quiz on" / "quiz off" typed in the personal chat; None for anything else (a lookup)."""
        said = " ".join(words.lower().split())
        if said not in (ON, OFF):
            return None
        store = self.services.quiz
        if said == ON:
            return _message(OPTED_IN if store.opt_in(ws, user, None) else ALREADY_IN)
        return _message(OPTED_OUT if store.opt_out(ws, user) else NOT_IN)

    def invoke(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """An answer button pressed: recorded once, answered with the card in its answered state."""
        action = mapping(mapping(activity.get("value")).get("action"))
        if activity.get("name") != INVOKE_ACTION or action.get("verb") != cards.VERB_ANSWER:
            return _invoke_message("That button is no longer available.", 400)
        data = mapping(action.get("data"))
        user = str((activity.get("from") or {}).get("id") or "")
        code, sent_day, chosen = data.get("c"), data.get("d"), data.get("o")
        # The card's own types only: an option is a whole number (not 1.7, true or "0 "), a check and a day are text.
        if not isinstance(code, str) or not isinstance(sent_day, str) or type(chosen) is not int:
            log.warning("teams: a knowledge check's answer of an unexpected shape was refused")
            return _invoke_card(cards.unavailable_card())
        check = self.services.corpus.check(code)
        if not user or check is None or not sent_day or not 0 <= chosen < len(check.options):
            return _invoke_message("Sorry, that knowledge check is no longer available.")
        # When it was answered is this server's clock, never the activity's own ``timestamp``: that is whatever the
        # sender wrote, and a press dated years ago was deleted as past retention at once, so each replay counted
        # again, and one dated any week filed its counts under that week. A replay shows the first answer, kept.
        answered_at = time.time()
        try:
            hours = self.services.workspace_settings.hours(ws)  # "this week" and "this month" are the tenant's
            store = QuizStore(self.services.store.client, self.services.settings.retention_days, timezone=hours.timezone)
            week = hours.week(datetime.fromtimestamp(answered_at, UTC))
            card, kept = store.choose(ws, user, check, chosen, sent_day, answered_at, week)
            if card is None:  # answered before: show the first answer, which is the one kept
                return _invoke_card(cards.answered_card(self.services.corpus, check, kept, progress=None, already=True))
        except NotSent:  # a made-up day or check: no copy of it was sent to this person, so nothing is recorded
            log.warning("teams: an answer to a knowledge check never sent to its presser was refused")
            return _invoke_card(cards.unavailable_card())
        except redis.RedisError:
            return _invoke_message("I can't reach my storage just now, so your answer wasn't saved. "
                                   "Please press it again in a minute.", 503)  # fmt: skip
        log.info("teams: a knowledge check answered (%s)", check.id)
        return _invoke_card(cards.answered_card(self.services.corpus, check, chosen, progress=card))
