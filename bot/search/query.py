"""Understand what someone typed after ``/scr``.

Practitioners type the words they use at work: "dv", "was not brought", "polce", "health
neglect", "looked after children", "fgm". This module maps those words onto the content's
vocabulary: sectors, themes, concepts (practitioners' words the briefings put differently) and
topics the briefings do not cover. Longer names win over shorter ones ("private fostering"
before "private law" could ever be tried), and one spelling corrector serves every name
alike ("disabilty" is corrected exactly as "neglet" is). Whatever is left over is searched as
free text. Slack's own markup (mentions, channel links, URLs) is removed first, keeping a
link's text. It knows nothing of Slack's request handling.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.content.corpus import Corpus, NotCovered
from bot.search.index import STOPWORDS, WEAK, key_of, stem, words

MAX_QUERY_CHARS = 200
FILLER = STOPWORDS | {"show", "me", "find", "about", "re", "learning", "points", "point", "scr", "please", "anything",
                      "any", "something", "info", "information on", "tell", "guidance", "help with", "what's"}
# How a question is put, not what it asks: "what should I do if…", "is there anything on…", "what do reviews say
# about…". Set aside before ranking, so a full sentence is ranked by its content ("see the child", not "see" or
# "should"); kept only when nothing else was typed.
FRAME = frozenset({"show", "find", "please", "should", "shall", "must", "might", "may", "im", "ive", "id",
                   "wondering", "anyone", "someone", "somebody", "know", "does", "learn", "anything",
                   "something", "whats", "hows", "question", "quick", "thanks", "thank", "hi", "hello", "just",
                   "actually", "really", "also", "handle", "approach", "respond", "here", "been", "being", "very",
                   "recommend", "suggest", "advise", "guidance", "scr", "still", "ok", "okay", "normal", "wondered",
                   "can", "could", "would", "we", "i", "you"})
# Whole question frames whose words would otherwise name something: "what does the research say about…" asks about
# its topic, not about research (a theme) or saying. Removed before names are looked for.
_FRAME_PHRASES = re.compile(
    r"\b(?:what (?:does|do|did|can) (?:the |our |these |this )?(?:research|reviews?|briefings?|learning|evidence|"
    r"scrs?|serious case reviews?|report|reports|analysis|data) (?:say|says|tell us|show|shows|suggest|find|found)"
    r"(?: about| on| when| if)?|is there (?:any |some )?(?:learning|anything|something|research|guidance|evidence)"
    r"(?: in (?:the |these )?(?:briefings?|reviews?))? (?:on|about|for)|what is the learning (?:on|about)|"
    r"what does the learning say(?: about)?|what can we learn (?:from|about)|"
    r"(?:can|could) (?:you|someone) (?:tell me|explain)(?: about)?)\b"
)
# What code, markup or a probe looks like (SQL, script tags, template and path tricks): never a safeguarding
# question, so it finds nothing rather than whatever its stray words happen to match.
_CODE = re.compile(
    r"(?:'\s*(?:or|and)\s+'?\w+'?\s*=|\b(?:or|and)\s+\d+\s*=\s*\d+|--\s*$|;\s*--|/\*|\*/|"
    r"\b(?:drop|truncate|alter)\s+table\b|\bunion\s+(?:all\s+)?select\b|\bselect\s+\*?\s*from\b|"
    r"\binsert\s+into\b|\bdelete\s+from\b|\bexec(?:ute)?\s*\(|\bsleep\s*\(\d|"
    r"</?(?:script|img|iframe|svg|object|embed|style|body|html|input|form)\b|javascript:|\bon[a-z]+\s*=\s*\S|"
    r"\{\{|\}\}|\$\{|<%|%>|\{%|"
    r"\.\./|\.\.\\|/etc/(?:passwd|shadow|hosts)|\bcmd\.exe\b|/bin/(?:ba)?sh\b|\$\(|"
    r"\b(?:rm\s+-rf|wget|curl)\s|\x00|%00|%2e%2e|%3cscript)",
    re.I,
)


def looks_like_code(text: str) -> bool:
    """Whether what was typed reads as code or a probe rather than words (``' OR 1=1 --``, ``{{7*7}}``)."""
    return bool(_CODE.search(text))


SPELL_MIN_LEN = 5  # shorter words are too often other real words one letter away
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
    "admins": "admins",
    "admin": "admins",
    "audit": "audit",
    "briefing": "briefing",
    "7mb": "briefing",
    "settings": "settings",
    "actions": "actions",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
# Slack markup in command text: <@U123>, <@U123|name>, <#C123|general>, <!here>, <https://x|text>, <mailto:a@b|a@b>.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-]+:")


@dataclass(frozen=True)
class Term:
    kind: str  # "sector", "theme", "concept" or "uncovered"
    id: str


@dataclass
class ParsedQuery:
    """A parsed ``/scr`` request: everything the lookup needs from what was typed, worked out once.

    The text is split into words once (``bot.search.index.words``), here; the lookup ranks and explains
    from these words (``tokens``, ``named_words``) and never splits the text again.
    """

    raw: str
    text: str
    kind: str  # help, themes, sectors, week, random, point, lookup, search, not_covered, empty, code, or a command name
    themes: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)  # not-covered topics named in the query
    free_text: str = ""
    args: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)  # what was typed -> what we understood
    corrected: str = ""  # the query's words with spelling corrected
    expansions: list[str] = field(default_factory=list)  # what typed abbreviations stand for ("aces" -> ...)
    named: list[str] = field(default_factory=list)  # the theme names as typed (corrected): "marac", "caf"
    corrected_words: list[str] = field(default_factory=list)  # ``corrected`` as words
    tokens: list[str] = field(default_factory=list)  # ``understood`` as words: corrected, abbreviations spelled out
    named_words: list[list[str]] = field(default_factory=list)  # ``named`` as words
    free_words: list[str] = field(default_factory=list)  # what no name took, frame words ("show me", "please") stripped

    @property
    def understood(self) -> str:
        """The query as we understood it (spelling corrected, abbreviations spelled out), for ranking."""
        return " ".join([self.corrected or " ".join(words(self.text)), *self.expansions])

    @property
    def stems(self) -> list[str]:
        """The understood words' stems, as the search index keys them."""
        return key_of(self.tokens).split()

    @property
    def phrase(self) -> str:
        """The words typed as one phrase key (``bot.search.index.key_of``), for finding them together in a point."""
        return key_of(self.corrected_words)


