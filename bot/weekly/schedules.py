"""Weekly-post schedules: the admin's YAML files and the team leads' ``/scr subscribe`` subscriptions.

A schedule says which channel gets a learning point, when (a cron expression or a day and time, in
a time zone), which sectors/themes to draw from, and when the week's reflection summary is posted.
A local time that a clock change skips or repeats on a day the schedule fires is refused (in any
time zone, looked up with zoneinfo): APScheduler would then run the job late or twice (see
shared/docs/scheduling-redis.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

import redis
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.content.corpus import Corpus, Point
from bot.content.yamlfile import Problem, ProblemsError, YamlDoc, load_yaml, pydantic_problems
from bot.storage import keys
from bot.storage.store import Workspace

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_ALIASES = {d[:3]: d for d in DAYS} | {d: d for d in DAYS} | {"tues": "tuesday", "weds": "wednesday", "thurs": "thursday"}
TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
DEFAULT_POST = "30 9 * * mon"
DEFAULT_SUMMARY = "0 16 * * fri"
EVERYONE = "multi-agency"
# What a bank holiday (in the schedule's workspace's nation, `/scr settings bank-holidays`) does to the week's post:
# move it to the next working day of the same week at the same local time (default), skip that week, or post anyway.
BANK_HOLIDAY_RULES = ("move", "skip", "post")


def cron_for(day: str, time: str) -> str:
    m = TIME.match(time.strip())
    if not m:
        raise ValueError(f"time {time!r} should look like 09:30")
    d = DAY_ALIASES.get(day.strip().lower())
    if not d:
        raise ValueError(f"day {day!r} should be a weekday name such as monday")
    return f"{int(m.group(2))} {int(m.group(1))} * * {d[:3]}"


def check_cron(expr: str, tz: str, today: date | None = None) -> str:
    """Validate a cron expression: at most once a week, and never at a local time that the clock
    changes skip or repeat on a day it would fire (APScheduler would then post late or twice)."""
    try:
        trigger = CronTrigger.from_crontab(expr, timezone=ZoneInfo(tz))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cron expression {expr!r} is not valid: {exc}") from None
    start = datetime(2026, 1, 5, tzinfo=ZoneInfo(tz))  # a Monday
    first = trigger.get_next_fire_time(None, start)
    if first is None:
        raise ValueError(f"cron expression {expr!r} never fires")
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    if second is not None and second - first < timedelta(days=6):
        raise ValueError(f"cron expression {expr!r} fires more than once a week; a schedule posts weekly")
    clash = clock_change_clash(expr, tz, today or datetime.now(UTC).date())
    if clash:
        raise ValueError(clash)
    return expr


def clock_change_clash(expr: str, tz: str, today: date, years: int = 2) -> str | None:
    """Why this schedule's local time does not work on some day it fires, or None.

    The cron's wall-clock times are listed in UTC (which has no clock changes) for the next
    ``years``, then each is looked up in the real zone: a time the zone skips ("spring forward")
    does not exist that day; a time it repeats ("fall back") happens twice. Zones without clock
    changes, and days without one, never clash, so 01:30 is fine on a Monday in London."""
    zone = ZoneInfo(tz)
    wall = CronTrigger.from_crontab(expr, timezone=UTC)
    day = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    for _ in range(366 * years):  # find the days whose UTC offset differs from the day before's
        nxt = day + timedelta(days=1)
        nxt_offset = nxt.astimezone(zone).utcoffset()
        if nxt_offset != offset:
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            fire = wall.get_next_fire_time(None, midnight)
            while fire is not None and fire < midnight + timedelta(days=2):  # the change may fall either side of noon
                clash = _clash(fire.replace(tzinfo=None), zone, tz)
                if clash:
                    return clash
                fire = wall.get_next_fire_time(fire, fire + timedelta(seconds=1))
        day, offset = nxt, nxt_offset
    return None


def _clash(naive: datetime, zone: ZoneInfo, tz: str) -> str | None:
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    day, when = f"{naive:%A} {naive.day} {naive:%B %Y}", f"{naive:%H:%M}"
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return (f"{when} does not exist in {tz} on {day} (the clocks go forward), "
                "so that week's post would run late; pick a time outside the clock-change hour")
    return (f"{when} happens twice in {tz} on {day} (the clocks go back), "
            "so that week's post would be due twice; pick a time outside the clock-change hour")


def describe(expr: str) -> str:
    """'30 9 * * mon' -> 'Monday 09:30' (falls back to the expression itself)."""
    parts = expr.split()
    if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[2:4] == ["*", "*"]:
        day = DAY_ALIASES.get(parts[4].lower())
        if day:
            return f"{day.capitalize()} {int(parts[1]):02d}:{int(parts[0]):02d}"
    return f"cron {expr}"


@dataclass(frozen=True)
class Schedule:
    """A weekly post for one channel; ``source`` is "yaml" (admin) or "slack" (``/scr subscribe``)."""

    id: str
    team: str
    channel: str
    post: str = DEFAULT_POST  # cron expression
    summary: str = DEFAULT_SUMMARY
    timezone: str = "Europe/London"
    sectors: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    enterprise: str | None = None
    source: str = "yaml"
    origin: str = ""  # file:line, or who subscribed
    created_by: str | None = None
    enabled: bool = True
    background: bool = False  # include background points (what an SCR is, method) in the rotation
    on_bank_holiday: str = "move"  # a BANK_HOLIDAY_RULES word (bot.weekly.poster.week_for applies it)
    platform: str = "slack"  # which front end's tenant ``team`` names ("teams": a Microsoft Teams tenant)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.team, self.enterprise, self.platform)

    def in_team(self, team: str) -> Schedule:
        """An admin schedule without a ``team:`` belongs to the bot's own workspace."""
        return self if self.team else replace(self, team=team)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def post_trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.post, timezone=self.tz)

    def summary_trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.summary, timezone=self.tz)

    def matches(self, point: Point) -> bool:
        sector_ok = not self.sectors or any(s in point.sectors or EVERYONE in point.sectors for s in self.sectors)
        theme_ok = not self.themes or any(t in point.themes for t in self.themes)
        return sector_ok and theme_ok

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Schedule:
        data = json.loads(raw)
        data["sectors"] = tuple(data.get("sectors") or ())
        data["themes"] = tuple(data.get("themes") or ())
        return cls(**data)


