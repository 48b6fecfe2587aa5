"""Assemble a 7-minute briefing from the learning points of one theme.

A briefing has seven parts, as partnerships run them: 1 background, 2 why it matters, 3-5 key information,
6 things to note (discussion questions), 7 what to do. It is built from a ``Spec`` (the theme, the one
briefing it draws on or none for "across briefings", the point for "why it matters" and the three key
points), so the same spec always gives the same briefing: a Slack button carries the spec, and "Swap"
is a new spec with one key point replaced by the next of the same theme.

Every ``Line`` says where its words come from (``kind``): a point's own checked field (``point`` with the
field's name, exactly as written), the theme's description, a briefing's period or title, a "Since this
briefing" note (bot.content.currency), or ``framing``: our headings and prompts, which never carry a
figure. Tests hold every line to that, so no figure reaches a team that is not cited and checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.content.corpus import LOCAL_LABEL, Corpus, Point
from bot.content.currency import period_label, since_line
from bot.search.lookup import Lookup

MINUTES = 7
KEY_PARTS = 3
QUESTIONS = 3
KEY_ITEMS = 2  # key messages shown per key point when the theme has enough points
PART_HEADINGS = ("Background", "Why it matters", "Key information", "Key information", "Key information",
                 "Things to note", "What to do")  # fmt: skip
# Wandsworth's standing questions (docs/domain.md §6), as prompts for the action plan: framing, no figures.
EMBED_PROMPTS = (
    "What are our key thoughts on this?",
    "How will we embed this, and how will we know it is embedded?",
    "How will it go into our team or service plan?",
)
ACTION_PROMPT = "Agree one or two actions as a team and write them on the action plan: what, who, and by when."
ACTION_COLUMNS = ("What", "Owner", "Due date", "Done")
USAGE = ("Say what the briefing is about: a theme (`/scr briefing neglect`), a learning point's id, or some "
         "words (`/scr briefing information sharing`). `/scr themes` lists the themes.")  # fmt: skip
SPEC_VERSION = 1


class NoMatch(Exception):
    """Nothing to build a briefing from: ``message`` says why in one line, ``suggestions`` what to try
    (theme labels or point titles, as ``(label, query)``). Nothing is written when this is raised."""

    def __init__(self, message: str, suggestions: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.suggestions = suggestions or []


@dataclass(frozen=True)
class Line:
    """One piece of a part's text and where it comes from.

    ``kind``: "point" (``point``'s field ``field`` word for word), "theme" (the theme's description),
    "source" (a briefing's title and publisher), "period" (``period_label`` of a briefing), "since"
    (``since_line`` of ``point``) or "framing" (our words: no figures)."""

    text: str
    kind: str = "framing"
    point: str | None = None
    field: str = ""


@dataclass(frozen=True)
class Part:
    number: int
    heading: str
    lines: tuple[Line, ...]
    title: str = ""  # a key part's point title
    point: str | None = None  # the point cited for this part
    citation: str | None = None
    since: str | None = None  # "Since this briefing (...): ..." for the cited point, when a verified change touches it
    slot: int | None = None  # 0-2 for the key parts: which key point "Swap" replaces


@dataclass(frozen=True)
class Spec:
    """What a briefing is made of; the rest follows from the content."""

    theme: str
    briefing: str | None  # None: across every briefing with points on the theme
    why: str | None
    keys: tuple[str, ...]
    query: str = ""

    def to_value(self) -> str:
        """Compact JSON for a Slack button's value (well under its 2000 characters)."""
        return json.dumps({"v": SPEC_VERSION, "t": self.theme, "b": self.briefing or "", "w": self.why or "",
                           "k": list(self.keys), "q": self.query[:200]}, ensure_ascii=False)  # fmt: skip

    @classmethod
    def from_value(cls, value: str) -> Spec | None:
        try:
            data = json.loads(value)
            keys = tuple(str(k) for k in data["k"])
            return cls(theme=str(data["t"]), briefing=str(data["b"]) or None, why=str(data["w"]) or None,
                       keys=keys, query=str(data.get("q", "")))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Source:
    briefing: str
    title: str
    publisher: str
    period: str
    url: str | None
    local: bool


@dataclass(frozen=True)
class SevenMinuteBriefing:
    spec: Spec
    theme_label: str
    parts: tuple[Part, ...]
    sources: tuple[Source, ...]
    swappable: tuple[bool, ...] = field(default=(False, False, False))

    @property
    def title(self) -> str:
        return f"{MINUTES}-minute briefing: {self.theme_label}"

    @property
    def across(self) -> bool:
        return self.spec.briefing is None

    @property
    def questions(self) -> tuple[Line, ...]:
        """The discussion questions (part 6): the thread reply under a briefing run in a channel."""
        return self.parts[5].lines

    def lines(self) -> list[Line]:
        return [line for part in self.parts for line in part.lines]


def pool(corpus: Corpus, theme: str, briefing: str | None) -> list[Point]:
    """A theme's points in a briefing (or all briefings), in the order a briefing uses them: practice
    learning first, then key data, then background; within each, points mainly about the theme first."""
    kinds = {"practice": 0, "key-data": 1, "background": 2}
    points = [p for p in corpus.points if theme in p.themes and (briefing is None or p.source.briefing == briefing)]
    order = {p.id: i for i, p in enumerate(corpus.points)}
    return sorted(points, key=lambda p: (kinds[p.kind], p.themes[0] != theme, order[p.id]))


def plan(corpus: Corpus, theme: str, briefing: str | None, lead: Point | None = None, query: str = "") -> Spec:
    """The spec for a theme's briefing: a key-data point (if any) says why it matters, the lead point and
    the next practice points give the key information."""
    points = pool(corpus, theme, briefing)
    if lead is not None and lead in points:
        points = [lead] + [p for p in points if p is not lead]
    why = next((p for p in points if p.kind == "key-data" and p is not lead), None)
    rest = [p for p in points if p is not why and p is not lead]
    keys = ([lead] if lead is not None and lead in points else []) + [p for p in rest if p.kind != "background"]
    keys += [p for p in rest if p.kind == "background"]  # what an SCR is, how a study was done: only when asked
    if not keys and why is not None:  # only a key-data point: it is the key information
        keys, why = [why], None
    return Spec(theme=theme, briefing=briefing, why=why.id if why else None,
                keys=tuple(p.id for p in keys[:KEY_PARTS]), query=query)  # fmt: skip


def _chunks(items: list[Line], n: int) -> list[list[Line]]:
    """``items`` split in order into ``n`` runs as even as can be (some empty when there are fewer)."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def _field_lines(point: Point, skip_summary: bool) -> list[Line]:
    lines = [Line(m, "point", point.id, f"key_messages[{i}]") for i, m in enumerate(point.key_messages)]
    if point.quote:
        lines.append(Line(point.quote, "point", point.id, "quote"))
    if not skip_summary:
        lines.append(Line(point.summary, "point", point.id, "summary"))
    return lines


def _key_parts(corpus: Corpus, keys: list[Point], summary_used: str | None) -> list[Part]:
    """Parts 3-5: one key point each, its title and first key messages. With fewer than three points on
    the theme, the points' further key messages (and quote, and summary) fill the remaining parts in
    order, so a part never repeats another's words."""
    slots = [keys[i % len(keys)] for i in range(KEY_PARTS)]
    runs: dict[str, list[list[Line]]] = {}
    for p in keys:
        share = slots.count(p)
        items = _field_lines(p, skip_summary=p.id == summary_used)
        if share == 1:
            runs[p.id] = [items[:KEY_ITEMS] + [line for line in items[KEY_ITEMS:] if line.field == "quote"]]
        else:
            runs[p.id] = _chunks(items, share)
    taken: dict[str, int] = {}
    parts = []
    for slot, p in enumerate(slots):
        n = taken.get(p.id, 0)
        taken[p.id] = n + 1
        lines = runs[p.id][n] or [Line("Talk through what this means for the families your team works with.")]
        parts.append(Part(number=3 + slot, heading=PART_HEADINGS[2 + slot], lines=tuple(lines), title=p.title,
                          point=p.id, citation=corpus.citation(p), since=since_line(corpus, p), slot=slot))  # fmt: skip
    return parts


def _source(corpus: Corpus, briefing_id: str) -> Source:
    b = corpus.briefings[briefing_id]
    return Source(briefing=b.id, title=b.title, publisher=b.publisher, period=period_label(b), url=b.url, local=b.local)


def assemble(corpus: Corpus, spec: Spec) -> SevenMinuteBriefing:
    """The seven parts for ``spec``; a spec naming points that are gone or off the theme raises NoMatch."""
    theme = corpus.themes.get(spec.theme)
    keys = [corpus.point(k) for k in spec.keys]
    why = corpus.point(spec.why) if spec.why else None
    if theme is None or not keys or any(p is None or spec.theme not in p.themes for p in [*keys, why] if p is not None) \
            or any(k is None for k in keys) or (spec.why and why is None):  # fmt: skip
        raise NoMatch("That briefing's learning points have changed since it was made: run `/scr briefing` again.")
    key_points = [p for p in keys if p is not None]
    cited = ([why] if why else []) + key_points
    briefing_ids = list(dict.fromkeys(p.source.briefing for p in cited))
    sources = tuple(_source(corpus, b) for b in briefing_ids)

    background = [Line(f"A short team briefing on {theme.label}, built from the case review learning below.")]
    background.append(Line(theme.description, "theme"))
    for s in sources:
        label = f"{LOCAL_LABEL}: " if s.local else ""
        background.append(Line(f"{label}{s.title} ({s.publisher})", "source"))
        background.append(Line(s.period, "period"))
    parts = [Part(number=1, heading=PART_HEADINGS[0], lines=tuple(background))]

    lead = why or key_points[0]
    parts.append(Part(number=2, heading=PART_HEADINGS[1], title=lead.title if why else "",
                      lines=(Line(lead.summary, "point", lead.id, "summary"),), point=lead.id,
                      citation=corpus.citation(lead), since=since_line(corpus, lead)))  # fmt: skip
    parts += _key_parts(corpus, _distinct(key_points), summary_used=lead.id)

    questions: list[Line] = []
    for depth in range(3):  # each key point's first question, then their second...
        for p in _distinct(key_points):
            if depth < len(p.questions) and len(questions) < QUESTIONS:
                questions.append(Line(p.questions[depth], "point", p.id, f"questions[{depth}]"))
    parts.append(Part(number=6, heading=PART_HEADINGS[5], lines=tuple(questions)))

    todo = [Line(ACTION_PROMPT), *(Line(q) for q in EMBED_PROMPTS[1:])]
    if any(part.since for part in parts):
        todo.append(Line("Where a part says what has changed since its briefing, check today's local procedures."))
    parts.append(Part(number=7, heading=PART_HEADINGS[6], lines=tuple(todo)))

    others = pool(corpus, spec.theme, spec.briefing)
    spare = [p for p in others if p.id not in spec.keys and p.id != spec.why]
    swappable = tuple(bool(spare) for _ in range(KEY_PARTS))
    return SevenMinuteBriefing(spec=spec, theme_label=theme.label, parts=tuple(parts), sources=sources,
                               swappable=swappable)  # fmt: skip


def swap(corpus: Corpus, spec: Spec, slot: int) -> Spec:
    """``spec`` with key point ``slot`` replaced by the next point of the same theme (and briefing) not
    already in it, going round; unchanged when the theme has no other point."""
    if not 0 <= slot < len(spec.keys):
        return spec
    others = [p.id for p in pool(corpus, spec.theme, spec.briefing)]
    current = spec.keys[slot]
    used = set(spec.keys) | ({spec.why} if spec.why else set())
    start = others.index(current) + 1 if current in others else 0
    for pid in others[start:] + others[:start]:
        if pid not in used:
            keys = list(spec.keys)
            keys[slot] = pid
            return Spec(theme=spec.theme, briefing=spec.briefing, why=spec.why, keys=tuple(keys), query=spec.query)
    return spec


def _distinct(points: list[Point]) -> list[Point]:
    """Points once each, in order (points are not hashable: they hold lists)."""
    seen: set[str] = set()
    return [p for p in points if not (p.id in seen or seen.add(p.id))]


def _suggest(lookup: Lookup, text: str) -> list[tuple[str, str]]:
    return [(s.label, s.query) for s in lookup.nearest(text)]


def exact_theme(corpus: Corpus, text: str) -> str | None:
    """The theme whose id or label is exactly what was typed (any case), else None. `/scr themes` lists each
    theme as its label and id, so typing one back must give that theme, even where the same word also names
    a sector ("partnership") or reads as a search."""
    typed = " ".join(text.split()).casefold()
    return next((t.id for t in corpus.themes.values() if typed in (t.id.casefold(), t.label.casefold())), None)


def build(lookup: Lookup, text: str, across: bool = False) -> SevenMinuteBriefing:
    """A briefing for what was typed after ``/scr briefing``: a theme ("neglect", "dv"), a point id
    ("h14-sudi": the briefing leads with it, on its main theme) or free text (the best-matching point
    leads, on the theme named or the point's main theme). ``across`` draws on every briefing with points
    on the theme instead of the lead's own. Raises ``NoMatch`` when nothing fits."""
    corpus = lookup.corpus
    text = " ".join(text.split())
    if text.lower().startswith("across "):  # "/scr briefing across neglect"
        across, text = True, text[len("across "):]
    if not text:
        raise NoMatch(USAGE)
    q = lookup.parse(text)
    lead: Point | None = None
    exact = exact_theme(corpus, text)
    sectors = [] if exact else list(q.sectors)
    if exact is not None:  # "partnership": the theme `/scr themes` lists, not the sector's word
        theme = exact
    elif q.kind == "point":
        lead = corpus.by_id[q.args[0]]
        theme = lead.themes[0]
    elif q.kind == "lookup" and q.themes:
        theme = q.themes[0]
    else:
        answer = lookup.answer(text)
        if answer.kind == "safety":
            raise NoMatch("That reads like a worry about a child now, not a theme for a team briefing. Follow your "
                          "safeguarding procedures today; `/scr` with the same words shows what to do now.")  # fmt: skip
        if answer.kind == "not_covered" and answer.topic is not None:
            raise NoMatch(f"These briefings do not discuss {answer.topic.label}, so there is no briefing to build on it.",
                          [(s.label, s.query) for s in answer.suggestions])
        if answer.kind not in ("search", "theme", "intersection", "sector") or answer.top is None:
            raise NoMatch("No theme or learning point matches that, so there is no briefing to build. "
                          + USAGE.split(". ", 1)[1], _suggest(lookup, text))  # fmt: skip
        lead = answer.top
        theme = q.themes[0] if q.themes and q.themes[0] in lead.themes else lead.themes[0]
    if lead is None:
        ranked = pool(corpus, theme, None)
        if sectors:  # "police neglect": the sector's own points lead
            ranked = [p for p in ranked if set(sectors) & set(p.sectors)] or ranked
        if not ranked:
            raise NoMatch(f"There are no learning points on {corpus.themes[theme].label} yet.", _suggest(lookup, text))
        counts = {b: sum(1 for p in ranked if p.source.briefing == b) for b in dict.fromkeys(p.source.briefing for p in ranked)}
        richest = max(counts, key=lambda b: counts[b])  # the briefing with most to say on the theme (first if tied)
        lead = next(p for p in ranked if p.source.briefing == richest)
    return assemble(corpus, plan(corpus, theme, None if across else lead.source.briefing, lead, query=text))
