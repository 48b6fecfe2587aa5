"""A workspace's own settings (``/scr settings``), and the time zones of its people.

One bot serves teams in different places: a partnership in Scotland keeps Scotland's bank holidays, a
team that starts at 08:30 wants its checks from then, a workspace in Auckland wants its months to end
at its own midnight. The environment's values (``SCR_TIMEZONE``, ``SCR_WORK_HOURS``...) are the
defaults; a workspace's admins override any of them, and only what they set is stored (one hash under
the workspace's key tag, so a purge takes it with everything else).

A person's own time zone comes from Slack (``users.info`` ``tz``). The clock asks for it, never a
request path, and keeps it ``keys.PERSON_TZ_SECONDS`` so a sweep costs no Web API call per person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import time
from zoneinfo import ZoneInfo

import redis

from bot.config import BANK_HOLIDAY_REGIONS, WEEKDAYS, Settings, WorkingHours, parse_days, parse_hours
from bot.storage import keys
from bot.storage.keys import Workspace

# What `/scr settings <name> <value>` may set, and the hash field it is stored under.
FIELDS = {"timezone": "timezone", "hours": "work_hours", "days": "work_days", "quiz-days": "quiz_days",
          "quiz-time": "quiz_time", "bank-holidays": "bank_holidays", "contact": "concern_contact"}  # fmt: skip
CONTACT_MAX = 300  # as SCR_CONCERN_CONTACT


def normalise(name: str, value: str) -> str:
    """The value to store for setting ``name``, or ``ValueError`` saying what would be right."""
    value = " ".join(value.split())
    if name == "timezone":
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"{value!r} is not a time zone I know; use a name such as Europe/London") from None
        return value
    if name == "hours":
        start, end = parse_hours(value)
        return f"{start:%H:%M}-{end:%H:%M}"
    if name in ("days", "quiz-days"):
        return ",".join(WEEKDAYS[d] for d in sorted(parse_days(value)))
    if name == "quiz-time":
        try:
            return f"{time.fromisoformat(value.rjust(5, '0')):%H:%M}"
        except ValueError:
            raise ValueError(f"{value!r} should be a time such as 10:00") from None
    if name == "bank-holidays":
        if value.lower() not in BANK_HOLIDAY_REGIONS:
            raise ValueError(f"{value!r}: choose one of {', '.join(BANK_HOLIDAY_REGIONS)}")
        return value.lower()
    if name == "contact":
        if not value:
            raise ValueError("say who to contact, e.g. `/scr settings contact Our DSL, Sam Patel, 01234 567890`")
        return value[:CONTACT_MAX]
    raise ValueError(f"there is no setting called {name!r}; the settings are {', '.join(FIELDS)}")


class WorkspaceSettings:
    """Each workspace's settings over the environment's defaults."""

    def __init__(self, client: redis.Redis, defaults: Settings):
        self.r = client
        self.defaults = defaults

    def stored(self, ws: Workspace) -> dict[str, str]:
        """What the workspace's admins set (field names as in ``Settings``)."""
        return dict(self.r.hgetall(keys.workspace_settings(ws)))

    def settings(self, ws: Workspace) -> Settings:
        """The environment's settings with the workspace's own values in their place."""
        return self._over(self.stored(ws))

    def _over(self, stored: dict[str, str]) -> Settings:
        return replace(self.defaults, **{f: v for f, v in stored.items() if f in FIELDS.values()})

    def hours(self, ws: Workspace) -> WorkingHours:
        """The workspace's time zone, working hours, quiz days and bank holidays. A stored value that no longer
        parses (written by hand) falls back to the defaults rather than stopping every check."""
        return self._hours(self.stored(ws))

    def _hours(self, stored: dict[str, str]) -> WorkingHours:
        try:
            return self._over(stored).working_hours()
        except (ValueError, TypeError):
            return self.defaults.working_hours()

    def hours_of(self, workspaces: Iterable[Workspace]) -> dict[Workspace, WorkingHours]:
        """``hours`` for many workspaces in one round trip (a pipeline): the weekly fan-out reads each
        workspace's bank holidays once per run, and a run over many workspaces must not wait on one read each."""
        wanted = list(dict.fromkeys(workspaces))
        if not wanted:
            return {}
        with self.r.pipeline(transaction=False) as pipe:
            for ws in wanted:
                pipe.hgetall(keys.workspace_settings(ws))
            found = pipe.execute()
        return {ws: self._hours(dict(stored or {})) for ws, stored in zip(wanted, found, strict=True)}

    def contact(self, ws: Workspace) -> str | None:
        return self.stored(ws).get("concern_contact") or self.defaults.concern_contact

    def change(self, ws: Workspace, name: str, value: str) -> str:
        """Set ``/scr settings <name> <value>``: the stored value, or ``ValueError`` (nothing stored) when the
        value is wrong or would leave quiz days or the quiz time outside the working week."""
        stored = normalise(name, value)
        candidate = replace(self.settings(ws), **{FIELDS[name]: stored})
        hours = candidate.working_hours()
        outside = sorted(hours.quiz_days - hours.days)
        if outside:
            raise ValueError(f"quiz days would include {', '.join(WEEKDAYS[d] for d in outside)}, outside the working "
                             f"days ({candidate.work_days}): knowledge checks go only on working days")  # fmt: skip
        if hours.send_from >= hours.end:
            raise ValueError(f"the quiz time ({candidate.quiz_time}) would not be before the end of working hours "
                             f"({candidate.work_hours}), so no check would ever be sent")  # fmt: skip
        self.r.hset(keys.workspace_settings(ws), FIELDS[name], stored)
        return stored


class PersonZones:
    """People's Slack time zones, cached by the clock."""

    def __init__(self, client: redis.Redis):
        self.r = client

    def get(self, ws: Workspace, user: str) -> str | None:
        return self.r.get(keys.person_tz(ws, user))

    def put(self, ws: Workspace, user: str, tz: str) -> None:
        self.r.set(keys.person_tz(ws, user), tz, ex=keys.PERSON_TZ_SECONDS)
