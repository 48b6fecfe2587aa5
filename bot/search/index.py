"""Ranked free-text search over learning points (BM25F with field weights and stemming).

Why a short implementation here rather than a search library: the corpus is about a hundred
points, so the whole index is a few dictionaries built in milliseconds; bm25s / rank-bm25 pull
in NumPy/SciPy (tens of MB) for no gain at this size, and none of them do per-field weights.
Stemming comes from snowballstemmer (pure Python, the Snowball English stemmer).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import snowballstemmer

from bot.content.corpus import Corpus, Point

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    ["a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your"]
)
# Words that carry meaning in safeguarding even though they look like stopwords.
KEEP = frozenset({"not", "no", "brought", "attend"})

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-case words with possessive 's removed ("sarah's" -> "sarah")."""
    out = []
    for w in WORD.findall(text.lower().replace("’", "'")):
        if w.endswith("'s"):
            w = w[:-2]
        out.append(w.replace("'", ""))
    return out


# Everyday words practitioners type for what the briefings write more formally.
EVERYDAY = {"mum": "mother", "mums": "mothers", "mam": "mother", "mom": "mother", "dad": "father", "dads": "fathers",
            "kid": "child", "kids": "children", "teen": "teenager", "teens": "teenagers", "hungry": "hunger",
            "nan": "grandmother", "gran": "grandmother", "bloke": "man", "boyfriend": "partner",
            "girlfriend": "partner", "jail": "custodial", "prison": "custodial", "info": "information"}


def phrase_key(text: str) -> str:
    """Stemmed words in order, for matching phrases whatever their endings ("clares law", "Clare's Law")."""
    return key_of(words(text))


def key_of(tokens: Iterable[str]) -> str:
    """``phrase_key`` of words already split by ``words``: a query is tokenised once, then keyed from its words."""
    return " ".join(stem(EVERYDAY.get(w, w)) for w in tokens)


@lru_cache(maxsize=256)
def _asked(tokens: tuple[str, ...]) -> tuple[str, frozenset[str]]:
    """A query's words as ``SearchIndex.section_term`` compares them with each point's terms: the key of its
    words (stopwords left out), spaced for matching inside a key, and the stems of its words that carry meaning."""
    typed = [w for w in tokens if w not in STOPWORDS]
    return f" {key_of(typed)} ", frozenset(stem(EVERYDAY.get(w, w)) for w in typed if w not in WEAK)


def terms(text: str) -> list[str]:
    """Search terms: words minus stopwords, everyday words in the briefings' terms, stemmed."""
    return [stem(EVERYDAY.get(w, w)) for w in words(text) if w in KEEP or w not in STOPWORDS]


# Field weights: a match in a title or a theme name says more than one in a reflective question.
# ``terms`` (what the cited section of the briefing mentions, not what the point itself says) counts
# least: it lets a search for "MARAC" reach the points whose section discusses it without letting
# a passing mention outrank a point about the thing.
FIELD_WEIGHTS = {"title": 3.0, "themes": 2.5, "summary": 1.5, "key_messages": 1.0, "quote": 1.0, "section": 1.0,
                 "questions": 0.4, "terms": 0.6}
OWN_FIELDS = ("title", "summary", "key_messages", "quote", "questions")
K1 = 1.2
B = 0.6
# Everyday words that are weak evidence on their own: "home" in "missing from home" must not pull in
# "home education", and "prevent" is mostly a verb.
WEAK = frozenset(["home", "child", "children", "kid", "kids", "young", "people", "person", "family", "families", "parent",
                  "parents", "prevent", "help", "work", "working", "worker", "support", "risk", "risks", "issue", "issues",
                  "concern", "concerns", "case", "cases", "practice", "professional", "professionals", "staff",
                  "service", "services", "safeguarding", "year", "years", "early", "time", "good", "new", "make",
                  "need", "needs", "know", "get", "lot", "really", "best", "way", "ways", "around", "deal", "dealing",
                  "spot", "signs", "sign", "advice", "tips", "team", "agency", "agencies", "police", "health",
                  "school", "schools", "social", "worried", "worry", "think", "check", "keep", "look", "looking",
                  "told", "say", "says", "said", "one", "two", "not", "no", "after", "own", "other", "review", "reviews",
                  "many", "much", "often", "common", "area", "areas", "setting", "settings", "place", "thing", "things"])
