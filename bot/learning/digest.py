"""The learning lead's digest and the partnership's audit report: how a team used the learning, in numbers.

Built from what the bot already keeps (weekly posts, reflections shared in their threads, knowledge
check aggregates) and nothing else: no one's words, no names. Every count of people, reflections or
answers below ``MIN_GROUP`` is suppressed, because in a small team a "1" points at a person.

Nothing here knows about Slack; ``bot.learning.digest_sender`` delivers the monthly DM and ``scr-bot
reflections report`` prints the audit report.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from bot.briefings.sessions import DONE, NOT_YET, OVERDUE, PARTLY, UNDELIVERABLE, SessionStore
from bot.content.corpus import Corpus
from bot.learning.quiz import MIN_GROUP, QuizStore, suppress
from bot.reflections.store import ReflectionStore
from bot.storage import keys
from bot.storage.store import Workspace

# The briefings' recurring messages across 21 years of reviews (p19-repeat-messages, and the 2011-14
# findings): a team's digest says which of these its weekly points have not yet covered.
RECURRING = ("info-sharing", "assessment", "voice", "escalation", "curiosity", "systems", "partnership")
MONTHS = 6


@dataclass(frozen=True)
class MonthRow:
    month: str  # "2026-11"
    posts: int
    reflections: int  # shared in the thread (private ones are never counted)
    people: int
    checks: int  # knowledge checks answered by people who opted in from this channel
    check_people: int


@dataclass(frozen=True)
class PostRow:
    """One weekly post, for the audit report."""

    week: str
    date: str
    point: str
    title: str
    themes: list[str]
    reflections: int
    people: int


@dataclass
class Digest:
    team: str
    channel: str
    months: list[MonthRow]
    covered: list[tuple[str, int]]  # (theme id, weekly posts on it), most first
    not_covered: list[str]  # recurring themes with no weekly post in the period
    posts: list[PostRow] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)


@dataclass(frozen=True)
class SessionRow:
    """7-minute briefings run in the channel, per theme and month: sessions, who was there, actions and how
    they ended. Counts of people, and of actions owned by fewer than ``MIN_GROUP`` people, show as "<3"."""

    month: str
    theme: str
    sessions: int
    attended: int
    owners: int
    agreed: int
    done: int
    partly: int
    not_yet: int
    overdue: int
    # how many different owners are behind each status count (done, partly, not yet, overdue): "overdue 1"
    # with three owners in all still points at one person, so each count follows the rule on its own people
    status_owners: tuple[int, int, int, int] = (0, 0, 0, 0)
    # actions whose owner can never get the follow-up (left, deactivated), and the owners behind them
    undeliverable: int = 0
    undeliverable_owners: int = 0


def _lt3(n: int, people: int) -> str:
    return "<3" if n and people < MIN_GROUP else str(n)


def session_line(corpus: Corpus, row: SessionRow) -> str:
    """One theme-month of sessions; no names, the "<3" rule on every count that could point at a person: each
    status count by the owners behind that status (0 stays 0: it points at nobody)."""
    counts = (("done", row.done), ("partly", row.partly), ("not yet", row.not_yet), ("overdue", row.overdue))
    acts = ", ".join(f"{name} {_lt3(n, min(row.owners, behind))}"
                     for (name, n), behind in zip(counts, row.status_owners, strict=True))  # fmt: skip
    if row.undeliverable:
        acts += f", undeliverable {_lt3(row.undeliverable, min(row.owners, row.undeliverable_owners))}"
    return (f"{row.month} · {_label(corpus, row.theme)}: {row.sessions} session{'s' if row.sessions != 1 else ''} · "
            f"attended by {_lt3(row.attended, row.attended)} · actions agreed {_lt3(row.agreed, row.owners)} ({acts})")


def session_rows(client: redis.Redis, ws: Workspace, channel: str, months: list[str], retention_days: int,
                 timezone: str) -> list[SessionRow]:  # fmt: skip
    store = SessionStore(client, retention_days)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for s in store.sessions_between(ws, 0, float("inf")):
        month = month_of(s.at, timezone)
        if s.channel != channel or not months[0] <= month <= months[-1]:
            continue
        g = groups.setdefault((month, s.theme), {"n": 0, "people": set(), "owners": set(), "status": Counter(),
                                                 "by_status": {}})  # fmt: skip
        g["n"] += 1
        g["people"] |= store.attended(ws, s.id)
        for a in store.actions_of_session(ws, s.id):
            g["owners"].add(a.owner)
            g["status"][a.status] += 1
            g["by_status"].setdefault(a.status, set()).add(a.owner)
    return [SessionRow(m, t, g["n"], len(g["people"]), len(g["owners"]), sum(g["status"].values()),
                       g["status"][DONE], g["status"][PARTLY], g["status"][NOT_YET], g["status"][OVERDUE],
                       tuple(len(g["by_status"].get(st, ())) for st in (DONE, PARTLY, NOT_YET, OVERDUE)),
                       g["status"][UNDELIVERABLE], len(g["by_status"].get(UNDELIVERABLE, ())))
            for (m, t), g in sorted(groups.items())]  # fmt: skip


def month_of(epoch: float, timezone: str = "UTC") -> str:
    """The calendar month of ``epoch`` in ``timezone``: a workspace's month ends at its own midnight."""
    return datetime.fromtimestamp(epoch, ZoneInfo(timezone)).strftime("%Y-%m")


