"""Answer a ``/scr`` query with learning points: the domain behind the slash command.

A lookup is one pass of four steps, each in one place:

1. **Parse** (``Lookup.parse``, bot.search.query): the text is cleaned and split into words once, giving
   a ``ParsedQuery``: the command, sectors, themes, concepts and not-covered topics named (longest name
   first, spelling corrected), abbreviations spelled out ("wnb" -> "was not brought"), frame words
   ("show me", "please") set aside, and the words ranking uses (``tokens``). Nothing after this step
   splits the text again.
2. **Gather** (``Lookup._gather``): the candidate points, each with its ``Evidence``: how its text matches
   what was typed (BM25F parts), how it matches the named themes' names, whether it carries a named
   theme (as its main theme or not), how many named sectors it is tagged with itself, whether the typed
   words appear together in it (a phrase), whether a specific name typed is in its own words or only in
   its cited section's terms, whether it uses the briefings' words for a concept typed, and which term of
   its cited section the query reached it by.
3. **Rank** (``Lookup._rank``): the candidates are ordered once, reading only their evidence; no search
   runs here. A question in a full sentence is ranked by its content: its frame ("what should I do if",
   "what does the research say about") was set aside in parsing, and in a search the points mainly about a
   theme the sentence names are answers even when they do not repeat the words typed for it. A role typed
   ("gp", "midwife") puts the points that name it first. The live-concern safety net runs before all this
   (``Lookup.answer``); a "what do I do" question it catches leads its learning with the question's topic.
4. **Explain** (``Lookup._explain``): the "why this result" lines the answer shows, from the same evidence.

The same ``Answer`` is rendered as Block Kit for Slack, as text for the offline shell and as
JSON for ``scr-bot ask --json``, so every surface gives the same results in the same order.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from rapidfuzz.distance import OSA

from bot.content.corpus import SECTION_SEPARATOR, Corpus, NotCovered, Point
from bot.search import indexcache, safety
from bot.search.index import (
    STOPWORDS,
    WEAK,
    Match,
    Matches,
    SearchIndex,
    key_of,
    phrase_key,
    relative_scores,
    stem,
    words,
)
from bot.search.query import ParsedQuery, Query, Vocabulary, parse

PAGE_SIZE = 5
EVERYONE = "multi-agency"
BACKGROUND = "case-reviews"
PRIMARY_WEIGHT = 1.0  # how much being "mainly about" the theme counts, relative to the best text match
SPECIFIC_PRIMARY = 0.3  # ... much less when what was typed names something within the theme ("missing from home")
SPECIFIC_MAX = 6  # a name mentioned by at most this many points picks them out, wherever they sit
THEME_BONUS = 0.5  # in a search, how much carrying a theme that was named counts, relative to the best match
MAIN_THEME_BONUS = 0.3  # ... and more when the named theme is the point's main theme (what it is mainly about)
SECTOR_BONUS = 0.25  # in a search, how much being for a sector that was named counts
MIN_RELATIVE = 0.08  # search hits scoring below this fraction of the best are noise, not answers
BACKGROUND_PENALTY = 0.4  # key data and "what is an SCR" points come after practice learning on a theme
SAFETY_ASKED = 3  # after the safety note, how many points on the question's own topic lead the learning
ASKING = "asking what to do now"  # the safety net's cue for a question's frame, not a disclosure or harm described
ROLE_PREFIX = 5  # letters of a stem compared for a role's name ("midwif" ~ "midwiv", "offic" ~ "offic")
THEME_CACHE_MAX = 256  # combinations of named themes whose names' matches are kept between lookups


# Commands that act on a workspace, a channel or a person (``/scr subscribe``): the Slack handler routes them
# before any lookup, so one reaching a lookup (``scr-bot ask subscribe``) is answered with where it works.
SLACK_COMMANDS = frozenset({"subscribe", "unsubscribe", "schedule", "reflections", "export", "quiz", "digest",
                            "admins", "audit", "briefing", "settings", "forget"})

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
class Evidence:
    """What one candidate point has going for it, gathered once per lookup: ranking and the "why this
    result" line read only this."""

    point: Point
    text: Match | None = None  # what was typed, against its text (every field in a search; its own text otherwise)
    theme_text: Match | None = None  # the named themes' names and aliases, against its text (theme lookups)
    in_themes: int = 0  # how many of the named themes it carries
    main_theme: bool = False  # its main (first) theme is a named one
    sectors: int = 0  # how many of the named sectors it is tagged with itself (not only as multi-agency)
    phrase: bool = False  # the typed words, together and in order, are in its text (own words or section)
    name: str | None = None  # a specific name typed: "own" (its own words say it) or "section" (only its section)
    concept: str | None = None  # the briefings' words for the concept typed: "own" or "section"
    section_term: str | None = None  # the cited section's term the query reached it by, which its own text lacks


