"""Neutral view model of a knowledge check sent by DM (see ``bot.weekly.views`` for why views)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.content.corpus import Check


@dataclass(frozen=True, eq=False)
class KnowledgeCheck:
    """One knowledge check sent to one person on ``sent_day`` (the answer buttons carry the day)."""

    check: Check
    sent_day: str