def last_months(now: datetime, n: int = MONTHS, *, include_current: bool = False, timezone: str = "UTC") -> list[str]:
    """The ``n`` calendar months before ``now``'s month (or ending with it) in ``timezone``, oldest first. The
    zone must be the one the digest is sent by: on 1 December in Auckland it is still November in UTC, and
    a UTC count would send "December's" digest without November."""
    local = now.astimezone(ZoneInfo(timezone))
    year, month = local.year, local.month
    if not include_current:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def build(corpus: Corpus, client: redis.Redis, ws: Workspace, channel: str, months: list[str],
          retention_days: int = 365, timezone: str = "UTC") -> Digest:  # fmt: skip
    """A channel's participation per month (months of ``timezone``, the workspace's), and the themes its weekly
    posts covered, over ``months``."""
    reflections = ReflectionStore(client, retention_days)
    quiz = QuizStore(client, retention_days)
    first, last = months[0], months[-1]
    posts: list[PostRow] = []
    per_month: dict[str, dict[str, set | int]] = {m: {"posts": 0, "refl": 0, "people": set()} for m in months}
    themes: Counter[str] = Counter()
    for ts in client.zrangebyscore(keys.channel_posts(ws, channel), "-inf", "+inf"):
        record = reflections.thread_record(ws, channel, ts)
        month = month_of(keys.post_epoch(ts), timezone)  # Slack's ts in seconds, Teams' ids in milliseconds
        if record is None or not first <= month <= last:
            continue
        point = corpus.point(record.get("point", ""))
        shared = [r for r in reflections.for_thread(ws, channel, ts) if r.shared]
        slot = per_month[month]
        slot["posts"] += 1  # type: ignore[operator]
        for r in shared:
            m = month_of(r.created_at, timezone)
            if m in per_month:
                per_month[m]["refl"] += 1  # type: ignore[operator]
                per_month[m]["people"].add(r.user)  # type: ignore[union-attr]
        if point:
            themes.update(point.themes)
        posts.append(PostRow(record.get("week", ""), datetime.fromtimestamp(keys.post_epoch(ts), ZoneInfo(timezone)).strftime("%Y-%m-%d"),
                             record.get("point", ""), point.title if point else record.get("point", ""),
                             list(point.themes) if point else [], len(shared), len({r.user for r in shared})))  # fmt: skip
    rows = []
    for m in months:
        checks, check_people = quiz.month_counts(ws, channel, m)
        slot = per_month[m]
        rows.append(MonthRow(m, int(slot["posts"]), int(slot["refl"]), len(slot["people"]), checks, check_people))  # type: ignore[arg-type]
    covered = sorted(themes.items(), key=lambda kv: (-kv[1], kv[0]))
    not_covered = [t for t in RECURRING if t in corpus.themes and t not in themes]
    return Digest(ws.team_id, channel, rows, covered, not_covered, sorted(posts, key=lambda p: p.date),
                  session_rows(client, ws, channel, months, retention_days, timezone))


def _label(corpus: Corpus, theme: str) -> str:
    return corpus.themes[theme].label if theme in corpus.themes else theme


def digest_text(corpus: Corpus, d: Digest) -> str:
    """The digest as Slack mrkdwn (also the DM's comment on the chart)."""
    lines = [f"*Learning digest for <#{d.channel}>*, {d.months[0].month} to {d.months[-1].month}", ""]
    lines.append("*Participation by month* (posts · reflections shared · people · knowledge checks answered)")
    for m in d.months:
        lines.append(f"• {m.month}: {m.posts} · {_by_people(m.reflections, m.people)} · {suppress(m.people)} · {_by_people(m.checks, m.check_people)}")
    if d.sessions:
        lines.append("\n*7-minute briefings run* (sessions · attendance · actions)")
        lines += [f"• {session_line(corpus, row)}" for row in d.sessions]
    if d.covered:
        lines.append("\n*Themes covered:* " + ", ".join(f"{_label(corpus, t)} ({n})" for t, n in d.covered[:8]))
    else:
        lines.append("\n*Themes covered:* no weekly posts in this period.")
    if d.not_covered:
        lines.append("*Recurring themes from the reviews not covered yet:* "
                     + ", ".join(_label(corpus, t) for t in d.not_covered)
                     + ". `/scr subscribe` can bring them in, or look them up with `/scr <theme>`.")  # fmt: skip
    lines.append(f"\n_Counts only, never anyone's words. Counts below {MIN_GROUP} are shown as “fewer than 3” "
                 "so that no one in a small team can be identified._")  # fmt: skip
    return "\n".join(lines)


