"""What has changed since each briefing: dated national changes (content/changes.yaml) matched to points.

The briefings describe practice in England in 2011-14 and 2017-19. Since then, LSCBs and serious case
reviews were replaced, Working Together was rewritten, and the words we use changed ("was not brought").
This module picks the changes that touch a learning point and says so in one short line, so a reader
never takes an old arrangement for today's.

Pure functions over a loaded ``Corpus``; nothing here renders Slack or terminal output:

- ``since_notes(corpus, point) -> list[Change]``: the verified changes that touch the point (by the old
  terms it uses, its terms and text, its themes), in its briefing's jurisdiction, dated after the
  briefing's period; most relevant first.
- ``since_line(corpus, point) -> str | None``: one phone-friendly line ("Since this briefing (Sep 2019):
  ..."), at most ``SINCE_LINE_MAX`` characters, or None when nothing has changed that we have verified.
- ``period_label(briefing) -> str``: the period the briefing's reviews cover, for display.
- ``currency_problems(corpus) -> list[Problem]``: what ``scr-bot content check`` reports: a point that uses
  a superseded term (LSCB, "serious case review", "did not attend"...) with no verified change to give it
  a note, or a briefing whose period cannot be read.

Unverified changes (``verified: false``) are never returned: they are there to be checked, not shown.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Iterator
from functools import lru_cache

from bot.content.corpus import Briefing, Change, Corpus, Point
from bot.content.yamlfile import Problem

SINCE_PREFIX = "Since this briefing"
SINCE_LINE_MAX = 200
# The national briefings are England's; a local briefing is taken to be from England too.
BRIEFING_JURISDICTION = "england"
# Old terms that always need a "since" note, whatever changes.yaml says: removing the change that supersedes
# one must fail the content check, not silently stop the note.
CORE_SUPERSEDED = ("LSCB", "Local Safeguarding Children Board", "serious case review", "did not attend", "DNA")

_MONTHS = {name: i for i, name in enumerate(calendar.month_name) if name}
_PERIOD_DATE = re.compile(r"(?:\b(\d{1,2})\s+)?(?:\b(" + "|".join(_MONTHS) + r")\s+)?\b((?:19|20)\d{2})\b")

# How a change reaches a point, strongest first.
_SUPERSEDES, _TERM, _THEME = 0, 1, 2


@lru_cache(maxsize=512)
def _term_pattern(term: str) -> re.Pattern[str]:
    """A term as a whole word or phrase, plural allowed. Acronyms and proper names ("LSCB", "Working
    Together") match only as written, so "DNA" is not "dna" and the guidance is not "agencies working
    together"; plain words ("did not attend") match in any case."""
    words = r"\s+".join(re.escape(w) for w in term.split())
    flags = 0 if any(c.isupper() for c in term[1:]) else re.IGNORECASE
    return re.compile(r"(?<![\w-])" + words + r"(?:s|es)?(?![\w-])", flags)


@lru_cache(maxsize=512)
def _term_words(term: str) -> tuple[tuple[str, ...], bool]:
    """The words a text must contain for ``term`` to match it, and whether they are compared lower-cased (the
    pattern ignores case). Lower-casing is exact for ASCII only, so a non-ASCII term has no words to look for."""
    pattern = _term_pattern(term)
    folded = bool(pattern.flags & re.IGNORECASE)
    if not term.isascii():
        return (), folded
    return tuple(w.lower() if folded else w for w in term.split()), folded


def _may_mention(text: str, term: str) -> bool:
    """False when ``text`` cannot use ``term``: it lacks one of the term's words. Every point is asked about every
    superseded term, and this is much cheaper than the pattern."""
    needed, folded = _term_words(term)
    if not needed:
        return True
    if not folded:
        return all(w in text for w in needed)
    if not text.isascii():  # (in a non-ASCII text, ignoring case may match more than lower() does: "K" is "k")
        return True
    lower = text.lower()
    return all(w in lower for w in needed)


def mentions(text: str, term: str) -> bool:
    """Whether ``text`` uses ``term`` (see _term_pattern)."""
    return _may_mention(text, term) and bool(_term_pattern(term).search(text))


def _point_fields(point: Point) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every piece of a point's own text, with where it sits (for file:line)."""
    yield ("title",), point.title
    yield ("summary",), point.summary
    for i, m in enumerate(point.key_messages):
        yield ("key_messages", i), m
    if point.quote:
        yield ("quote",), point.quote
    for i, q in enumerate(point.questions):
        yield ("questions", i), q
    for i, t in enumerate(point.terms):
        yield ("terms", i), t


def _uses(point: Point, term: str) -> tuple[str | int, ...] | None:
    """Where the point's text uses ``term`` first, or None. (Most points use none of the terms: their whole text is
    looked at once before each field is.)"""
    fields = list(_point_fields(point))
    if not _may_mention("\n".join(text for _, text in fields), term):
        return None
    for loc, text in fields:
        if mentions(text, term):
            return loc
    return None


def _day(value: str, last: bool) -> datetime.date:
    parts = [int(p) for p in value.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else (12 if last else 1)
    if len(parts) > 2:
        return datetime.date(year, month, parts[2])
    return datetime.date(year, month, calendar.monthrange(year, month)[1] if last else 1)


def change_start(change: Change) -> datetime.date:
    """The earliest day a change's date can mean ("2021" -> 1 Jan 2021)."""
    return _day(change.date, last=False)


def when_label(change: Change) -> str:
    """A change's date as a reader wants it: "Sep 2019", or "2021" when only the year is known."""
    start = change_start(change)
    return start.strftime("%b %Y") if len(change.date) >= 7 else str(start.year)


def period_bounds(briefing: Briefing) -> tuple[datetime.date, datetime.date] | None:
    """First and last day of the period a briefing's reviews cover, read from its ``period`` text
    ("Incidents from 1 April 2011 to 31 March 2014", "SCRs published April 2017 to September 2019",
    "SCRs from 2011 to 2014"); None if it names no year."""
    found = list(_PERIOD_DATE.finditer(briefing.period))
    if not found:
        return None

    def bound(m: re.Match[str], last: bool) -> datetime.date:
        day, month, year = m.group(1), m.group(2), int(m.group(3))
        if month is None:
            return datetime.date(year, 12, 31) if last else datetime.date(year, 1, 1)
        mon = _MONTHS[month]
        if day is not None:
            return datetime.date(year, mon, int(day))
        return datetime.date(year, mon, calendar.monthrange(year, mon)[1] if last else 1)

    return bound(found[0], last=False), bound(found[-1], last=True)


def period_label(briefing: Briefing) -> str:
    """The period the briefing's reviews cover, as the briefing states it, for display beside a point
    ("Incidents from 1 April 2011 to 31 March 2014")."""
    return " ".join(briefing.period.split())


def _strength(change: Change, point: Point) -> int | None:
    """How strongly a change touches a point, or None if it does not."""
    if any(_uses(point, old) for old in change.supersedes):
        return _SUPERSEDES
    if any(_uses(point, term) for term in change.terms):
        return _TERM
    if set(change.themes) & set(point.themes) and (not change.sectors or set(change.sectors) & set(point.sectors)):
        return _THEME
    return None


def _candidates(corpus: Corpus, point: Point) -> list[tuple[int, Change]]:
    """Verified changes in the briefing's jurisdiction, dated after its period, that touch the point."""
    briefing = corpus.briefings.get(point.source.briefing)
    bounds = period_bounds(briefing) if briefing else None
    if bounds is None:
        return []
    end = bounds[1]
    found = []
    for change in corpus.changes.values():
        if not change.verified or BRIEFING_JURISDICTION not in change.jurisdictions or change_start(change) <= end:
            continue
        strength = _strength(change, point)
        if strength is not None:
            found.append((strength, change))
    return found


def since_notes(corpus: Corpus, point: Point) -> list[Change]:
    """The verified changes since this point's briefing that touch it, most relevant first: a change that
    supersedes a term the point uses, then one naming its terms, then one sharing its themes; within each,
    the earliest first (the change that first made the point out of date)."""
    ranked = sorted(_candidates(corpus, point), key=lambda sc: (sc[0], change_start(sc[1]), sc[1].id))
    return [change for _, change in ranked]


def since_line(corpus: Corpus, point: Point) -> str | None:
    """One short line on what has changed since the point's briefing, for a phone screen:
    "Since this briefing (Sep 2019): <the change in a line>", adding the next change's title when it still
    fits in ``SINCE_LINE_MAX`` characters. None when no verified change touches the point."""
    notes = since_notes(corpus, point)
    if not notes:
        return None
    first = notes[0]
    line = f"{SINCE_PREFIX} ({when_label(first)}): {first.line}"
    if len(line) > SINCE_LINE_MAX:  # the schema keeps lines short; never let a long one through whole
        line = line[: SINCE_LINE_MAX - 1].rstrip() + "…"
    if len(notes) > 1:
        more = f"{line} Also ({when_label(notes[1])}): {notes[1].title.rstrip('.')}."
        if len(more) <= SINCE_LINE_MAX:
            line = more
    return line


def superseded_terms(corpus: Corpus) -> list[str]:
    """Every old term a point must not use without a note: the core list and every change's ``supersedes``."""
    seen: dict[str, str] = {}
    for term in (*CORE_SUPERSEDED, *(t for c in corpus.changes.values() for t in c.supersedes)):
        seen.setdefault(term.casefold(), term)
    return list(seen.values())


def currency_problems(corpus: Corpus) -> list[Problem]:
    """What ``scr-bot content check`` reports about currency, as ``file:line: message``:

    - a briefing whose ``period`` names no year (no "since" note can be dated against it);
    - a point that uses a superseded term (LSCB, "serious case review", "did not attend"...) when no
      verified change that supersedes that term, dated after the briefing's period, gives it a note.
    """
    problems: list[Problem] = []
    for briefing in corpus.briefings.values():
        if period_bounds(briefing) is None:
            path, line = corpus.where("briefings", briefing.id, "period")
            problems.append(Problem(path, line, f"briefing {briefing.id!r}: period {briefing.period!r} names no year, "
                                    "so changes since it cannot be dated"))  # fmt: skip
    old_terms = superseded_terms(corpus)
    for point in corpus.points:
        notes = since_notes(corpus, point)
        for term in old_terms:
            loc = _uses(point, term)
            if loc is None:
                continue
            folded = term.casefold()
            if any(folded in (s.casefold() for s in c.supersedes) for c in notes):
                continue
            path, line = corpus.where("points", point.id, *loc)
            briefing = corpus.briefings.get(point.source.briefing)
            period = period_label(briefing) if briefing else point.source.briefing
            problems.append(Problem(path, line, f"point {point.id!r} uses {term!r}, which is no longer current "
                                    f"practice, but no verified change in changes.yaml supersedes it after the "
                                    f"briefing's period ({period}): add one, or verify the one there"))  # fmt: skip
    return problems