WEAK_FACTOR = 0.25
MISSING_WEIGHT = 2.0  # a typed word that no point contains still counts against coverage
PHRASE_WEIGHT = 0.6  # bonus per unit of idf for query words found together, in order, in one field


@dataclass(frozen=True)
class Hit:
    point: Point
    score: float


@dataclass(frozen=True)
class Match:
    """How one point's text matches a query's words, before it is compared with other points: its BM25F
    score, the weight of the typed words it contains, and its bonus for typed words found together."""

    bm25: float
    matched: float
    phrase: float


@dataclass(frozen=True)
class Matches:
    """Every point's ``Match`` for one query (by position in the index), and the weight of all it typed."""

    by_doc: dict[int, Match]
    total: float


def relative_scores(matches: dict[Any, Match], total: float) -> dict[Any, float]:
    """Final scores of a group of matches: a point must cover most of what was typed, measured against the
    best coverage *in this group* (so ranking within a theme or sector compares like with like)."""
    best = max((m.matched for m in matches.values()), default=total) or total  # words no point contains count against none
    out = {}
    for key, m in matches.items():
        coverage = m.matched / best
        out[key] = m.bm25 * (0.3 + 0.7 * coverage * coverage) + m.phrase
    return out


# What ``SearchIndex`` builds from the content (everything else it holds is the live corpus).
PARTS = ("tf", "lengths", "text", "own_text", "own", "term_keys", "word_counts", "postings", "idf", "avg_length",
         "max_idf")


def index_fields(corpus: Corpus, point: Point, theme_words: bool = True) -> dict[str, str]:
    """The text of each weighted field of a point, as the index reads it: everything an index is built from."""
    # Only the themes' labels: aliases route a query to a theme (bot.search.query), and indexing all of them
    # on every point of the theme would let "lived experience" make "living" match every voice point.
    labels = []
    for tid in point.themes if theme_words else ():
        theme = corpus.themes.get(tid)
        if theme:
            labels.append(theme.label)
    return {
        "title": point.title,
        "themes": " ; ".join(labels),
        "summary": point.summary,
        "key_messages": " | ".join(point.key_messages),
        "quote": point.quote or "",
        "section": point.source.section,
        "questions": " | ".join(point.questions),
        "terms": " | ".join(point.terms),
    }


