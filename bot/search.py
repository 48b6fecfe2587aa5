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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from bot.content import Corpus, Point

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


def terms(text: str) -> list[str]:
    """Search terms: words minus stopwords, stemmed."""
    return [stem(w) for w in words(text) if w in KEEP or w not in STOPWORDS]


# Field weights: a match in a title or a theme name says more than one in a reflective question.
FIELD_WEIGHTS = {"title": 3.0, "themes": 2.5, "summary": 1.5, "key_messages": 1.0, "quote": 1.0, "section": 1.0, "questions": 0.4}
K1 = 1.2
B = 0.6
PHRASE_BONUS = 1.5


@dataclass(frozen=True)
class Hit:
    point: Point
    score: float


class SearchIndex:
    """An inverted index of weighted term frequencies, one document per learning point."""

    def __init__(self, corpus: Corpus, *, theme_words: bool = True):
        """``theme_words=False`` leaves out each point's theme labels and aliases: used to rank points
        *within* a theme, where every point shares those words and only its own text tells them apart."""
        self.corpus = corpus
        self.theme_words = theme_words
        self.docs: list[Point] = list(corpus.points)
        self.tf: list[dict[str, float]] = []
        self.lengths: list[float] = []
        self.text: list[str] = []  # normalised full text, for phrase matches
        postings: dict[str, list[int]] = {}
        for i, point in enumerate(self.docs):
            weighted: Counter[str] = Counter()
            fields = self._fields(point)
            for name, text in fields.items():
                for term in terms(text):
                    weighted[term] += FIELD_WEIGHTS[name]
            self.tf.append(dict(weighted))
            self.lengths.append(sum(weighted.values()))
            self.text.append(" " + " ".join(words(" ".join(fields.values()))) + " ")
            for term in weighted:
                postings.setdefault(term, []).append(i)
        n = len(self.docs)
        self.avg_length = (sum(self.lengths) / n) if n else 1.0
        self.postings = postings
        self.idf = {t: math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5)) for t, ids in postings.items()}

    def _fields(self, point: Point) -> dict[str, str]:
        theme_words = []
        for tid in point.themes if self.theme_words else ():
            theme = self.corpus.themes.get(tid)
            if theme:
                theme_words += [theme.label, *theme.aliases]
        return {
            "title": point.title,
            "themes": " ; ".join(theme_words),
            "summary": point.summary,
            "key_messages": " ".join(point.key_messages),
            "quote": point.quote or "",
            "section": point.source.section,
            "questions": " ".join(point.questions),
        }

    def search(self, query: str, limit: int | None = None, within: Iterable[Point] | None = None) -> list[Hit]:
        """Points ranked best first; ``within`` restricts the candidates (e.g. to one sector)."""
        q_terms = list(dict.fromkeys(terms(query)))
        if not q_terms:
            return []
        allowed = None if within is None else {id(p) for p in within}
        scores: dict[int, float] = {}
        for term in q_terms:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                if allowed is not None and id(self.docs[i]) not in allowed:
                    continue
                tf = self.tf[i][term]
                norm = K1 * (1 - B + B * self.lengths[i] / self.avg_length)
                scores[i] = scores.get(i, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
        phrase = " " + " ".join(words(query)) + " "
        if len(phrase.split()) > 1:
            for i in scores:
                if phrase in self.text[i]:
                    scores[i] *= PHRASE_BONUS
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        hits = [Hit(self.docs[i], s) for i, s in ranked]
        return hits[:limit] if limit else hits