# ----- YAML ------------------------------------------------------------------------------------
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class _When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str | None = None
    day: str | None = None
    time: str | None = None

    @field_validator("time", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 9:30 as the base-60 number 570 (and 09:30 the same way).
        if isinstance(value, int) and not isinstance(value, bool):
            hours, minutes = divmod(value, 60)
            raise ValueError(f'put the time in quotes, e.g. time: "{hours:02d}:{minutes:02d}" '
                             f"(without quotes YAML reads {hours}:{minutes:02d} as the number {value})")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> _When:
        if self.cron and (self.day or self.time):
            raise ValueError("give either cron, or day and time, not both")
        if not self.cron and not (self.day and self.time):
            raise ValueError("give cron, or both day and time (e.g. day: monday, time: '09:30')")
        if self.day and self.time:
            self.cron = cron_for(self.day, self.time)
        return self


class _ScheduleYaml(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Slug
    channel: str
    team: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[TE][A-Z0-9]{2,}$")] | None = None
    enterprise: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^E[A-Z0-9]{2,}$")] | None = None
    when: _When
    summary: _When | None = None
    timezone: str | None = None
    sectors: list[Slug] = []
    themes: list[Slug] = []
    enabled: bool = True
    background: bool = False
    on_bank_holiday: str = "move"

    @field_validator("on_bank_holiday", mode="before")
    @classmethod
    def _holiday_rule(cls, value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in BANK_HOLIDAY_RULES:
            raise ValueError(f"on_bank_holiday {value!r} should be one of {', '.join(BANK_HOLIDAY_RULES)} "
                             "(move: to the next working day that week; skip: no post that week; post: post anyway)")
        return text

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_id(cls, value: Any) -> str:
        text = str(value).strip() if value is not None else ""
        if not CHANNEL_ID.match(text):
            raise ValueError(
                f"{text!r} is not a channel ID: use the channel's ID (C or G followed by letters and digits, "
                "e.g. C0123456789), not its name. In Slack, open the channel, click its name at the top, "
                "and copy the Channel ID at the bottom of the About tab"
            )
        return text

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except Exception:
                raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from None
        return value


def _check_filters(corpus: Corpus, sectors: Any, themes: Any, bad: Callable[[list[str | int], str], None]) -> bool:
    """Report every unknown sector and theme (each on its own line); True if all are known."""
    ok = True
    for field_name, names, known in (("sectors", sectors, corpus.sectors), ("themes", themes, corpus.themes)):
        if not isinstance(names, list):
            continue
        for j, name in enumerate(names):
            if isinstance(name, str) and name not in known:
                bad([field_name, j], f"unknown {field_name[:-1]} {name!r}")
                ok = False
    return ok


def load_yaml_schedules(directory: Path, corpus: Corpus, default_timezone: str, default_team: str | None) -> list[Schedule]:
    """Read every schedules/*.yaml; raise ``ProblemsError`` (file:line) if anything is wrong."""
    problems: list[Problem] = []
    out: list[Schedule] = []
    if not directory.is_dir():
        return []
    seen: dict[str, str] = {}
    for path in sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml")):
        try:
            doc: YamlDoc = load_yaml(path)
        except ProblemsError as exc:
            problems.extend(exc.problems)
            continue
        if doc.data is None:
            continue
        items = doc.data.get("schedules") if isinstance(doc.data, dict) else None
        if not isinstance(items, list):
            problems.append(Problem(path, 1, "expected a list under 'schedules:'"))
            continue
        for i, raw in enumerate(items):

            def bad(key: list[str | int], msg: str, _i: int = i, _doc: YamlDoc = doc) -> None:
                problems.append(Problem(_doc.path, _doc.line_of(["schedules", _i, *key]), msg))

            try:
                model = _ScheduleYaml.model_validate(raw)
            except ValidationError as exc:
                problems.extend(pydantic_problems(doc, ["schedules", i], exc))
                if isinstance(raw, dict):  # every mistake in one pass: the filters are checked even so
                    _check_filters(corpus, raw.get("sectors"), raw.get("themes"), bad)
                continue
            tz = model.timezone or default_timezone
            where = f"{path}:{doc.line_of(['schedules', i])}"
            usable = True  # a schedule with a mistake is not built, but its other fields are still checked
            post = summary = DEFAULT_SUMMARY
            try:
                post = check_cron(model.when.cron or "", tz)
            except ValueError as exc:
                bad(["when"], str(exc))
                usable = False
            if model.summary:
                try:
                    summary = check_cron(model.summary.cron or "", tz)
                except ValueError as exc:
                    bad(["summary"], str(exc))
                    usable = False
            if not _check_filters(corpus, model.sectors, model.themes, bad):
                usable = False
            if model.id in seen:
                bad(["id"], f"duplicate schedule id {model.id!r} (first at {seen[model.id]})")
                continue
            seen[model.id] = where
            if not usable:
                continue
            team = model.team or default_team or ""  # "" = the bot's own workspace, resolved at run time
            schedule = Schedule(
                id=model.id, team=team, channel=model.channel, post=post, summary=summary, timezone=tz,
                sectors=tuple(model.sectors), themes=tuple(model.themes), enterprise=model.enterprise,
                source="yaml", origin=where, enabled=model.enabled, background=model.background,
                on_bank_holiday=model.on_bank_holiday,
            )  # fmt: skip
            if not any(schedule.matches(p) for p in corpus.points):
                bad(["sectors"], "these sector/theme filters match no learning points")
                continue
            out.append(schedule)
    if problems:
        raise ProblemsError(problems)
    return out


# ----- Subscriptions made in Slack ----------------------------------------------------------------


class Subscriptions:
    """``/scr subscribe`` schedules, one per channel, kept in Redis under the channel's workspace."""

    def __init__(self, client: redis.Redis):
        self.r = client

    def get(self, ws: Workspace, channel: str) -> Schedule | None:
        raw = self.r.get(keys.subscription(ws, channel))
        return Schedule.from_json(raw) if raw else None

    def save(self, schedule: Schedule) -> None:
        ws = schedule.workspace
        with self.r.pipeline() as pipe:
            pipe.set(keys.subscription(ws, schedule.channel), schedule.to_json())
            pipe.sadd(keys.SUBSCRIPTIONS, keys.subscription_entry(ws, schedule.channel))
            pipe.execute()

    def create(self, schedule: Schedule) -> bool:
        """Save ``schedule`` only if its channel has none yet (atomically: of two set-ups at once one is new, the
        other finds it); True when it was new."""
        ws = schedule.workspace
        if not self.r.set(keys.subscription(ws, schedule.channel), schedule.to_json(), nx=True):
            return False
        self.r.sadd(keys.SUBSCRIPTIONS, keys.subscription_entry(ws, schedule.channel))
        return True

    def delete(self, ws: Workspace, channel: str) -> bool:
        """Unsubscribe: the subscription and what only served it go (``keys.forget_subscription``)."""
        existed = self.get(ws, channel)
        if existed is None:
            with self.r.pipeline() as pipe:  # a stale index entry, if any
                pipe.srem(keys.SUBSCRIPTIONS, keys.subscription_entry(ws, channel))
                pipe.execute()
            return False
        with self.r.pipeline() as pipe:
            keys.forget_subscription(pipe, ws, channel, existed.id)
            pipe.execute()
        return True

    def all(self) -> list[Schedule]:
        out = []
        for entry in sorted(self.r.smembers(keys.SUBSCRIPTIONS)):
            found = self.get(*keys.parse_subscription_entry(entry))
            if found:
                out.append(found)
        return out


def subscription_id(ws: Workspace, channel: str) -> str:
    return f"slack-{ws.team_id.lower()}-{channel.lower()}"


@dataclass
class SubscribeRequest:
    """What a team lead asked for in ``/scr subscribe health monday 09:30``."""

    sectors: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    day: str = "monday"
    time: str = "09:30"
    timezone: str | None = None
    background: bool = False
    on_bank_holiday: str = "move"
    unknown: list[str] = field(default_factory=list)


# "/scr subscribe health background": also post background points (what an SCR is, method).
BACKGROUND_WORDS = ("background", "+background", "with-background")
# "/scr subscribe health holidays skip": what a bank holiday does to the week's post (BANK_HOLIDAY_RULES).
HOLIDAY_WORDS = ("holidays", "holiday", "bank-holidays", "bank-holiday")
_AMPM = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)$")


def parse_time(word: str) -> str | None:
    """'9:30', '09:30', '9am', '4.30pm' -> 'HH:MM'."""
    w = word.lower().replace(".", ":")
    m = _AMPM.match(w)
    if m:
        hour = int(m.group(1)) % 12 + (12 if m.group(3) == "pm" else 0)
        return f"{hour:02d}:{int(m.group(2) or 0):02d}"
    m = TIME.match(w)
    return f"{int(m.group(1)):02d}:{m.group(2)}" if m else None


def parse_subscribe(args: list[str], resolve: Any) -> SubscribeRequest:
    """``resolve(word)`` maps a word to ("sector"|"theme", id) or None (the lookup vocabulary)."""
    req = SubscribeRequest()
    words = iter(args)
    for word in words:
        low = word.lower().strip(",")
        if not low:
            continue
        if low in BACKGROUND_WORDS:
            req.background = True
        elif low in HOLIDAY_WORDS:  # an option word and its value: "holidays skip"
            rule = next(words, "")
            if rule.lower().strip(",") in BANK_HOLIDAY_RULES:
                req.on_bank_holiday = rule.lower().strip(",")
            else:
                req.unknown.append(f"{word} {rule}".strip())
        elif low in DAY_ALIASES:
            req.day = DAY_ALIASES[low]
        elif (t := parse_time(low)) is not None:
            req.time = t
        elif "/" in word:
            zone = _zones().get(low)
            if zone:
                req.timezone = zone
            else:
                req.unknown.append(word)
        elif (found := resolve(low)) is not None:
            kind, ident = found
            target = req.sectors if kind == "sector" else req.themes
            if ident not in target:
                target.append(ident)
        else:
            req.unknown.append(word)
    return req



@cache
def _zones() -> dict[str, str]:
    """Every IANA time zone name, by its lower-case spelling ("europe/london" -> "Europe/London")."""
    return {z.lower(): z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))}


