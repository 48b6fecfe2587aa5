"""Understand what someone typed after ``/scr``.

Practitioners type the words they use at work: "dv", "was not brought", "polce", "health
neglect". This module maps those words onto the theme and sector taxonomy (exact aliases
first, then typo-tolerant matching with rapidfuzz), and falls back to free-text search for
whatever is left. It knows nothing of Slack.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bot.content import Corpus
from bot.search import STOPWORDS, stem, words

MAX_QUERY_CHARS = 200
FILLER = STOPWORDS | {"show", "me", "find", "about", "re", "learning", "points", "point", "scr", "please"}
FUZZY_CUTOFF = 84.0
FUZZY_MIN_LEN = 4
COMMANDS = {
    "help": "help",
    "?": "help",
    "themes": "themes",
    "theme": "themes",
    "topics": "themes",
    "sectors": "sectors",
    "sector": "sectors",
    "week": "week",
    "random": "random",
    "subscribe": "subscribe",
    "unsubscribe": "unsubscribe",
    "schedule": "schedule",
    "reflections": "reflections",
    "export": "export",
    "quiz": "quiz",
    "digest": "digest",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Term:
    kind: str  # "theme" or "sector"
    id: str


@dataclass
class Query:
    """A parsed ``/scr`` request."""

    raw: str
    text: str
    kind: str  # help, themes, sectors, week, random, point, lookup, search, empty, or a command name
    themes: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    free_text: str = ""
    args: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)  # what was typed -> what we understood

    @property
    def understood(self) -> str:
        """The query with typos replaced by what we understood ("neglet" -> "neglect"), for ranking."""
        text = " ".join(words(self.text))
        for typed, meant in self.corrections.items():
            text = text.replace(typed, meant)
        return text


def clean(text: str) -> str:
    """Normalise user input: NFKC, no control characters, single spaces, bounded length."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    return text[:MAX_QUERY_CHARS]


def _key(text: str) -> str:
    return " ".join(stem(w) for w in words(text))


class Vocabulary:
    """Every way of naming a theme or sector, normalised, for exact and fuzzy lookup."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.exact: dict[str, Term] = {}
        self.display: dict[str, str] = {}
        for sector in corpus.sectors.values():
            for name in (sector.id.replace("-", " "), sector.label, *sector.words):
                self._add(name, Term("sector", sector.id))
        for theme in corpus.themes.values():
            for name in (theme.id.replace("-", " "), theme.label, *theme.aliases):
                self._add(name, Term("theme", theme.id))
        self.choices = list(self.exact)
        self.max_words = max((len(k.split()) for k in self.exact), default=1)

    def _add(self, name: str, term: Term) -> None:
        key = _key(name)
        if key and key not in self.exact:  # first definition wins: sectors before themes
            self.exact[key] = term
            self.display[key] = name

    def fuzzy(self, phrase: str) -> tuple[Term, str] | None:
        key = _key(phrase)
        if len(key.replace(" ", "")) < FUZZY_MIN_LEN:
            return None
        found = process.extractOne(key, self.choices, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if not found:
            return None
        return self.exact[found[0]], self.display[found[0]]

    def resolve(self, phrase: str) -> Term | None:
        """A theme or sector by any of its names, exactly or (for a near miss) by spelling."""
        term = self.exact.get(_key(phrase))
        if term is None:
            found = self.fuzzy(phrase)
            term = found[0] if found else None
        return term

    def closest_themes(self, text: str, limit: int = 3) -> list[str]:
        """Theme ids nearest to ``text`` by spelling, for "did you mean" suggestions."""
        key = _key(text) or text.lower()
        scored = process.extract(key, self.choices, scorer=fuzz.WRatio, limit=40)
        out: list[str] = []
        for choice, _score, _ in scored:
            term = self.exact[choice]
            if term.kind == "theme" and term.id not in out:
                out.append(term.id)
            if len(out) == limit:
                break
        if len(out) < limit:  # nothing spelled alike (e.g. only punctuation): offer the best-covered themes
            by_size = sorted(self.corpus.themes, key=lambda t: -len(self.corpus.points_for(theme=t)))
            out += [t for t in by_size if t not in out and t != "case-reviews"][: limit - len(out)]
        return out


def parse(raw: str, corpus: Corpus, vocab: Vocabulary) -> Query:
    text = clean(raw)
    lowered = text.lower()
    if lowered.startswith("/scr"):
        lowered = lowered[4:].strip()
        text = text[4:].strip()
    toks = lowered.split()
    if not toks:
        return Query(raw=raw, text=text, kind="help")
    head = toks[0]
    if head in COMMANDS and (len(toks) == 1 or COMMANDS[head] in {"subscribe", "export", "quiz", "digest"}):
        return Query(raw=raw, text=text, kind=COMMANDS[head], args=text.split()[1:])
    if lowered in ("forget me", "forget"):
        return Query(raw=raw, text=text, kind="forget")
    if head == "search":
        rest = text.split(maxsplit=1)[1] if len(toks) > 1 else ""
        return Query(raw=raw, text=text, kind="search" if rest else "help", free_text=rest)
    if len(toks) == 1 and corpus.point(head):
        return Query(raw=raw, text=text, kind="point", args=[head])

    word_list = words(lowered)
    if not word_list:
        return Query(raw=raw, text=text, kind="empty")
    themes: list[str] = []
    sectors: list[str] = []
    leftover: list[str] = []
    corrections: dict[str, str] = {}
    i = 0
    while i < len(word_list):
        matched = False
        # Longest exact alias first ("domestic abuse" before "domestic").
        for n in range(min(vocab.max_words, len(word_list) - i), 0, -1):
            phrase = " ".join(word_list[i : i + n])
            term = vocab.exact.get(_key(phrase))
            if term:
                (themes if term.kind == "theme" else sectors).append(term.id)
                i += n
                matched = True
                break
        if matched:
            continue
        if word_list[i] in FILLER:
            i += 1
            continue
        for n in range(min(3, len(word_list) - i), 0, -1):
            phrase = " ".join(word_list[i : i + n])
            found = vocab.fuzzy(phrase)
            if found:
                term, shown = found
                (themes if term.kind == "theme" else sectors).append(term.id)
                corrections[phrase] = shown
                i += n
                matched = True
                break
        if not matched:
            leftover.append(word_list[i])
            i += 1
    themes = list(dict.fromkeys(themes))
    sectors = list(dict.fromkeys(sectors))
    if leftover:
        return Query(
            raw=raw, text=text, kind="search", themes=themes, sectors=sectors, free_text=text, corrections=corrections
        )
    if themes or sectors:
        return Query(raw=raw, text=text, kind="lookup", themes=themes, sectors=sectors, corrections=corrections)
    return Query(raw=raw, text=text, kind="empty")
