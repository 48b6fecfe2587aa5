"""Neutral view models of the weekly post and its summary: what the core wants shown, with no platform's markup in them.

The core builds these and hands them to the delivery port (``bot.delivery``); each front end renders
them its own way (Slack: Block Kit in ``bot.slack.delivery``; the offline shell shows the Slack
rendering as terminal text). A lookup's :class:`bot.search.lookup.Answer` is the same idea for
answers, rendered as Block Kit, terminal text and JSON.

Views are frozen and hashable, so a front end can render one once per fan-out and reuse it for every
channel that gets the same post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.content.corpus import Point
from bot.learning.quiz import Aggregate
from bot.reflections.store import ThreadStats


@dataclass(frozen=True)
class WeeklyPost:
    """The learning point of the week, with the week it belongs to and when the summary comes."""

    point_id: str
    week_start: date
    summary_when: str  # "Friday at 16:00", or "at the end of the week"
    reflect_button: bool = False


@dataclass(frozen=True, eq=False)
class ThreadSummary:
    """The week's summary in the weekly post's thread: counts and questions, never anyone's words."""

    point: Point
    stats: ThreadStats
    quiz: Aggregate