def timezone_hint(words: list[str], default_zone: str) -> str | None:
    """When a word that was not understood looks like a place, say a time zone is meant and suggest one.

    "Paris" or "new york" -> the zone named after that city; "Europe/Lodnon" -> the closest zone
    name; any other capitalised word or Area/City (a town such as "Manchester") -> the default zone."""
    from rapidfuzz import fuzz, process

    zones = _zones()
    cities = {z.rsplit("/", 1)[-1].lower(): z for z in zones.values()}
    pairs = [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]  # "New York" arrives as two words
    for word in pairs + words:
        low = word.lower().replace(" ", "_")
        if low in cities:
            return f"Did you mean the time zone `{cities[low]}`? Time zones are written Area/City."
        if "/" in word:
            best = process.extractOne(low, list(zones), scorer=fuzz.ratio, score_cutoff=85)
            zone = zones[best[0]] if best else default_zone
            return f"“{word}” is not a time zone I know; did you mean `{zone}`? Time zones are written Area/City."
    places = [w for w in words if w[:1].isupper() and w.isalpha()]
    if places:
        return (f"If “{places[0]}” is where your team is: I need a time zone rather than a town, "
                f"such as `{default_zone}` (for example `/scr subscribe monday 09:30 {default_zone}`).")
    return None
