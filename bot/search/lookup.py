"""Answer a ``/scr`` query with learning points: the domain behind the slash command.

The same ``Answer`` is rendered as Block Kit for Slack, as text for the offline shell and as
JSON for ``scr-bot ask --json``, so every surface gives the same results in the same order.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from rapidfuzz.distance import OSA

from bot.content.corpus import SECTION_SEPARATOR, Corpus, NotCovered, Point
from bot.search import safety
from bot.search.index import STOPWORDS, WEAK, SearchIndex, phrase_key, stem, words
from bot.search.query import Query, Vocabulary, parse

PAGE_SIZE = 5
EVERYONE = "multi-agency"
BACKGROUND = "case-reviews"
PRIMARY_WEIGHT = 1.0  # how much being "mainly about" the theme counts, relative to the best text match
SPECIFIC_PRIMARY = 0.3  # ... much less when what was typed names something within the theme ("missing from home")
SPECIFIC_MAX = 6  # a name mentioned by at most this many points picks them out, wherever they sit
THEME_BONUS = 0.5  # in a search, how much carrying a theme that was named counts, relative to the best match
SECTOR_BONUS = 0.25  # in a search, how much being for a sector that was named counts
MIN_RELATIVE = 0.08  # search hits scoring below this fraction of the best are noise, not answers
BACKGROUND_PENALTY = 0.4  # key data and "what is an SCR" points come after practice learning on a theme


# Where practitioners look for what these briefings do not cover (shown with every "not covered" answer).
WHERE_TO_LOOK = (
    "your local safeguarding children partnership's procedures (and your organisation's safeguarding lead)",
    "national statutory guidance, such as Working Together to Safeguard Children",
)


@dataclass(frozen=True)
class Suggestion:
    """Something to try instead: what to show, and what to type after ``/scr``."""

    label: str
    query: str


@dataclass
class Answer:
    query: str
    # help, themes, sectors, theme, sector, intersection, search, point, random, week, not_found, not_covered, empty,
    # safety
    kind: str
    heading: str = ""
    results: list[Point] = field(default_factory=list)
    offset: int = 0
    suggestions: list[Suggestion] = field(default_factory=list)
    notice: str | None = None
    parsed: Query | None = None
    labels: dict[str, str] = field(default_factory=dict)  # point id -> group label (sector lookups)
    why: dict[str, str] = field(default_factory=dict)  # point id -> why it matched, when its own text does not say
    topic: NotCovered | None = None  # for not_covered: the topic these briefings do not discuss
    # A live concern about a child ("a pupil told me…"): how to act now, rendered before anything else.
    safety: safety.SafetyNote | None = None

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
        # A curated "not covered" topic stops being one as soon as any point mentions it.
        self.uncovered = {
            tid: topic
            for tid, topic in corpus.not_covered.items()
            if not any(f" {' '.join(words(name))} " in text for name in topic.names for text in self.content_index.text)
        }
        self.vocab = Vocabulary(corpus, extra_words=self.content_index.word_counts, not_covered=self.uncovered)
        self.rng = rng or random.Random()
        self._suggestions = self._suggestion_pool()

    def parse(self, text: str) -> Query:
        return parse(text, self.corpus, self.vocab)

    def answer(
        self,
        text: str,
        offset: int = 0,
        week_point: Callable[[], str | None] | None = None,
    ) -> Answer:
        verdict = safety.classify(text) if self.corpus.safety else None
        if verdict is not None:  # before any ranking: how to act now, then learning on disclosure and listening
            return self._safety(text, verdict, offset)
        q = self.parse(text)
        ans = self._answer(q, week_point)
        ans.parsed = q
        if ans.results:
            self._phrase_first(ans, q)
            ans.offset = max(0, min(offset, len(ans.results) - 1))
            self._explain(ans, q)
        notices = []
        if q.corrections and (ans.results or ans.kind == "not_covered"):
            fixed = ", ".join(f"“{typed}” → {meant}" for typed, meant in q.corrections.items())
            notices.append(f"Showing results for what we think you meant ({fixed}).")
        if q.uncovered and ans.kind != "not_covered":
            names = " or ".join(self.uncovered[t].label for t in q.uncovered)
            notices.append(f"These briefings do not discuss {names}; the results are for the rest of your words.")
        ans.notice = " ".join(notices) or None
        return ans

    def _safety(self, text: str, verdict: safety.Verdict, offset: int) -> Answer:
        assert self.corpus.safety is not None
        results = safety.learning(self.corpus)
        return Answer(query=text, kind="safety", heading="Learning on listening to children and disclosure",
                      results=results, offset=max(0, min(offset, len(results) - 1)),
                      safety=safety.SafetyNote(self.corpus.safety, verdict))

    def _phrase_first(self, ans: Answer, q: Query) -> None:
        """Several words typed together that few points contain together ("child sex offender disclosure")
        name something specific: the points that contain them, in any field or section term, lead."""
        if ans.kind not in ("search", "theme", "intersection"):
            return
        typed = [w for w in words(q.corrected) if w not in STOPWORDS]
        if len(typed) < 2 or (len(q.named) == 1 and words(q.named[0]) == words(q.corrected)):
            return  # one word, or exactly one theme's name ("county lines"): the theme is the sense meant
        pool = [p for p in self.corpus.points if self._for_sectors(p, q.sectors)] if ans.kind != "search" else None
        hits = self.content_index.mentioning(" ".join(words(q.corrected)), within=pool)
        if 0 < len(hits) <= SPECIFIC_MAX:
            ids = {p.id for p in hits}
            ans.results = [p for p in ans.results if p.id in ids] + [p for p in hits if p not in ans.results] + [
                p for p in ans.results if p.id not in ids]

    def _explain(self, ans: Answer, q: Query) -> None:
        """Say why a point matched when only its cited section mentions what was asked ("MARAC")."""
        if ans.kind not in ("search", "theme", "intersection", "sector"):
            return
        for p in ans.results[ans.offset : ans.offset + 5]:
            term = self.content_index.why(p, q.understood)
            if term:
                heading = p.source.section.split(SECTION_SEPARATOR)[-1]
                ans.why[p.id] = f"The briefing's section “{heading}” mentions {term}."

    def _ranked_by_theme(self, points: list[Point], theme_ids: list[str], typed: str, specific: bool = False) -> list[Point]:
        """Rank a theme's points: what was typed first (an alias such as "sarah's law" picks out the
        point about it), then points whose main theme this is, then relevance to the theme's words."""
        typed_scores = {id(h.point): h.score for h in self.content_index.search(typed, within=points)}
        theme_words = " ".join(
            " ".join([t.label, *t.aliases]) for tid in theme_ids if (t := self.corpus.themes.get(tid))
        )
        theme_scores = {id(h.point): h.score for h in self.index.search(theme_words, within=points)}
        top = max(typed_scores.values(), default=0.0) or 1.0
        order = {id(p): i for i, p in enumerate(points)}
        background = BACKGROUND not in theme_ids

        weight = PRIMARY_WEIGHT * (SPECIFIC_PRIMARY if specific else 1.0)

        def key(p: Point) -> tuple[float, float, int]:
            primary = sum(1 for t in theme_ids if p.themes and p.themes[0] == t) / len(theme_ids)
            score = typed_scores.get(id(p), 0.0) / top + weight * primary
            if background and p.themes[0] == BACKGROUND:  # national figures and "what is an SCR" last
                score -= BACKGROUND_PENALTY
            return (-score, -theme_scores.get(id(p), 0.0), order[id(p)])

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
        if q.kind == "not_covered":
            topic = self.uncovered[q.uncovered[0]]
            related = [Suggestion(c.themes[t].label, t) for t in q.themes]
            related += [Suggestion(c.concepts[k].names[0], c.concepts[k].names[0]) for k in q.concepts]
            related += [Suggestion(s, s) for s in topic.see_also]
            return Answer(query=q.text, kind="not_covered", heading=topic.label, topic=topic, suggestions=related)
        if q.kind == "empty":  # nothing searchable was typed ("🙂", "!!!")
            return Answer(query=q.text, kind="not_found", suggestions=self.nearest(q.understood))
        return Answer(query=q.text, kind=q.kind)

    @staticmethod
    def _for_sectors(point: Point, sectors: list[str]) -> bool:
        """A point is for a sector when tagged with it, or tagged for everyone (multi-agency)."""
        return all(s in point.sectors or EVERYONE in point.sectors for s in sectors)

    @staticmethod
    def _specific(point: Point, sectors: list[str]) -> int:
        return sum(1 for s in sectors if s in point.sectors)

    def _mentioning(self, q: Query, pool: list[Point], theme_ids: list[str]) -> tuple[list[Point], list[Point]]:
        """Points whose own text names what was typed, and points whose cited section does, when it is a
        specific name (mentioned by at most ``SPECIFIC_MAX`` points) rather than the theme itself: not its
        label, and not an abbreviation of one of its names ("dv", "SEND")."""
        if len(theme_ids) != 1:
            return [], []
        theme = self.corpus.themes[theme_ids[0]]
        label = set(_key_words(f"{theme.label} {theme.id.replace('-', ' ')}").split())
        found: list[Point] = []
        by_terms: list[Point] = []
        for name in q.named:
            phrase = " ".join(words(name))
            if not phrase or set(_key_words(phrase).split()) <= label:
                continue
            if self.vocab.expansion.get(_key_words(phrase)):  # an abbreviation: "CAF" as written, not "send"
                hits = self._acronym_in(phrase.upper().removesuffix("S"), pool)
            else:
                hits = self.content_index.mentioning(phrase, within=pool)
            if 0 < len(hits) <= SPECIFIC_MAX:
                own = self.content_index.mentioning(phrase, within=hits, own=True)
                found += [p for p in own if p not in found]
                by_terms += [p for p in hits if p not in own and p not in by_terms]
        return found, [p for p in by_terms if p not in found]

    def _only_names(self, q: Query) -> bool:
        """Whether the query is nothing but concept names (and everyday words)."""
        typed = f" {phrase_key(q.corrected)} "
        for cid in q.concepts:
            for name in self.corpus.concepts[cid].names:
                typed = typed.replace(f" {phrase_key(name)} ", " ")
        return all(w in STOPWORDS or w in WEAK for w in typed.split())

    def _names_within(self, q: Query) -> bool:
        """Whether a theme was named by something within it ("missing from home", "poverty") rather than by
        its own name in other words or an abbreviation ("missing children", "dv")."""
        if len(q.themes) != 1:
            return False
        theme = self.corpus.themes[q.themes[0]]
        label = set(_key_words(f"{theme.label} {theme.id.replace('-', ' ')}").split())
        return any(not set(_key_words(n).split()) <= label and not self.vocab.expansion.get(_key_words(n))
                   and len(self.content_index.mentioning(n)) > 0 for n in q.named)

    @staticmethod
    def _acronym_in(acronym: str, pool: list[Point]) -> list[Point]:
        pattern = re.compile(r"\b" + re.escape(acronym) + r"s?\b")
        return [p for p in pool if pattern.search(" ".join([p.title, p.summary, *p.key_messages, *p.terms]))]

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
            specific = self._names_within(q)
            ranked = self._ranked_by_theme(matching, q.themes, q.understood, specific)
            ranked.sort(key=lambda p: -self._specific(p, q.sectors))  # stable: sector's own points first
            own, by_terms = self._mentioning(q, pool, q.themes)
            if own or by_terms:
                # A specific name ("CAF", "poverty", "MAPPA"): the points that say it themselves lead (the theme's
                # first); points elsewhere whose cited section only mentions it follow the theme's own points.
                first = [p for p in ranked if p in own]
                first += [p for p in self._ranked_by_theme(own, q.themes, q.understood) if p not in first]
                last = [p for p in self._ranked_by_theme(by_terms, q.themes, q.understood) if p not in ranked]
                ranked = first + [p for p in ranked if p not in first] + last
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
        generic = {_key_words(n) for s in q.sectors for n in (s, c.sectors[s].label)}
        specific = _key_words(q.understood) not in generic and any(typed.values())
        ordered = sorted(
            groups.items(),
            key=lambda kv: (
                kv[0] == BACKGROUND and not specific,
                -max(typed.get(id(p), 0.0) for p in kv[1]),
                -len(kv[1]),
                c.themes[kv[0]].label,
            ),
        )
        results = [p for _, ps in ordered for p in ps]
        labels = {p.id: c.themes[tid].label for tid, ps in ordered for p in ps}
        return Answer(query=q.text, kind="sector", heading=heading, results=results, labels=labels)

    def _search(self, q: Query) -> Answer:
        """Free-text search over every point. Themes and sectors named in the query count in a point's
        favour without excluding others ("referral bounced by social care" is about social care, from
        someone who may not work in it); concepts are searched in the briefings' own words."""
        c = self.corpus
        text = q.understood
        for cid in q.concepts:  # the briefings' own words for what was typed, in place of the typed names
            text += " " + " ".join(c.concepts[cid].search)
        hits = self.index.search(text)
        if not hits and (q.themes or q.sectors):  # "nasty divorce": the other words found nothing, the theme did
            return self._lookup(q)
        if not hits:
            return self._not_found(q)
        top = hits[0].score

        def score(h: Any) -> float:
            p = h.point
            bonus = THEME_BONUS * sum(1 for t in q.themes if t in p.themes) / max(1, len(q.themes))
            bonus += SECTOR_BONUS * (self._specific(p, q.sectors) / len(q.sectors) if q.sectors else 0.0)
            return h.score / top + bonus

        ranked = [h.point for h in sorted((h for h in hits if h.score >= MIN_RELATIVE * top), key=lambda h: -score(h))]
        for cid in q.concepts if len(q.concepts) == 1 and self._only_names(q) else ():
            # Asked about just the concept: points using the briefings' own words for it lead, own text first.
            phrases = c.concepts[cid].search
            anywhere = {p.id for ph in phrases for p in self.content_index.mentioning(ph)}
            if 0 < len(anywhere) <= 2 * SPECIFIC_MAX:
                own = {p.id for ph in phrases for p in self.content_index.mentioning(ph, own=True)}
                lead = [p for p in ranked if p.id in own] + [p for p in ranked if p.id in anywhere - own]
                lead += [c.by_id[i] for i in sorted(anywhere) if c.by_id[i] not in lead]
                ranked = lead + [p for p in ranked if p not in lead]
        return Answer(query=q.text, kind="search", heading=f"Search: {q.text}", results=ranked)

    def _not_found(self, q: Query, heading: str = "") -> Answer:
        return Answer(query=q.text, kind="not_found", heading=heading, suggestions=self.nearest(q.understood))

    def _suggestion_pool(self) -> list[tuple[Suggestion, frozenset[str]]]:
        """What a "did you mean" can offer: themes (by label and every alias), concepts, point titles and
        the terms the briefings' sections mention, each with the words it is known by."""
        c = self.corpus
        pool: list[tuple[Suggestion, frozenset[str]]] = []
        for t in c.themes.values():
            for name in (t.label, *t.aliases):
                pool.append((Suggestion(t.label, t.id), frozenset(words(name))))
        for con in c.concepts.values():
            for name in con.names:
                pool.append((Suggestion(con.names[0], con.names[0]), frozenset(words(name))))
        for p in c.points:
            pool.append((Suggestion(p.title, p.id), frozenset(words(p.title))))
            for term in p.terms:
                pool.append((Suggestion(f"{term} ({p.title})", p.id), frozenset(words(term))))
        return pool

    def nearest(self, text: str, limit: int = 3) -> list[Suggestion]:
        """Suggestions nearest in meaning to what was typed: names sharing a word (or a word's stem, or a
        near spelling of it), rarer words counting more. Nothing near means no suggestions, never a guess."""
        typed = [w for w in words(text) if w not in STOPWORDS]
        if not typed:
            return []
        scored: dict[Suggestion, float] = {}
        for suggestion, names in self._suggestions:
            score = 0.0
            for w in typed:
                weight = self.content_index.weight(w) * (0.3 if w in WEAK else 1.0)
                best = 0.0
                for n in names:
                    if n == w or stem(n) == stem(w):
                        best = 1.0
                        break
                    if len(w) >= 5 and len(n) >= 5 and OSA.distance(n, w, score_cutoff=2) <= 2:
                        best = max(best, 0.6)
                score += weight * best
            if score > 0:
                scored[suggestion] = max(scored.get(suggestion, 0.0), score / (1 + 0.1 * len(names)))
        out: list[Suggestion] = []
        seen: set[str] = set()
        for suggestion, _ in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0].label)):
            if suggestion.query not in seen:
                out.append(suggestion)
                seen.add(suggestion.query)
            if len(out) == limit:
                break
        return out


def _key_words(text: str) -> str:
    return " ".join(stem(w) for w in words(text) if w not in STOPWORDS)


class RenderedCache:
    """A bounded least-recently-used cache of rendered answers (the Block Kit message for a query).

    Building and validating a ~7 kB Block Kit answer is most of the work of a lookup, and people
    repeat the same few queries. Keys include the content's version, so answers built from content
    that has since changed are never served; ``max_size`` bounds memory.
    """

    def __init__(self, max_size: int = 512):
        self.max_size = max_size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
