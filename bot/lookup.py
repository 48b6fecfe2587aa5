"""Answer a ``/scr`` query with learning points: the domain behind the slash command.

The same ``Answer`` is rendered as Block Kit for Slack, as text for the offline shell and as
JSON for ``scr-bot ask --json``, so every surface gives the same results in the same order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.content import Corpus, Point
from bot.query import Query, Vocabulary, parse
from bot.search import SearchIndex

PAGE_SIZE = 5
EVERYONE = "multi-agency"
BACKGROUND = "case-reviews"
PRIMARY_WEIGHT = 0.35  # how much being "mainly about" the theme counts, relative to the best text match


@dataclass
class Answer:
    query: str
    kind: str  # help, themes, sectors, theme, sector, intersection, search, point, random, week, not_found
    heading: str = ""
    results: list[Point] = field(default_factory=list)
    offset: int = 0
    suggestions: list[str] = field(default_factory=list)
    notice: str | None = None
    parsed: Query | None = None
    labels: dict[str, str] = field(default_factory=dict)  # point id -> group label (sector lookups)

    @property
    def top(self) -> Point | None:
        return self.results[self.offset] if 0 <= self.offset < len(self.results) else None

    @property
    def rest(self) -> list[Point]:
        return self.results[self.offset + 1 : self.offset + PAGE_SIZE]

    @property
    def has_more(self) -> bool:
        return self.offset + PAGE_SIZE < len(self.results)


class Lookup:
    """Holds the corpus, its search index and vocabulary; answers queries."""

    def __init__(self, corpus: Corpus, rng: random.Random | None = None):
        self.corpus = corpus
        self.index = SearchIndex(corpus)
        self.content_index = SearchIndex(corpus, theme_words=False)
        self.vocab = Vocabulary(corpus)
        self.rng = rng or random.Random()

    def parse(self, text: str) -> Query:
        return parse(text, self.corpus, self.vocab)

    def answer(
        self,
        text: str,
        offset: int = 0,
        week_point: Callable[[], str | None] | None = None,
    ) -> Answer:
        q = self.parse(text)
        ans = self._answer(q, week_point)
        ans.parsed = q
        if ans.results:
            ans.offset = max(0, min(offset, len(ans.results) - 1))
        if q.corrections and ans.results:
            fixed = ", ".join(f"“{typed}” → {meant}" for typed, meant in q.corrections.items())
            ans.notice = f"Showing results for what we think you meant ({fixed})."
        return ans

    def _ranked_by_theme(self, points: list[Point], theme_ids: list[str], typed: str) -> list[Point]:
        """Rank a theme's points: what was typed first (an alias such as "sarah's law" picks out the
        point about it), then points whose main theme this is, then relevance to the theme's words."""
        typed_scores = {id(h.point): h.score for h in self.content_index.search(typed, within=points)}
        theme_words = " ".join(
            " ".join([t.label, *t.aliases]) for tid in theme_ids if (t := self.corpus.themes.get(tid))
        )
        theme_scores = {id(h.point): h.score for h in self.index.search(theme_words, within=points)}
        top = max(typed_scores.values(), default=0.0)
        order = {id(p): i for i, p in enumerate(points)}

        def key(p: Point) -> tuple[float, float, int]:
            primary = sum(1 for t in theme_ids if p.themes and p.themes[0] == t)
            return (-(typed_scores.get(id(p), 0.0) + PRIMARY_WEIGHT * top * primary), -theme_scores.get(id(p), 0.0), order[id(p)])

        return sorted(points, key=key)

    def _answer(self, q: Query, week_point: Callable[[], str | None] | None) -> Answer:
        c = self.corpus
        if q.kind in ("help", "themes", "sectors"):
            return Answer(query=q.text, kind=q.kind)
        if q.kind == "point":
            return Answer(query=q.text, kind="point", heading=q.args[0], results=[c.by_id[q.args[0]]])
        if q.kind == "random":
            return Answer(query=q.text, kind="random", heading="A random learning point", results=[self.rng.choice(c.points)])
        if q.kind == "week":
            pid = week_point() if week_point else None
            point = c.point(pid) if pid else None
            if point is None:
                return Answer(query=q.text, kind="week", heading="Learning point of the week")
            return Answer(query=q.text, kind="week", heading="Learning point of the week", results=[point])
        if q.kind == "lookup":
            return self._lookup(q)
        if q.kind == "search":
            return self._search(q)
        if q.kind in ("empty",):
            return self._not_found(q)
        return Answer(query=q.text, kind=q.kind)

    @staticmethod
    def _for_sectors(point: Point, sectors: list[str]) -> bool:
        """A point is for a sector when tagged with it, or tagged for everyone (multi-agency)."""
        return all(s in point.sectors or EVERYONE in point.sectors for s in sectors)

    @staticmethod
    def _specific(point: Point, sectors: list[str]) -> int:
        return sum(1 for s in sectors if s in point.sectors)

    def _lookup(self, q: Query) -> Answer:
        c = self.corpus
        pool = [p for p in c.points if self._for_sectors(p, q.sectors)]
        names = [c.sectors[s].label for s in q.sectors] + [c.themes[t].label for t in q.themes]
        heading = " · ".join(names)
        if q.themes:
            matching = [p for p in pool if all(t in p.themes for t in q.themes)]
            if not matching and len(q.themes) > 1:
                matching = [p for p in pool if any(t in p.themes for t in q.themes)]
            if not matching:
                return self._not_found(q, heading=heading)
            kind = "intersection" if q.sectors or len(q.themes) > 1 else "theme"
            ranked = self._ranked_by_theme(matching, q.themes, q.understood)
            ranked.sort(key=lambda p: -self._specific(p, q.sectors))  # stable: sector's own points first
            return Answer(query=q.text, kind=kind, heading=heading, results=ranked)
        if not pool:
            return self._not_found(q, heading=heading)
        # Sector: grouped by each point's main theme, biggest groups first.
        # Within the sector, the words typed ("camhs", "school nurse") pick the most relevant points;
        # the sector's own points come before those written for everyone.
        typed = {id(h.point): h.score for h in self.content_index.search(q.understood, within=pool)}
        pool.sort(key=lambda p: (-self._specific(p, q.sectors), -typed.get(id(p), 0.0)))
        groups: dict[str, list[Point]] = {}
        for p in pool:
            groups.setdefault(p.themes[0], []).append(p)
        # Groups with the best match first; background (what reviews are, national figures) last.
        ordered = sorted(
            groups.items(),
            key=lambda kv: (
                kv[0] == BACKGROUND,
                -max(typed.get(id(p), 0.0) for p in kv[1]),
                -len(kv[1]),
                c.themes[kv[0]].label,
            ),
        )
        results = [p for _, ps in ordered for p in ps]
        labels = {p.id: c.themes[tid].label for tid, ps in ordered for p in ps}
        return Answer(query=q.text, kind="sector", heading=heading, results=results, labels=labels)

    def _search(self, q: Query) -> Answer:
        c = self.corpus
        text = q.free_text or q.text
        hits = []
        if q.sectors:
            pool = [p for p in c.points if self._for_sectors(p, q.sectors)]
            hits = self.index.search(text, within=pool)
        if not hits:
            hits = self.index.search(text)
        if not hits:
            return self._not_found(q)
        return Answer(query=q.text, kind="search", heading=f"Search: {q.text}", results=[h.point for h in hits])

    def _not_found(self, q: Query, heading: str = "") -> Answer:
        return Answer(
            query=q.text, kind="not_found", heading=heading, suggestions=self.vocab.closest_themes(q.text or "neglect")
        )
