"""Checking a JSON payload against a description of the fields a reader relies on, for any front end.

Why one checker: Slack's payloads (``bot.slack.shapes``) and Teams' activities (``bot.teams.shapes``) are both
JSON their sender shaped, and a signed one with a field of the wrong type must be refused at the edge, in one line,
before a listener reads it. The two front ends describe different fields; how a description is read is the same.

A rule is ``STR``, ``BOOL``, ``INT`` (a whole number, not true or false), a ``Matches`` (a string of a given
form), a dict of sub-rules (an object; key ``"*"`` applies to every value), a list holding one rule (a list of
those), or a tuple of alternatives. A JSON ``null`` counts as an absent field; fields no rule names pass unchecked,
so a platform adding fields breaks nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

STR, BOOL, INT = "str", "bool", "int"
Rule = Any


@dataclass(frozen=True)
class Matches:
    """A string matching ``pattern`` whole; ``what`` names it in the problem ("a Slack timestamp")."""

    pattern: re.Pattern[str]
    what: str


def problem(value: Any, rule: Rule, where: str = "") -> str | None:
    """What is wrong with ``value`` under ``rule`` (the first thing found, naming its path), or None."""
    if value is None:
        return None
    if isinstance(rule, tuple):
        if any(problem(value, alt, where) is None for alt in rule):
            return None
        return f"{where} has an unexpected type"
    if rule == STR:
        return None if isinstance(value, str) else f"{where} is not a string"
    if isinstance(rule, Matches):
        return None if isinstance(value, str) and rule.pattern.fullmatch(value) else f"{where} is not {rule.what}"
    if rule == BOOL:
        return None if isinstance(value, bool) else f"{where} is not true or false"
    if rule == INT:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"{where} is not a whole number"
    if isinstance(rule, list):
        if not isinstance(value, list):
            return f"{where} is not a list"
        return next((p for i, item in enumerate(value) if (p := problem(item, rule[0], f"{where}[{i}]"))), None)
    if not isinstance(value, dict):
        return f"{where} is not an object"
    for key, sub in rule.items():
        if key == "*":
            found = next((p for k, v in value.items() if (p := problem(v, sub, _join(where, str(k))))), None)
        else:
            found = problem(value.get(key), sub, _join(where, key))
        if found:
            return found
    return None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