Query = ParsedQuery  # the name the rest of the code has long used


def strip_markup(text: str) -> str:
    """Remove Slack mentions, channel links, special mentions, URLs and emoji codes; keep a link's text.

    Slack sends "<@U123> neglect" for a mention and "<https://x|guidance>" for a link: searched
    literally these would turn a theme lookup into a search for "u123".
    """

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#", "!")) or not label:
            return " "
        return f" {label} "

    text = _SLACK_MARKUP.sub(replace, text)
    if "&" in text:  # Slack escapes & < > in command text; what a user typed as "<!channel>" is removed too
        text = _SLACK_MARKUP.sub(replace, html.unescape(text))
    text = _URL.sub(" ", text)
    return _EMOJI_CODE.sub(" ", text)


def clean(text: str, markup: bool = True) -> str:
    """Normalise user input: NFKC, no control characters, Slack markup removed (unless ``markup`` is
    false), single spaces, bounded length."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _CONTROL.sub(" ", text)
    if markup:
        text = strip_markup(text)
    text = " ".join(text.split())
    return text[:MAX_QUERY_CHARS]


def _key(text: str) -> str:
    return _key_words(words(text))


def _key_words(tokens: list[str]) -> str:
    """``_key`` of text already split into words."""
    return " ".join(stem(w) for w in tokens)


class Speller:
    """Corrects a word that appears nowhere in the content or its vocabulary to the nearest word that
    does (one edit for short words, two for long ones; a swap of two letters counts as one)."""

    def __init__(self, counts: Counter[str], known: set[str] | None = None):
        self.counts = counts
        self.known = set(counts) | (known or set())
        self.choices = sorted(w for w in counts if len(w) >= SPELL_MIN_LEN - 1 and w.isalpha())
        self._known_stems = {stem(w) for w in self.known}  # "deprived" is known through "deprivation"

    def correct(self, word: str) -> str | None:
        if word in self.known or stem(word) in self._known_stems or len(word) < SPELL_MIN_LEN or not word.isalpha():
            return None
        edits = 1 if len(word) <= 7 else 2
        found = process.extract(word, self.choices, scorer=OSA.distance, score_cutoff=edits, limit=20)
        if not found:
            return None
        # Fewest edits, then same first letter, then the most used word.
        best = min(found, key=lambda f: (f[1], f[0][0] != word[0], -self.counts[f[0]], f[0]))
        return best[0]


class Vocabulary:
    """Every way of naming a sector, theme, concept or not-covered topic, normalised (stemmed) for lookup."""

    def __init__(
        self, corpus: Corpus, extra_words: Counter[str] | None = None, not_covered: dict[str, NotCovered] | None = None
    ):
        self.corpus = corpus
        self.exact: dict[str, Term] = {}
        self._names: dict[Term, list[str]] = {}
        self.alone: dict[str, Term] = {}  # names that count only when typed on their own ("prevent")
        self.display: dict[str, str] = {}
        for sector in corpus.sectors.values():
            for name in (sector.id.replace("-", " "), sector.label, *sector.words):
                self._add(name, Term("sector", sector.id))
        for theme in corpus.themes.values():
            for name in (theme.id.replace("-", " "), theme.label, *theme.aliases):
                self._add(name, Term("theme", theme.id))
        for concept in corpus.concepts.values():
            for name in concept.names:
                self._add(name, Term("concept", concept.id))
        self.not_covered = corpus.not_covered if not_covered is None else not_covered
        for topic in self.not_covered.values():
            for name in (topic.label, *topic.names):
                self._add(name, Term("uncovered", topic.id), override=True)
            for name in topic.alone:
                self.alone.setdefault(_key(name), Term("uncovered", topic.id))
        self.max_words = max((len(k.split()) for k in self.exact), default=1)
        # What an abbreviation stands for, from the names given with it: "ACEs" -> "adverse childhood
        # experiences", "WNB" -> "was not brought". Used to rank by the words the content uses.
        self.expansion: dict[str, str] = {}
        for names in self._names.values():
            for short in names:
                letters = short.replace("'", "").rstrip("s") if short.isupper() or short[:-1].isupper() else ""
                if not (2 <= len(letters) <= 6 and letters.isalpha()):
                    continue
                for name in names:
                    parts = [w for w in re.split(r"[\s-]+", name) if w]
                    initials = "".join(w[0] for w in parts)
                    if initials.lower() != letters.lower():  # "SEND", "SUDI": small words may be skipped
                        initials = "".join(w[0] for w in parts if w.lower() not in ("and", "in", "of", "the"))
                    if initials.lower() == letters.lower() and " " in name.strip():
                        self.expansion.setdefault(_key(short), name)
                        break
        self.expansion_words = {k: words(name) for k, name in self.expansion.items()}
        # The speller corrects towards vocabulary names only (theme, sector, concept and topic names and the
        # section terms), all alike, and never "corrects" a word the content uses: "deprived" stays itself.
        names: Counter[str] = Counter()
        for name in (*(n for ns in self._names.values() for n in ns), *(t for p in corpus.points for t in p.terms)):
            names.update(words(name))
        self.speller = Speller(names, known=set(extra_words or ()) | set(names))

    def _add(self, name: str, term: Term, override: bool = False) -> None:
        self._names.setdefault(term, []).append(name)
        key = _key(name)
        if not key:
            return
        if key not in self.exact or override:  # first definition wins (sectors before themes); topics always
            self.exact[key] = term
            self.display[key] = name

    def resolve(self, phrase: str) -> Term | None:
        """A sector or theme by any of its names, exactly or (for a near miss) by spelling."""
        term = self.exact.get(_key(phrase))
        if term is None:
            fixed = [self.speller.correct(w) or w for w in words(phrase)]
            term = self.exact.get(_key(" ".join(fixed)))
        return term if term and term.kind in ("sector", "theme") else None

    def spelled_out(self, name: list[str]) -> list[str]:
        """What an abbreviation already split into words stands for, as words ("aces" -> "adverse childhood
        experiences"); nothing for a name that is not one."""
        return self.expansion_words.get(_key_words(name), [])

    def label(self, term: Term) -> str:
        c = self.corpus
        if term.kind == "sector":
            return c.sectors[term.id].label
        if term.kind == "theme":
            return c.themes[term.id].label
        if term.kind == "uncovered":
            return self.not_covered[term.id].label
        return c.concepts[term.id].names[0]


def parse(raw: str, corpus: Corpus, vocab: Vocabulary) -> Query:
    if looks_like_code(html.unescape(raw or "")):  # before markup is stripped: "<script>" is the tell
        return Query(raw=raw, text=clean(raw, markup=False), kind="code")
    text = clean(raw)
    lowered = text.lower()
    if lowered.startswith("/scr"):
        lowered = lowered[4:].strip()
        text = text[4:].strip()
    toks = lowered.split()
    if not toks:
        return Query(raw=raw, text=text, kind="help" if not (raw or "").strip() else "empty")
    head = toks[0]
    paged = COMMANDS.get(head) == "actions" and len(toks) == 2 and toks[1].isdigit()  # `/scr actions 2`: a page
    if head in COMMANDS and (len(toks) == 1 or paged or COMMANDS[head] in {"subscribe", "export", "quiz", "digest", "admins", "audit", "briefing", "settings"}):
        # A command's arguments are its own grammar (a channel link may mean something there): as typed.
        args = clean(raw, markup=False).split()[1:] if not lowered.startswith("/scr") else text.split()[1:]
        return Query(raw=raw, text=text, kind=COMMANDS[head], args=args)
    if lowered in ("forget me", "forget"):
        return Query(raw=raw, text=text, kind="forget")
    forced_search = head == "search"
    if forced_search:
        if len(toks) == 1:
            return Query(raw=raw, text=text, kind="help")
        text = text.split(maxsplit=1)[1]
        lowered = text.lower()
    elif len(toks) == 1 and corpus.point(head):
        return Query(raw=raw, text=text, kind="point", args=[head])

    typed = words(_FRAME_PHRASES.sub(" ", lowered)) or words(lowered)  # the question's content, not its frame
    if not typed:
        return Query(raw=raw, text=text, kind="empty")
    fixed = [vocab.speller.correct(w) or w for w in typed]
    found: list[Term] = []
    leftover: list[str] = []
    corrections: dict[str, str] = {}
    expansions: list[str] = []
    named: list[str] = []
    named_words: list[list[str]] = []
    tokens: list[str] = list(fixed)  # then what abbreviations stand for, as ``understood`` has them
    i = 0
    while i < len(typed):
        matched = False
        # Longest name first ("missing from home" before "home", "private fostering" before "private law").
        for n in range(min(vocab.max_words, len(typed) - i), 0, -1):
            term = vocab.exact.get(_key_words(fixed[i : i + n]))
            if term:
                span = " ".join(typed[i : i + n])
                if expanded := vocab.expansion.get(_key_words(typed[i : i + n])):
                    expansions.append(expanded)
                    tokens += vocab.expansion_words[_key_words(typed[i : i + n])]
                if term.kind == "theme":
                    named.append(" ".join(fixed[i : i + n]))
                    named_words.append(fixed[i : i + n])
                if fixed[i : i + n] != typed[i : i + n]:
                    corrections[span] = " ".join(fixed[i : i + n])
                found.append(term)
                i += n
                matched = True
                break
        if matched:
            continue
        if typed[i] not in FILLER:
            leftover.append(fixed[i])
            if fixed[i] != typed[i]:
                corrections[typed[i]] = fixed[i]
        i += 1
    if not found and not leftover:  # only filler words ("what about it"): search them as typed
        leftover = [w for w in fixed if w not in STOPWORDS]
    # A name that means a topic only on its own ("prevent" is also a verb).
    content = [w for w in leftover if w not in FRAME]
    if content or found:  # "what should I do about neglect" is the theme; "tell me something" stays a search
        leftover = content
    free_words = list(leftover)
    tokens = [w for w in tokens if w not in FRAME] or tokens  # ranked by what is asked, not how it is put
    if all(t.kind == "sector" for t in found) and len(leftover) == 1 and (alone := vocab.alone.get(stem(leftover[0]))):
        found, leftover = [*found, alone], []

    def ids(kind: str) -> list[str]:
        return list(dict.fromkeys(t.id for t in found if t.kind == kind))

    q = Query(raw=raw, text=text, kind="search", themes=ids("theme"), sectors=ids("sector"), concepts=ids("concept"),
              uncovered=ids("uncovered"), corrections=corrections, corrected=" ".join(fixed), expansions=expansions,
              named=named, corrected_words=fixed, tokens=tokens, named_words=named_words, free_words=free_words)
    # Everyday words beside a theme ("substance misusing parents") refine its ranking; they are not a search.
    weak_only = bool(leftover) and all(w in WEAK for w in leftover)
    if q.uncovered:
        q.kind = "not_covered"  # a topic these briefings do not discuss: say so rather than match loosely
    elif weak_only and q.themes and not (q.concepts or forced_search):
        q.kind = "lookup"
    elif leftover or q.concepts or forced_search:
        q.kind = "search"
        q.free_text = " ".join(fixed)
    elif q.themes or q.sectors:
        q.kind = "lookup"
    else:
        q.kind = "empty"
    return q