REPORT_FIELDS = ["team", "channel", "week", "date_posted", "point_id", "point_title", "themes",
                 "reflections_shared", "people",
                 # the 7-minute briefings run, one row per channel, theme and month ("people": who attended)
                 "row", "month", "sessions_run", "actions_agreed", "done", "partly", "not_yet", "overdue"]  # fmt: skip
POST_ROW, SESSION_ROW = "weekly post", "7-minute briefings"


def session_channels(client: redis.Redis, ws: Workspace, start: float, end: float = float("inf"),
                     retention_days: int = 365) -> list[str]:  # fmt: skip
    """The channels of ``ws`` where a 7-minute briefing was run between ``start`` and ``end`` (epoch seconds):
    a team that runs briefings but has no weekly posts still has evidence for the report and the digest."""
    return sorted({s.channel for s in SessionStore(client, retention_days).sessions_between(ws, start, end)})


def session_counts(row: SessionRow) -> list[str]:
    """A session row's counts for a table (attended, agreed, done, partly, not yet, overdue), each under the
    "<3" rule exactly as ``session_line`` applies it."""
    statuses = (row.done, row.partly, row.not_yet, row.overdue)
    return [_lt3(row.attended, row.attended), _lt3(row.agreed, row.owners),
            *(_lt3(n, min(row.owners, behind)) for n, behind in zip(statuses, row.status_owners, strict=True))]


def _csv_count(n: int, people: int | None = None) -> str:
    """``n``, or "<3" when fewer than ``MIN_GROUP`` people are behind it (``people``, else ``n`` is people)."""
    behind = n if people is None else people
    return "<3" if n and 0 <= behind < MIN_GROUP else str(n)


def _by_people(n: int, people: int) -> str:
    """A count of answers or reflections, suppressed by how many people gave them, not by its own size:
    five answers from two people would point at those two ("never for fewer than 3 people")."""
    return "fewer than 3" if n and people < MIN_GROUP else str(n)


def report_csv(corpus: Corpus, digests: list[Digest]) -> str:
    """One row per weekly post (dates, point, themes and suppressed counts; never any reflection text), then
    one per theme and month of the 7-minute briefings run (sessions, attendance, actions and how they ended,
    under the "<3" rule); the ``row`` column says which."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(REPORT_FIELDS)
    for d in digests:
        for p in d.posts:
            writer.writerow([d.team, d.channel, p.week, p.date, p.point, p.title,
                             "; ".join(_label(corpus, t) for t in p.themes), _csv_count(p.reflections, p.people), _csv_count(p.people),
                             POST_ROW, p.date[:7], "", "", "", "", "", ""])  # fmt: skip
        for row in d.sessions:
            attended, agreed, *statuses = session_counts(row)
            writer.writerow([d.team, d.channel, "", "", "", "", _label(corpus, row.theme), "", attended,
                             SESSION_ROW, row.month, row.sessions, agreed, *statuses])  # fmt: skip
    return buf.getvalue()


def report_markdown(corpus: Corpus, digests: list[Digest], since: str) -> str:
    """The audit report: per channel, participation by month, themes, and each weekly post with its counts."""
    out = [f"# How learning from Serious Case Reviews was used, since {since}", "",
           "Counts of weekly learning points, reflections shared in their threads and knowledge checks answered. "
           f"No names and no private reflections; counts below {MIN_GROUP} are shown as “fewer than 3”.", ""]  # fmt: skip
    for d in digests:
        out += [f"## Channel {d.channel}", "", "| Month | Posts | Reflections shared | People | Knowledge checks answered |",
                "|---|---|---|---|---|"]  # fmt: skip
        out += [f"| {m.month} | {m.posts} | {_by_people(m.reflections, m.people)} | {suppress(m.people)} | {_by_people(m.checks, m.check_people)} |" for m in d.months]
        out += ["", "**Themes covered:** " + (", ".join(f"{_label(corpus, t)} ({n})" for t, n in d.covered) or "none"),
                "", "**Recurring themes not covered:** " + (", ".join(_label(corpus, t) for t in d.not_covered) or "none"),
                "", "| Week | Posted | Learning point | Themes | Reflections shared | People |", "|---|---|---|---|---|---|"]  # fmt: skip
        for p in d.posts:
            out.append(f"| {p.week} | {p.date} | {p.title} (`{p.point}`) | {', '.join(_label(corpus, t) for t in p.themes)} "
                       f"| {_by_people(p.reflections, p.people)} | {suppress(p.people)} |")  # fmt: skip
        if d.sessions:  # after the weekly table, never inside it (a line there ends a Markdown table)
            out += ["", "**7-minute briefings run:**", *(f"- {session_line(corpus, row)}" for row in d.sessions)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