class SearchIndex:
    """An inverted index of weighted term frequencies, one document per learning point."""

    def __init__(self, corpus: Corpus, *, theme_words: bool = True):
        """``theme_words=False`` leaves out each point's theme labels and aliases: used to rank points
        *within* a theme, where every point shares those words and only its own text tells them apart."""
        self._attach(corpus, theme_words)
        self.tf: list[dict[str, float]] = []
        self.lengths: list[float] = []
        self.text: list[str] = []  # stemmed words, fields separated by " | ", for phrase matches
        self.own_text: list[str] = []  # the same for what the point itself says (no section terms)
        self.own: list[frozenset[str]] = []  # stems of what the point itself says
        self.term_keys: list[list[tuple[str, str]]] = []  # each section term with its phrase key
        self.word_counts: Counter[str] = Counter()  # every word in the content, for spelling correction
        postings: dict[str, list[int]] = {}
        for i, point in enumerate(self.docs):
            weighted: Counter[str] = Counter()
            fields = index_fields(corpus, point, theme_words)
            for name, text in fields.items():
                for term in terms(text):
                    weighted[term] += FIELD_WEIGHTS[name]
            self.tf.append(dict(weighted))
            self.lengths.append(sum(weighted.values()))
            self.text.append(" " + " | ".join(phrase_key(t) for t in fields.values()) + " ")
            self.own_text.append(" " + " | ".join(phrase_key(fields[name]) for name in OWN_FIELDS) + " ")
            self.own.append(frozenset(t for name in OWN_FIELDS for t in terms(fields[name])))
            self.term_keys.append([(term, phrase_key(term)) for term in point.terms])
            self.word_counts.update(w for t in fields.values() for w in words(t))
            for term in weighted:
                postings.setdefault(term, []).append(i)
        n = len(self.docs)
        self.avg_length = (sum(self.lengths) / n) if n else 1.0
        self.postings = postings
        self.idf = {t: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5)) for t, ids in postings.items()}
        self.max_idf = max(self.idf.values(), default=1.0)

    def _attach(self, corpus: Corpus, theme_words: bool) -> None:
        """The live corpus the index answers with: its points themselves, so callers may compare by identity."""
        self.corpus = corpus
        self.theme_words = theme_words
        self.docs: list[Point] = list(corpus.points)
        self.position = {p.id: i for i, p in enumerate(self.docs)}

    def parts(self) -> dict[str, Any]:
        """What was built from the content, as plain builtins (lists, dicts, strings, numbers, frozensets) so it
        can be kept with ``marshal`` between runs (bot.search.indexcache); ``restore`` takes it back."""
        return {name: dict(self.word_counts) if name == "word_counts" else getattr(self, name) for name in PARTS}

    @classmethod
    def restore(cls, corpus: Corpus, parts: dict[str, Any], *, theme_words: bool = True) -> SearchIndex:
        """The index ``SearchIndex(corpus, theme_words=...).parts()`` was taken from, without building it again.
        The caller vouches that ``parts`` came from this very content (bot.search.indexcache keys it so)."""
        index = cls.__new__(cls)
        index._attach(corpus, theme_words)
        for name in PARTS:
            setattr(index, name, parts[name])
        index.word_counts = Counter(parts["word_counts"])
        return index

    def weight(self, word: str) -> float:
        """How much a typed word says: its rarity in the content, much less for everyday words."""
        idf = self.idf.get(stem(EVERYDAY.get(word, word)), MISSING_WEIGHT)
        return idf * (WEAK_FACTOR if word in WEAK else 1.0)

    def search(self, query: str, limit: int | None = None, within: Iterable[Point] | None = None) -> list[Hit]:
        """Points ranked best first; ``within`` restricts the candidates (e.g. to one sector)."""
        matches = self.matches(words(query))
        by_doc = matches.by_doc
        if within is not None:
            allowed = {id(p) for p in within}
            by_doc = {i: m for i, m in by_doc.items() if id(self.docs[i]) in allowed}
        scores = relative_scores(by_doc, matches.total)
        hits = [Hit(self.docs[i], s) for i, s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
        return hits[:limit] if limit else hits

    def matches(self, tokens: Sequence[str], within: Collection[int] | None = None) -> Matches:
        """How every point's text (or only those at the positions ``within``) matches a query already split
        into words (``words``), for ranking later against whichever group of points is being ordered (see
        ``relative_scores``). Long queries (a theme's every alias) cost per point: restrict them.

        BM25F over stemmed words, then two corrections for meaning: a point must match most of what
        was typed (weighted by rarity, so "missing" matters more than "home"), and words found together,
        in order, in one field ("missing from home") earn a bonus over the same words scattered.
        """
        typed = [EVERYDAY.get(w, w) for w in tokens]
        content = [w for w in typed if w in KEEP or w not in STOPWORDS]
        stems = [stem(w) for w in typed]
        weights: dict[str, float] = {}
        for w in content:
            weights[stem(w)] = max(weights.get(stem(w), 0.0), self.weight(w))
        if not weights:
            return Matches({}, 0.0)
        total = sum(weights.values())
        scores: dict[int, float] = {}
        matched: dict[int, float] = {}
        for term, w in weights.items():
            idf = self.idf.get(term)
            if idf is None:
                continue
            factor = w / idf
            for i in self.postings[term]:
                if within is not None and i not in within:
                    continue
                tf = self.tf[i][term]
                norm = K1 * (1 - B + B * self.lengths[i] / self.avg_length)
                scores[i] = scores.get(i, 0.0) + factor * idf * tf * (K1 + 1) / (tf + norm)
                matched[i] = matched.get(i, 0.0) + w
        phrases = self._phrases(typed, stems, weights)
        by_doc = {}
        for i in scores:
            bonus = 0.0
            covered = 0  # the typed words already counted in a longer phrase, one bit each
            for span, phrase, value in phrases:
                if span & ~covered == 0:
                    continue
                if phrase in self.own_text[i]:
                    bonus += PHRASE_WEIGHT * value
                    covered |= span
                elif phrase in self.text[i]:  # only in the section's terms (or heading): weaker evidence
                    bonus += PHRASE_WEIGHT * FIELD_WEIGHTS["terms"] * value
                    covered |= span
            by_doc[i] = Match(scores[i], matched[i], bonus)
        return Matches(by_doc, total)

    def _phrases(self, typed: list[str], stems: list[str], weights: dict[str, float]) -> list[tuple[int, str, float]]:
        """Runs of two or more typed words (longest first) with at least two words that carry meaning, each with
        its words as bits (``1 << position``). Only runs the content could contain: a run whose neighbouring
        words never stand side by side in any point cannot be found in one, so a long query (a theme's every
        alias, a concept's words) is not tried as hundreds of phrases that no point has."""
        # reach[k]: the end of the longest run from k whose every pair of neighbours occurs in the content.
        reach = list(range(1, len(stems) + 1))
        for k in range(len(stems) - 2, -1, -1):
            if (stems[k], stems[k + 1]) in self._pairs:
                reach[k] = reach[k + 1]
        out = []
        for n in range(len(typed), 1, -1):
            for start in range(len(typed) - n + 1):
                if start + n > reach[start]:
                    continue
                meaningful = [w for w in typed[start : start + n] if w in KEEP or w not in STOPWORDS]
                if len(meaningful) >= 2 and typed[start] not in STOPWORDS and typed[start + n - 1] not in STOPWORDS:
                    gram = " ".join(stems[start : start + n])
                    out.append((((1 << n) - 1) << start, f" {gram} ", sum(weights.get(stem(w), 0.0) for w in meaningful)))
        return out

    @cached_property
    def _pairs(self) -> frozenset[tuple[str, str]]:
        """Every two stems that stand side by side in one field of a point (``text`` holds all fields)."""
        pairs = set()
        for text in self.text:
            ws = text.split()
            pairs.update((a, b) for a, b in zip(ws, ws[1:], strict=False) if a != "|" != b)
        return frozenset(pairs)

    def mentioning(self, phrase: str, within: Iterable[Point] | None = None, own: bool = False) -> list[Point]:
        """Points whose text (their own words, section heading or section terms; with ``own``, only their
        own words) contains ``phrase``."""
        return self.mentioning_key(phrase_key(phrase), within, own)

    def mentioning_key(self, key: str, within: Iterable[Point] | None = None, own: bool = False) -> list[Point]:
        """``mentioning`` for a phrase already keyed (``key_of`` its words)."""
        if key.strip() == "":
            return []
        key = f" {key} "
        pool = self.docs if within is None else list(within)
        texts = self.own_text if own else self.text
        return [p for p in pool if key in texts[self.position[p.id]]]

    def section_term(self, point: Point, tokens: Sequence[str]) -> str | None:
        """The term from the point's cited section that a query (its words) reached it by, when the point's
        own text does not say it (so the answer can explain the match), else None."""
        i = self.position.get(point.id)
        if i is None or not (unsaid := self._unsaid_terms[i]):
            return None
        asked, stems = _asked(tuple(tokens))
        best, best_overlap = None, 0
        for term, key, spaced, new_stems in unsaid:
            if spaced in asked or asked.strip() in key:  # the query names the term, or is part of it
                return term
            overlap = len(stems & new_stems)
            if overlap > best_overlap:
                best, best_overlap = term, overlap
        return best

    @cached_property
    def _unsaid_terms(self) -> list[list[tuple[str, str, str, frozenset[str]]]]:
        """For each point, the section terms it does not say itself (``section_term`` only explains by those),
        with each one's key, the key as matched inside a text, and its stems the point's own words lack.
        Worked out once: every lookup asks it of every point in scope."""
        return [[(term, key, f" {key} ", frozenset(key.split()) - own)
                 for term, key in term_keys if key and f" {key} " not in own_text]
                for term_keys, own_text, own in zip(self.term_keys, self.own_text, self.own, strict=True)]  # fmt: skip
