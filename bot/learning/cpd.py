"""A person's reflections as a reflective-practice (CPD) record, in Markdown and CSV.

With them go their knowledge-check answers, the team briefings they were at and the actions they own from
those briefings (with their own answer to the follow-up): evidence that learning went into practice, which
is what a revalidation reflection asks for. Only the person's own, in the one workspace asked about.

The fields follow what the regulators' forms ask for, so entries can be pasted straight in:
the NMC reflective account (the activity, what you learned, how you changed or improved your
practice) and CPD log (date, method, hours, whether it was participatory), and the Social Work
England CPD record (type, description and relevance, date, what you learned, impact on your
practice, and peer reflection: a team discussion counts).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.briefings.sessions import ANSWERS, OPEN, OVERDUE, UNDELIVERABLE, Action, Session
from bot.content.corpus import Corpus
from bot.content.currency import SINCE_PREFIX, period_label, since_line
from bot.learning.quiz import Answer
from bot.reflections.store import MODAL, Reflection

CSV_FIELDS = [
    "date", "activity_type", "minutes", "learning_point_id", "learning_point_title", "source", "discussed_with_peers",
    "what_i_learned", "how_it_changes_my_practice", "what_i_will_do_differently", "reflective_questions",
    "briefing_period", "since_this_briefing",
]  # fmt: skip


@dataclass(frozen=True)
class Entry:
    date: str
    activity_type: str
    minutes: int
    point_id: str
    point_title: str
    source: str
    peers: bool
    learned: str
    practice: str
    action: str
    questions: list[str]
    period: str  # the period the point's briefing covers: the learning is of that time
    since: str  # "Since this briefing (...): ..." when a verified change touches the point, else ""


def full_citation(corpus: Corpus, point_id: str) -> str:
    point = corpus.point(point_id)
    if point is None:
        return "Learning point no longer in the library"
    b = corpus.briefings[point.source.briefing]
    pages = ""
    if point.source.pages:
        pages = f", {'report' if b.page_refs == 'report' else 'briefing'} {', '.join(point.source.pages)}"
    url = f" {b.url}" if b.url else ""
    local = f"{corpus.source_label(point)}: " if b.local else ""
    return f"{local}{b.title}. {b.authors}. {b.publisher}, {b.year}. Section “{point.source.section}”{pages}.{url}"


def currency(corpus: Corpus, point_id: str) -> tuple[str, str]:
    """The briefing's period and the "since" line for a point, as text for the record ("" when the point has
    left the library or nothing verified has changed): a reviewer reading the record years on should see
    that the learning was from 2011-14 and what has replaced it."""
    point = corpus.point(point_id)
    if point is None:
        return "", ""
    return period_label(corpus.briefings[point.source.briefing]), since_line(corpus, point) or ""


def entries(corpus: Corpus, reflections: Iterable[Reflection], zone: tzinfo = UTC) -> list[Entry]:
    out = []
    for r in sorted(reflections, key=lambda r: r.created_at):
        point = corpus.point(r.point)
        if r.kind == MODAL:
            learned, practice, action = r.stood_out, r.practice, r.action
        else:
            learned, practice, action = r.text, "", ""
        activity = (
            "Reflective discussion with colleagues (team thread on a case review learning point)"
            if r.shared
            else "Individual reflection on a case review learning point"
        )
        period, since = currency(corpus, r.point)
        out.append(
            Entry(
                date=datetime.fromtimestamp(r.created_at, zone).strftime("%Y-%m-%d"),
                activity_type=activity,
                minutes=r.minutes,
                point_id=r.point,
                point_title=point.title if point else r.point,
                source=full_citation(corpus, r.point),
                peers=r.shared,
                learned=learned,
                practice=practice,
                action=action,
                questions=list(point.questions) if point else [],
                period=period,
                since=since,
            )
        )
    return out


SESSION_MINUTES = 7  # a 7-minute briefing, run face to face in a team meeting
ACTION_STATUS = {OPEN: "Open (not yet followed up)", OVERDUE: "Overdue (no answer to the follow-up)",
                 UNDELIVERABLE: "Undeliverable (the follow-up could not reach you)", **ANSWERS}  # fmt: skip


def session_entries(corpus: Corpus, sessions: Iterable[Session], zone: tzinfo = UTC) -> list[Entry]:
    """Team briefings the person was at, as CPD entries: participatory learning with peers, cited by the
    points the briefing was built from (a session recorded without them is cited by its theme)."""
    out = []
    for s in sorted(sessions, key=lambda s: s.at):
        points = [p for p in s.points if corpus.point(p) is not None]
        cited = "; ".join(dict.fromkeys(full_citation(corpus, p) for p in points))
        titles = "; ".join(corpus.point(p).title for p in points)  # type: ignore[union-attr]
        theme = corpus.themes[s.theme].label if s.theme in corpus.themes else s.theme
        periods = "; ".join(dict.fromkeys(x for x in (currency(corpus, p)[0] for p in points) if x))
        since = " ".join(dict.fromkeys(x for x in (currency(corpus, p)[1] for p in points) if x))
        out.append(Entry(
            date=datetime.fromtimestamp(s.at, zone).strftime("%Y-%m-%d"),
            activity_type="Team 7-minute briefing (face-to-face discussion with colleagues)",
            minutes=SESSION_MINUTES, point_id=", ".join(points) or s.theme, point_title=titles or theme,
            source=cited or f"7-minute briefing on {theme} built from the national case review briefings",
            peers=True, learned=s.title, practice="", action="", questions=[], period=periods, since=since,
        ))  # fmt: skip
    return out


def action_entries(corpus: Corpus, actions: Iterable[Action], zone: tzinfo = UTC) -> list[Entry]:
    """Actions the person owns, agreed at team briefings: the change in practice they committed to, its due
    date, and how the follow-up says it went (their own line on what changed)."""
    out = []
    for a in sorted(actions, key=lambda a: (a.due, a.created_at)):
        theme = corpus.themes[a.theme].label if a.theme in corpus.themes else a.theme
        status = ACTION_STATUS.get(a.status, a.status)
        out.append(Entry(
            date=datetime.fromtimestamp(a.created_at, zone).strftime("%Y-%m-%d"),
            activity_type="Action agreed at a team briefing (applying learning in practice)",
            minutes=0, point_id=a.theme, point_title=f"7-minute briefing: {theme}", source="", peers=True,
            learned=f"Due {a.due}. Status: {status}.", practice=a.change, action=a.what, questions=[], period="",
            since="",
        ))  # fmt: skip
    return out


CHECK_MINUTES = 2  # a knowledge check: reading the question, answering, reading the explanation


def check_entries(corpus: Corpus, answers: Iterable[Answer], zone: tzinfo = UTC) -> list[Entry]:
    """Knowledge-check answers as CPD entries: self-assessment on a learning point, with the right answer."""
    out = []
    for a in sorted(answers, key=lambda a: a.answered_at):
        check, point = corpus.check(a.check), corpus.point(a.point)
        question = check.question if check else a.check
        result = "right" if a.correct else f"not right; the answer is {check.answer if check else '?'}"
        period, since = currency(corpus, a.point)
        out.append(Entry(
            date=datetime.fromtimestamp(a.answered_at, zone).strftime("%Y-%m-%d"),
            activity_type="Knowledge check (self-assessment on a case review learning point)",
            minutes=CHECK_MINUTES, point_id=a.point, point_title=point.title if point else a.point,
            source=full_citation(corpus, a.point), peers=False,
            learned=f"{question} I answered: {a.chosen} ({result}).", practice="", action="", questions=[],
            period=period, since=since,
        ))  # fmt: skip
    return out


def _row(values: Iterable[str]) -> str:
    return "| " + " | ".join(v.replace("|", "/").replace("\n", " ") for v in values) + " |"


def to_markdown(corpus: Corpus, reflections: Iterable[Reflection], who: str, exported: datetime,
                answers: Iterable[Answer] = (), sessions: Iterable[Session] = (),
                actions: Iterable[Action] = (), zone: tzinfo = UTC) -> str:  # fmt: skip
    """The record as Markdown. Every date is the day in ``zone``, the workspace's own time zone (a session run
    at 09:00 in Auckland is that day there, not the day before as in UTC)."""
    items = entries(corpus, reflections, zone)
    checks = check_entries(corpus, answers, zone)
    attended = session_entries(corpus, sessions, zone)
    owned = list(actions)
    lines = [
        "# Reflective practice record: learning from Serious Case Reviews",
        "",
        f"Exported {exported:%Y-%m-%d} for {who}. {len(items)} entr{'y' if len(items) == 1 else 'ies'}, "
        f"{sum(e.minutes for e in items)} minutes in all.",
        "",
        "Each entry gives what the NMC reflective account and CPD log and the Social Work England CPD record ask for: "
        "date, type of activity, time spent, what you learned, how it changes your practice, and whether you "
        "reflected with peers (a team thread discussion counts as peer reflection). Identifying details were masked "
        "when you wrote them; please check that nothing identifies a person before you paste an entry.",
        "",
    ]
    for e in items:
        lines += [
            f"## {e.date}: {e.point_title}",
            "",
            f"- **Date:** {e.date}",
            f"- **Type of activity:** {e.activity_type}",
            f"- **Time spent:** {e.minutes} minutes",
            f"- **Learning point:** {e.point_title} (`{e.point_id}`)",
            f"- **Source:** {e.source}",
            *([f"- **Briefing period:** {e.period}"] if e.period else []),
            *([f"- {_since_md(e.since)}"] if e.since else []),
            f"- **Reflected with peers:** {'Yes, in the team thread' if e.peers else 'No (private reflection)'}",
            "",
            "### What I learned",
            "",
            e.learned or "_(not recorded)_",
            "",
            "### How this changes my practice",
            "",
            e.practice or ("_(see above)_" if not e.action else "_(not recorded)_"),
            "",
        ]
        if e.action:
            lines += ["### What I will do or check differently", "", e.action, ""]
        if e.questions:
            lines += ["### Reflective questions", "", *[f"- {q}" for q in e.questions], ""]
    if checks:
        right = sum(1 for e in checks if "(right)" in e.learned)
        lines += ["## Knowledge checks", "",
                  f"{len(checks)} check{'s' if len(checks) != 1 else ''} answered, {right} right, about "
                  f"{len(checks) * CHECK_MINUTES} minutes. Self-assessment on the learning points, spaced over time.", "",
                  "| Date | Learning point | Question and answer | Source | Briefing period | Since this briefing |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for e in checks:
            row = (e.date, f"{e.point_title} (`{e.point_id}`)", e.learned, e.source, e.period, e.since)
            lines.append(_row(row))
        lines.append("")
    if attended:
        lines += ["## Team briefings attended", "",
                  f"{len(attended)} 7-minute briefing{'s' if len(attended) != 1 else ''} attended, about "
                  f"{len(attended) * SESSION_MINUTES} minutes of face-to-face learning with colleagues (peer reflection).",
                  "", "| Date | Briefing | Learning points | Source | Briefing period | Since this briefing |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for e in attended:
            lines.append(_row((e.date, e.learned, e.point_title, e.source, e.period, e.since)))
        lines.append("")
    if owned:
        lines += ["## Actions I own from team briefings", "",
                  "What the team agreed, with you as owner, and what you said on the follow-up.", "",
                  "| Agreed | Action | Briefing | Due | Status | What changed |", "|---|---|---|---|---|---|"]  # fmt: skip
        for e, a in zip(action_entries(corpus, owned, zone), sorted(owned, key=lambda a: (a.due, a.created_at)), strict=True):
            status = ACTION_STATUS.get(a.status, a.status)
            lines.append(_row((e.date, a.what, e.point_title, a.due, status, a.change or "")))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _since_md(since: str) -> str:
    """The "since" line with its lead-in in bold, as the other fields of an entry are."""
    if since.startswith(SINCE_PREFIX):
        return f"**{SINCE_PREFIX}**{since[len(SINCE_PREFIX):]}"
    return since


def _cell(value: str) -> str:
    """Keep spreadsheet apps from treating text as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(corpus: Corpus, reflections: Iterable[Reflection], answers: Iterable[Answer] = (),
           sessions: Iterable[Session] = (), actions: Iterable[Action] = (), zone: tzinfo = UTC) -> str:  # fmt: skip
    """The record as CSV, dates in ``zone`` (the workspace's time zone, as in ``to_markdown``)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for e in [*entries(corpus, reflections, zone), *check_entries(corpus, answers, zone),
              *session_entries(corpus, sessions, zone), *action_entries(corpus, actions, zone)]:  # fmt: skip
        writer.writerow([_cell(str(v)) for v in (
            e.date, e.activity_type, e.minutes, e.point_id, e.point_title, e.source, "yes" if e.peers else "no",
            e.learned, e.practice, e.action, " | ".join(e.questions), e.period, e.since,
        )])  # fmt: skip
    return buf.getvalue()