@dataclass
class Candidates:
    """Step 2's output: where the query leads (``route``), the points in scope with their evidence, and
    the orders that ranking keeps where evidence ties (the corpus's, and the order names were found in)."""

    route: str  # "search", "theme", "sector" or "not_found"
    scope: list[Point]  # in corpus order: every point for a search, the named sectors' points otherwise
    evidence: dict[str, Evidence]
    text_total: float = 0.0  # the weight of everything typed (for ``relative_scores``)
    theme_total: float = 0.0
    in_theme: list[Point] = field(default_factory=list)  # theme route: the points carrying the named themes
    named_own: list[Point] = field(default_factory=list)  # a specific name typed, in their own words (order found)
    named_section: list[Point] = field(default_factory=list)  # ... only in their section's terms (order found)
    specific: bool = False  # a theme named by something within it ("poverty"), not by its own name
    unsaid: bool = False  # theme route: no point in it says the name typed (nor what an abbreviation stands for)
    heading: str = ""


@dataclass
class Answer:
    query: str
    # help, themes, sectors, theme, sector, intersection, search, point, random, week, not_found, not_covered, empty,
    # safety, command (a Slack command asked outside Slack: ``heading`` names it)
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
    evidence: dict[str, Evidence] = field(default_factory=dict)  # point id -> what it was found and ranked by

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
    """Holds the corpus, its search index and vocabulary; answers queries in one pass (see the module)."""

    def __init__(self, corpus: Corpus, rng: random.Random | None = None, cache_dir: Path | None = None):
        """``cache_dir`` (``Settings.cache_dir``): where the search indexes are kept between runs
        (bot.search.indexcache); None builds them here."""
        self.corpus = corpus
        self.index: SearchIndex
        self.content_index: SearchIndex
        self.index, self.content_index = indexcache.indexes(corpus, cache_dir)
        # A curated "not covered" topic stops being one as soon as any point mentions it. Each point's text starts
        # and ends with a space and has no line break, so a name (spaced words) is in the texts joined by line
        # breaks exactly when it is in one of them: one search per name instead of one per name and point.
        every_text = "\n".join(self.content_index.text)
        self.uncovered = {
            tid: topic
            for tid, topic in corpus.not_covered.items()
            if not any(f" {' '.join(words(name))} " in every_text for name in topic.names)
        }
        self.vocab = Vocabulary(corpus, extra_words=self.content_index.word_counts, not_covered=self.uncovered)
        self.rng = rng or random.Random()
        self._suggestions = self._suggestion_pool()
        # The content's own names, split into words once here so that a lookup splits only what was typed.
        self._theme_words = {t.id: words(" ".join([t.label, *t.aliases])) for t in corpus.themes.values()}
        self._theme_label = {t.id: set(_stems(words(f"{t.label} {t.id.replace('-', ' ')}")).split())
                             for t in corpus.themes.values()}
        self._sector_names = {s.id: {_stems(words(n)) for n in (s.id, s.label)} for s in corpus.sectors.values()}
        self._concept_words = {c.id: words(" ".join(c.search)) for c in corpus.concepts.values()}
        self._concept_keys = {c.id: [phrase_key(ph) for ph in c.search] for c in corpus.concepts.values()}
        self._concept_names = {c.id: [phrase_key(n) for n in c.names] for c in corpus.concepts.values()}
        self._theme_matches: dict[tuple[tuple[str, ...], frozenset[int]], Matches] = {}
        # Each point's own words cut to their first letters, so a role matches whatever its ending.
        self._own_prefixes = [" ".join(w[:ROLE_PREFIX] for w in text.split()) + " " for text in self.content_index.own_text]

    def parse(self, text: str) -> Query:
        return parse(text, self.corpus, self.vocab)

    def answer(
        self,
        text: str,
        offset: int = 0,
        week_point: Callable[[], str | None] | None = None,
        parsed: ParsedQuery | None = None,
    ) -> Answer:
        """Parse → gather candidates with evidence → rank → explain. ``parsed`` is ``self.parse(text)`` when
        the caller already has it (the ``/scr`` handler parses to route commands), so it is not parsed twice."""
        verdict = safety.classify(text) if self.corpus.safety else None
        if verdict is not None:  # before any ranking: how to act now, then learning on disclosure and listening
            return self._safety(text, verdict, offset)
        q = parsed if parsed is not None else self.parse(text)
        ans = self._direct(q, week_point)
        if ans is None:
            found = self._gather(q)
            ans = self._rank(q, found)
        ans.parsed = q
        if ans.results:
            ans.offset = max(0, min(offset, len(ans.results) - 1))
            ans.why = self._explain(ans)
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
        """How to act now, then learning: on disclosure and listening, unless the question names a topic of its
        own ("what should I do if a parent won't let me see the child"), whose points come first."""
        assert self.corpus.safety is not None
        learning = safety.learning(self.corpus)
        asked = self._asked_beside(text, verdict)
        results = asked + [p for p in learning if p not in asked]
        heading = "Learning on listening to children and disclosure"
        if asked:
            heading = "Learning on what you asked, then on listening to children and disclosure"
        return Answer(query=text, kind="safety", heading=heading,
                      results=results, offset=max(0, min(offset, len(results) - 1)),
                      safety=safety.SafetyNote(self.corpus.safety, verdict))

    def _asked_beside(self, text: str, verdict: safety.Verdict) -> list[Point]:
        """The points on what a "what do I do" question is about, when it names a theme or concept beyond
        disclosure and listening: the question's content ranked by the usual pass, its frame set aside. A
        disclosure or harm described ("a pupil told me…") keeps the disclosure learning alone."""
        if verdict.cue != ASKING:
            return []
        rest = safety.normalise(text).replace(verdict.matched, " ", 1)
        q = self.parse(rest)
        listening = set(self.corpus.safety.learning.themes) if self.corpus.safety else set()
        if q.kind not in ("lookup", "search") or not (set(q.themes) - listening or q.concepts):
            return []
        found = self._gather(q)
        return self._rank(q, found).results[:SAFETY_ASKED]

    # Answers that need no ranking: commands, a point by id, a random point, the week's point, a topic
    # these briefings do not cover, nothing searchable typed.

    def _direct(self, q: ParsedQuery, week_point: Callable[[], str | None] | None) -> Answer | None:
        """The answer when the query is not a lookup or search, else None (it is gathered and ranked)."""
        c = self.corpus
        if q.kind in ("lookup", "search"):
            return None
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
        if q.kind == "not_covered":
            topic = self.uncovered[q.uncovered[0]]
            related = [Suggestion(c.themes[t].label, t) for t in q.themes]
            related += [Suggestion(c.concepts[k].names[0], c.concepts[k].names[0]) for k in q.concepts]
            related += [Suggestion(s, s) for s in topic.see_also]
            return Answer(query=q.text, kind="not_covered", heading=topic.label, topic=topic, suggestions=related)
        if q.kind == "empty":  # nothing searchable was typed ("🙂", "!!!")
            return Answer(query=q.text, kind="not_found", suggestions=self._nearest(q.tokens))
        if q.kind == "code":  # SQL, a script tag, a template or a path: nothing close, and no stray-word guesses
            return Answer(query=q.text, kind="not_found")
        if q.kind in SLACK_COMMANDS:  # "scr-bot ask subscribe": a command, not a search for the word
            return Answer(query=q.text, kind="command", heading="forget me" if q.kind == "forget" else q.kind)
        return Answer(query=q.text, kind=q.kind)

    # Step 2: candidates and their evidence.

    def _gather(self, q: ParsedQuery) -> Candidates:
        """Every point in scope with the evidence for it; each search of the index runs here, once."""
        c = self.corpus
        if q.kind == "search":
            tokens = list(q.tokens)
            for cid in q.concepts:  # the briefings' own words for what was typed, beside the typed names
                tokens += self._concept_words[cid]
            matches = self.index.matches(tokens)
            if not matches.by_doc and not (q.themes or q.sectors):
                return Candidates("not_found", [], {})
            if matches.by_doc:  # else "nasty divorce": the other words found nothing, the theme will
                found = Candidates("search", list(c.points), {}, matches.total)
                found.evidence = {p.id: self._evidence(p, q) for p in found.scope}
                for i, m in matches.by_doc.items():
                    found.evidence[self.index.docs[i].id].text = m
                if len(q.concepts) == 1 and self._only_names(q):
                    self._concept_evidence(found, q.concepts[0])
                self._phrase_evidence(found, q)
                return found
        scope = [p for p in c.points if self._for_sectors(p, q.sectors)]
        heading = " · ".join([c.sectors[s].label for s in q.sectors] + [c.themes[t].label for t in q.themes])
        in_theme = [p for p in scope if all(t in p.themes for t in q.themes)] if q.themes else []
        if not in_theme and len(q.themes) > 1:
            in_theme = [p for p in scope if any(t in p.themes for t in q.themes)]
        route = "theme" if in_theme else "sector" if scope and not q.themes else "not_found"
        if route == "not_found":
            return Candidates(route, [], {}, heading=heading)
        matches = self.content_index.matches(q.tokens)
        found = Candidates(route, scope, {p.id: self._evidence(p, q) for p in scope}, matches.total,
                           in_theme=in_theme, heading=heading)
        for i, m in matches.by_doc.items():
            if (ev := found.evidence.get(self.content_index.docs[i].id)) is not None:
                ev.text = m
        if route == "theme":
            found.specific = self._names_within(q)
            found.unsaid = not found.specific and self._names_unsaid(q, in_theme)
            self._name_evidence(found, q)
            ranked = frozenset(self.index.position[p.id] for p in [*in_theme, *found.named_own, *found.named_section])
            theme_matches = self._theme_names_matches(tuple(q.themes), ranked)
            found.theme_total = theme_matches.total
            for i, m in theme_matches.by_doc.items():
                found.evidence[self.index.docs[i].id].theme_text = m
            self._phrase_evidence(found, q)
        return found

    def _evidence(self, p: Point, q: ParsedQuery) -> Evidence:
        return Evidence(
            point=p,
            in_themes=sum(1 for t in q.themes if t in p.themes),
            main_theme=bool(p.themes) and p.themes[0] in q.themes,
            sectors=sum(1 for s in q.sectors if s in p.sectors),
            section_term=self.content_index.section_term(p, q.tokens),
        )

    def _theme_names_matches(self, theme_ids: tuple[str, ...], within: frozenset[int]) -> Matches:
        """The named themes' names and aliases against the points to be ranked by them (positions ``within``).
        Every alias makes a long query, so only those points, and kept for the next query naming the same."""
        if (cached := self._theme_matches.get((theme_ids, within))) is None:
            tokens = [w for tid in theme_ids if tid in self.corpus.themes for w in self._theme_words[tid]]
            cached = self.index.matches(tokens, within=within)
            if len(self._theme_matches) < THEME_CACHE_MAX:  # bounded: what people type picks the combinations
                self._theme_matches[(theme_ids, within)] = cached
        return cached

    def _phrase_evidence(self, found: Candidates, q: ParsedQuery) -> None:
        """Several words typed together ("child sex offender disclosure"): which points contain them together,
        in any field or section term. Not for one word, nor for exactly one theme's name ("county lines")."""
        typed = [w for w in q.corrected_words if w not in STOPWORDS]
        if len(typed) < 2 or (len(q.named_words) == 1 and q.named_words[0] == q.corrected_words):
            return
        for p in self.content_index.mentioning_key(q.phrase, within=found.scope):
            found.evidence[p.id].phrase = True

    def _concept_evidence(self, found: Candidates, cid: str) -> None:
        """Which points use the briefings' own words for the one concept asked about, in their own text or
        elsewhere (section heading or terms)."""
        for key in self._concept_keys[cid]:
            for p in self.content_index.mentioning_key(key):
                ev = found.evidence[p.id]
                if ev.concept is None:
                    ev.concept = "section"
            for p in self.content_index.mentioning_key(key, own=True):
                found.evidence[p.id].concept = "own"

    def _name_evidence(self, found: Candidates, q: ParsedQuery) -> None:
        """Points whose own text names what was typed, and points whose cited section does, when it is a
        specific name (mentioned by at most ``SPECIFIC_MAX`` points) rather than the theme itself: not its
        label, and not an abbreviation of one of its names ("dv", "SEND")."""
        if len(q.themes) != 1:
            return
        label = self._theme_label[q.themes[0]]
        own: list[Point] = []
        by_terms: list[Point] = []
        for name in q.named_words:
            stems = _stems(name)
            if not name or set(stems.split()) <= label:
                continue
            if self.vocab.expansion.get(stems):  # an abbreviation: "CAF" as written, not "send"
                hits = self._acronym_in(" ".join(name).upper().removesuffix("S"), found.scope)
            else:
                hits = self.content_index.mentioning_key(key_of(name), within=found.scope)
            if 0 < len(hits) <= SPECIFIC_MAX:
                said = self.content_index.mentioning_key(key_of(name), within=hits, own=True)
                own += [p for p in said if p not in own]
                by_terms += [p for p in hits if p not in said and p not in by_terms]
        found.named_own = own
        found.named_section = [p for p in by_terms if p not in own]
        for p in found.named_own:
            found.evidence[p.id].name = "own"
        for p in found.named_section:
            found.evidence[p.id].name = "section"

    def _names_unsaid(self, q: ParsedQuery, points: list[Point]) -> bool:
        """Whether none of ``points`` says any theme name typed, nor what a typed abbreviation stands for:
        the theme was named in other words than the briefings' ("apparent cooperation", "cot death"), so
        a point sharing one of those words ("cooperation") is not thereby about it."""
        keys = [key_of(name) for name in q.named_words]
        keys += [key_of(self.vocab.spelled_out(name)) for name in q.named_words]
        return not any(self.content_index.mentioning_key(key, within=points) for key in keys if key.strip())

    def _only_names(self, q: ParsedQuery) -> bool:
        """Whether the query is nothing but concept names (and everyday words)."""
        typed = f" {q.phrase} "
        for cid in q.concepts:
            for key in self._concept_names[cid]:
                typed = typed.replace(f" {key} ", " ")
        return all(w in STOPWORDS or w in WEAK for w in typed.split())

    def _names_within(self, q: ParsedQuery) -> bool:
        """Whether a theme was named by something within it ("missing from home", "poverty") rather than by
        its own name in other words or an abbreviation ("missing children", "dv")."""
        if len(q.themes) != 1:
            return False
        label = self._theme_label[q.themes[0]]
        return any(not set(_stems(n).split()) <= label and not self.vocab.expansion.get(_stems(n))
                   and len(self.content_index.mentioning_key(key_of(n))) > 0 for n in q.named_words)

    @staticmethod
    def _acronym_in(acronym: str, pool: list[Point]) -> list[Point]:
        pattern = re.compile(r"\b" + re.escape(acronym) + r"s?\b")
        return [p for p in pool if pattern.search(" ".join([p.title, p.summary, *p.key_messages, *p.terms]))]

    @staticmethod
    def _for_sectors(point: Point, sectors: list[str]) -> bool:
        """A point is for a sector when tagged with it, or tagged for everyone (multi-agency)."""
        return all(s in point.sectors or EVERYONE in point.sectors for s in sectors)

    # Step 3: rank, from the evidence alone.

    def _rank(self, q: ParsedQuery, found: Candidates) -> Answer:
        """Order the candidates by their evidence, once; the answer's kind follows the route."""
        if found.route == "not_found":
            return Answer(query=q.text, kind="not_found", heading=found.heading, suggestions=self._nearest(q.tokens))
        if found.route == "sector":
            return self._rank_sector(q, found)
        if found.route == "search":
            kind, heading, results = "search", f"Search: {q.text}", self._rank_search(q, found)
        else:
            kind = "intersection" if q.sectors or len(q.themes) > 1 else "theme"
            heading, results = found.heading, self._rank_theme(q, found)
        # Several words typed together that few points contain together name something specific: those lead.
        phrase = [p for p in found.scope if found.evidence[p.id].phrase]
        if 0 < len(phrase) <= SPECIFIC_MAX:
            results = ([p for p in results if found.evidence[p.id].phrase] + [p for p in phrase if p not in results]
                       + [p for p in results if not found.evidence[p.id].phrase])
        return Answer(query=q.text, kind=kind, heading=heading, results=results, evidence=found.evidence)

    def _rank_search(self, q: ParsedQuery, found: Candidates) -> list[Point]:
        """Free-text search over every point. Themes and sectors named in the query count in a point's
        favour without excluding others ("referral bounced by social care" is about social care, from
        someone who may not work in it); concepts are searched in the briefings' own words."""
        ev = found.evidence
        scores = relative_scores({p.id: ev[p.id].text for p in found.scope if ev[p.id].text}, found.text_total)
        hits = sorted(scores, key=lambda pid: (-scores[pid], self.index.position[pid]))
        top = scores[hits[0]]
        # A theme named in a sentence ("…high caseloads…", "…what I want to hear") is what the sentence is about:
        # the points mainly about it are answers even when they do not repeat the word typed for it.
        for p in found.scope:
            if ev[p.id].main_theme:
                scores[p.id] = max(scores.get(p.id, 0.0), MIN_RELATIVE * top)

        def score(pid: str) -> float:
            e = ev[pid]
            bonus = THEME_BONUS * e.in_themes / max(1, len(q.themes))
            bonus += MAIN_THEME_BONUS * e.main_theme
            bonus += SECTOR_BONUS * (e.sectors / len(q.sectors) if q.sectors else 0.0)
            return scores[pid] / top + bonus

        ranked = [self.corpus.by_id[pid] for pid in sorted((h for h in scores if scores[h] >= MIN_RELATIVE * top),
                                                           key=lambda h: (-score(h), self.index.position[h]))]
        anywhere = [p for p in found.scope if ev[p.id].concept]
        if 0 < len(anywhere) <= 2 * SPECIFIC_MAX:
            # Asked about just the concept: points using the briefings' own words for it lead, own text first.
            lead = [p for p in ranked if ev[p.id].concept == "own"] + [p for p in ranked if ev[p.id].concept == "section"]
            lead += [p for p in sorted(anywhere, key=lambda p: p.id) if p not in lead]
            ranked = lead + [p for p in ranked if p not in lead]
        return ranked

    def _rank_theme(self, q: ParsedQuery, found: Candidates) -> list[Point]:
        """A theme's points (within the named sectors): the sector's own points first, each group by
        ``_by_theme``; a specific name typed ("CAF", "poverty", "MAPPA") puts the points that say it
        themselves first (the theme's first), and points elsewhere whose cited section only mentions it
        after the theme's own points."""
        ev = found.evidence
        ranked = self._by_theme(found.in_theme, q.themes, found, found.specific, found.unsaid)
        ranked.sort(key=lambda p: -ev[p.id].sectors)  # stable: sector's own points first
        if found.named_own or found.named_section:
            first = [p for p in ranked if ev[p.id].name == "own"]
            first += [p for p in self._by_theme(found.named_own, q.themes, found) if p not in first]
            last = [p for p in self._by_theme(found.named_section, q.themes, found) if p not in ranked]
            ranked = first + [p for p in ranked if p not in first] + last
        return ranked

    def _by_theme(self, points: list[Point], theme_ids: list[str], found: Candidates, specific: bool = False,
                  unsaid: bool = False) -> list[Point]:
        """Rank a theme's points: what was typed first (an alias such as "sarah's law" picks out the
        point about it), then points whose main theme this is, then relevance to the theme's words.
        Text scores are relative to the best among ``points``. When no point says the name typed
        (``unsaid``: "apparent cooperation"), a text match is only a word shared with it, so the points
        mainly about the theme lead, ordered among themselves by that relevance."""
        ev = found.evidence
        typed_scores = relative_scores({p.id: ev[p.id].text for p in points if ev[p.id].text}, found.text_total)
        theme_scores = relative_scores({p.id: ev[p.id].theme_text for p in points if ev[p.id].theme_text},
                                       found.theme_total)
        top = max(typed_scores.values(), default=0.0) or 1.0
        order = {p.id: i for i, p in enumerate(points)}
        background = BACKGROUND not in theme_ids
        weight = PRIMARY_WEIGHT * (SPECIFIC_PRIMARY if specific else 1.0)

        def key(p: Point) -> tuple[float, float, float, int]:
            primary = int(ev[p.id].main_theme) / len(theme_ids)
            score = typed_scores.get(p.id, 0.0) / top + weight * primary
            if background and p.themes[0] == BACKGROUND:  # national figures and "what is an SCR" last
                score -= BACKGROUND_PENALTY
            lead = primary if unsaid else 0.0
            return (-lead, -score, -theme_scores.get(p.id, 0.0), order[p.id])

        return sorted(points, key=key)

    def _rank_sector(self, q: ParsedQuery, found: Candidates) -> Answer:
        """A sector: grouped by each point's main theme, biggest groups first. Within the sector, the words
        typed ("camhs", "school nurse") pick the most relevant points; the sector's own points come before
        those written for everyone."""
        c = self.corpus
        ev = found.evidence
        pool = list(found.scope)
        typed = relative_scores({p.id: ev[p.id].text for p in pool if ev[p.id].text}, found.text_total)
        pool.sort(key=lambda p: (-ev[p.id].sectors, -typed.get(p.id, 0.0)))
        groups: dict[str, list[Point]] = {}
        for p in pool:
            groups.setdefault(p.themes[0], []).append(p)
        # Groups with the best match first; background (what reviews are, national figures) last.
        generic = set().union(*(self._sector_names[s] for s in q.sectors))
        specific = _stems(q.tokens) not in generic and any(typed.values())
        ordered = sorted(
            groups.items(),
            key=lambda kv: (
                kv[0] == BACKGROUND and not specific,
                -max(typed.get(p.id, 0.0) for p in kv[1]),
                -len(kv[1]),
                c.themes[kv[0]].label,
            ),
        )
        results = [p for _, ps in ordered for p in ps]
        labels = {p.id: c.themes[tid].label for tid, ps in ordered for p in ps}
        # A role typed ("gp", "midwife", "dsl") rather than the sector's name: the points that speak to that role
        # in their own words lead, the sector's own first.
        written_for = self._written_for(q, pool, ev) if specific else []
        if written_for:
            results = written_for + [p for p in results if p not in written_for]
        return Answer(query=q.text, kind="sector", heading=found.heading, results=results, labels=labels,
                      evidence=ev)

    def _written_for(self, q: ParsedQuery, pool: list[Point], ev: dict[str, Evidence]) -> list[Point]:
        """The points (in ``pool``'s order) whose own text names the role typed, as typed or spelled out
        ("dsl" -> "designated safeguarding lead"), any ending ("midwife" ~ "midwives"); when none does, the
        sector's own points best matching it (``pool`` is ordered so), a page of them."""
        typed = [w for w in q.corrected_words if w not in STOPWORDS]
        names = [typed, *(words(e) for e in q.expansions)]
        keys = [f" {' '.join(stem(w)[:ROLE_PREFIX] for w in name)} " for name in names if name]
        said = [p for p in pool if any(k in self._own_prefixes[self.content_index.position[p.id]] for k in keys)]
        return said or [p for p in pool if ev[p.id].sectors][:PAGE_SIZE]

    # Step 4: explain, from the same evidence.

    def _explain(self, ans: Answer) -> dict[str, str]:
        """The "why this result" lines for the page shown: where only a point's cited section mentions what
        was asked ("MARAC"), say so."""
        if ans.kind not in ("search", "theme", "intersection", "sector"):
            return {}
        lines = {}
        for p in ans.results[ans.offset : ans.offset + PAGE_SIZE]:
            if (line := why_line(ans.evidence[p.id])) is not None:
                lines[p.id] = line
        return lines

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
        return self._nearest(words(text), limit)

    def _nearest(self, tokens: list[str], limit: int = 3) -> list[Suggestion]:
        """``nearest`` for text already split into words."""
        typed = [w for w in tokens if w not in STOPWORDS]
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


def why_line(evidence: Evidence) -> str | None:
    """The "why this result" line for a point, from its evidence: shown when only its cited section
    mentions what was asked, naming that section."""
    if not evidence.section_term:
        return None
    heading = evidence.point.source.section.split(SECTION_SEPARATOR)[-1]
    return f"The briefing's section “{heading}” mentions {evidence.section_term}."


def _stems(tokens: list[str]) -> str:
    """Stems of the words that carry meaning, for comparing names ("Missing from home" ~ "missing home")."""
    return " ".join(stem(w) for w in tokens if w not in STOPWORDS)


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
