"""The search-based message extension ``scr``: a ``composeExtension/query`` invoke, answered in its HTTP response.

Someone types in the compose box's ``scr`` search; Teams sends what they typed as the ``query`` parameter and
shows the list our answer carries. What is searched for is read as a chat lookup reads a message
(``lookup_words``: mentions and markup out). The list is ``/scr``'s answer: the same ``services.lookup`` (the same query
language and ranking), and its live-concern safety net first: a query that reads as a live concern about a
child gets one result, the safety card (how to act now, who to contact here), never a list of points to
browse past it. Each other result is a point: a preview (title, one line) and the answer card Teams inserts.
Nothing is stored: a search is read-only, and a query is never logged (it may name a child).

With nothing typed (Teams' first open of the search, ``initialRun``), the list is one point for each of the
first themes, as ``/scr`` would answer each theme's name: somewhere to start.
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any

from bot.content.corpus import Point
from bot.search.lookup import Answer
from bot.services import Services
from bot.storage.keys import Workspace
from bot.teams import cards, shapes

QUERY = "composeExtension/query"
QUERY_MAX = 500  # what a lookup reads of a query, as Slack's slash command text
MAX_RESULTS = 25  # Teams shows at most 25 results per page
START_THEMES = 8  # the list shown before anything is typed
PREVIEW_CHARS = 140  # a preview's one line
_MENTIONS = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)  # an @mention, with the name it shows
_TAGS = re.compile(r"<[^>]+>")


def lookup_words(raw: str) -> str:
    """What a lookup reads of what someone typed in Teams, the same for a chat message and an extension search:
    without any ``<at>…</at>`` mention (the bot's or a person's name is not what is searched for), Teams' other
    markup or a leading ``scr`` / ``/scr``, as plain text of at most ``QUERY_MAX`` characters."""
    text = html.unescape(_TAGS.sub(" ", _MENTIONS.sub(" ", raw)))
    words = text.split()
    if words and words[0].lower() in ("/scr", "scr"):
        words = words[1:]
    return " ".join(words)[:QUERY_MAX]


def _query(value: dict[str, Any]) -> str:
    parameters = value.get("parameters")
    for parameter in parameters if isinstance(parameters, list) else []:
        if isinstance(parameter, dict) and parameter.get("name") == "query":
            return lookup_words(str(parameter.get("value") or ""))
    return ""  # initialRun, or no query parameter at all


def _page(value: dict[str, Any]) -> tuple[int, int]:
    options = shapes.mapping(value.get("queryOptions"))
    try:
        skip, count = int(options.get("skip") or 0), int(options.get("count") or MAX_RESULTS)
    except (TypeError, ValueError):
        skip, count = 0, MAX_RESULTS
    return max(0, skip), max(1, min(count, MAX_RESULTS))


def _line(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= PREVIEW_CHARS else one[: PREVIEW_CHARS - 1].rstrip() + "…"


class TeamsExtension:
    def __init__(self, services: Services):
        self.services = services

    def _point(self, answer: Answer, point: Point, line: str | None = None) -> dict[str, Any]:
        """One point of ``answer`` as a result: the card is the answer's, showing that point alone."""
        alone = dataclasses.replace(answer, kind="point", results=[point], offset=0, notice=None, safety=None)
        content = cards.answer_card(self.services.corpus, alone)
        return cards.extension_result(point.title, line or _line(answer.why.get(point.id) or point.summary), content)

    def query(self, ws: Workspace, activity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        value = shapes.mapping(activity.get("value"))  # a signed invoke of another shape: as an empty search
        text = _query(value)
        skip, count = _page(value)
        if not text:
            return 200, cards.extension_answer(self.starting_points()[skip:skip + count])
        answer = self.services.lookup.answer(text)
        if answer.safety is not None:  # the safety net, and nothing to scroll past it
            advice = answer.safety.advice
            content = cards.answer_card(self.services.corpus, answer, self.services.concern_contact(ws))
            return 200, cards.extension_answer([cards.extension_result(advice.title, _line(advice.intro), content)])
        results = [self._point(answer, p) for p in answer.results[skip:skip + count]]
        return 200, cards.extension_answer(results)

    def starting_points(self) -> list[dict[str, Any]]:
        """Before anything is typed: each of the first themes' top point, as ``/scr <theme>`` ranks it."""
        out, seen = [], set()
        for theme in list(self.services.corpus.themes.values())[:START_THEMES]:
            answer = self.services.lookup.answer(theme.label)
            top = next((p for p in answer.results if p.id not in seen), None)
            if top is not None:
                seen.add(top.id)
                out.append(self._point(answer, top, _line(f"{theme.label}: {top.summary}")))
        return out
