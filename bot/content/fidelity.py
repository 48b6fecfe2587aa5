"""Is each learning point faithful to the section it cites? Checks that return ``file:line: message``.

A safeguarding lead has to be able to trust that a figure or a quote shown "from the briefing" is
in the briefing, in the part the point cites, describing the same thing. These checks read the
source texts (:mod:`bot.content.sources`) and compare:

* numbers: every number a point states occurs in the cited section;
* quotes: the marked quote occurs word for word in the cited section, and is short;
* headings: every heading of a briefing's map is found in its text;
* pages: a page reference is one the briefing gives (in the cited section, for report pages);
* verbatim runs: no 15 words in a row copied from the briefing outside the marked quote, and no
  sentence mostly made of the briefing's phrases, compared on normalised words so punctuation
  cannot hide a copy;
* section terms: each of a point's ``terms`` (if the point has that field) occurs in the cited section.
* knowledge checks (``checks``): each check is held to its point's cited section: its ``evidence`` is
  there word for word, the right answer's numbers are in that evidence, every number in the question,
  answer and explanation is in the section, and no 15 words are copied outside the evidence.

``scr-bot content check --sources DIR`` runs them all; the test suite runs each one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from bot.content.corpus import SECTION_SEPARATOR, Briefing, Check, Corpus, Point, Section
from bot.content.sources import LIGATURES, NUMBER, Sources, SourceText, normalise, words
from bot.content.yamlfile import Problem

MAX_QUOTE_WORDS = 40
VERBATIM_RUN = 15  # words in a row that make an unmarked quotation
# A sentence of at least CLOSE_MIN_WORDS whose words are CLOSE_SHARE covered by CLOSE_NGRAM-word phrases
# of the briefing is the briefing's sentence lightly edited, not our own words.
CLOSE_NGRAM = 4
CLOSE_MIN_WORDS = 10
CLOSE_SHARE = 0.8


@dataclass(frozen=True)
class Field:
    """One piece of text in a point, with the YAML location that a problem should name."""

    loc: tuple[str | int, ...]
    label: str
    text: str


def point_fields(point: Point) -> list[Field]:
    fields = [Field(("title",), "title", point.title), Field(("summary",), "summary", point.summary)]
    if point.quote:
        fields.append(Field(("quote",), "quote", point.quote))
    if point.content_note:
        fields.append(Field(("content_note",), "content_note", point.content_note))
    fields += [Field(("key_messages", i), f"key_messages[{i}]", m) for i, m in enumerate(point.key_messages)]
    fields += [Field(("questions", i), f"questions[{i}]", q) for i, q in enumerate(point.questions)]
    return fields


def _problem(corpus: Corpus, point: Point, loc: tuple[str | int, ...], message: str) -> Problem:
    path, line = corpus.where("points", point.id, *loc)
    return Problem(path, line, f"{point.id}: {message}")


def _identity_numbers(briefing: Briefing) -> set[str]:
    """The years that name the briefing itself ("the 2011-14 analysis", from its titles): fine in any point
    citing it. Not its ``period``, whose day numbers would let a stray "31" through."""
    return set(NUMBER.findall(f"{briefing.title} {briefing.short_title}"))


def check_numbers(corpus: Corpus, point: Point, section: str) -> list[Problem]:
    """Every number in the point occurs in the cited section (a figure true of another group is wrong)."""
    found = set(NUMBER.findall(section))
    allowed = found | _identity_numbers(corpus.briefings[point.source.briefing])
    problems = []
    for f in point_fields(point):
        for number in NUMBER.findall(f.text):
            if number not in allowed:
                problems.append(_problem(corpus, point, f.loc, f"{f.label}: {number} is not in the cited section "
                                                              f"{point.source.section!r}"))  # fmt: skip
    return problems


def check_quote(corpus: Corpus, point: Point, section: str | None) -> list[Problem]:
    """The marked quote is short and occurs word for word in the cited section."""
    if not point.quote:
        return []
    problems = []
    n = len(point.quote.split())
    if n > MAX_QUOTE_WORDS:
        problems.append(_problem(corpus, point, ("quote",), f"quote is {n} words; keep quotes short (<= {MAX_QUOTE_WORDS})"))
    if section is None:
        problems.append(_problem(corpus, point, ("quote",), "quote cannot be checked: the cited section has no text "
                                                            "(give the section's text, or drop the quote)"))  # fmt: skip
    elif normalise(point.quote).lower() not in section.lower():
        problems.append(_problem(corpus, point, ("quote",), f"quote is not word for word in the cited section "
                                                            f"{point.source.section!r}: {point.quote!r}"))  # fmt: skip
    return problems


@lru_cache(maxsize=1024)
def _page_pattern(ref: str) -> re.Pattern[str]:
    # the 2011-14 briefings write "(p141 and p161)" or "(p169-170)"; the 2017-19 contents "page 15"
    return re.compile(r"(?<![\w])" + re.escape(ref) + r"(?![\d])", re.IGNORECASE)


def check_pages(corpus: Corpus, point: Point, src: SourceText | None, section: str | None) -> list[Problem]:
    """Page references are ones the briefing gives: report pages in the cited section, briefing pages in
    its contents. A briefing that gives no page numbers takes none."""
    briefing = corpus.briefings[point.source.briefing]
    problems = []
    if briefing.page_refs == "none" and point.source.pages:
        return [_problem(corpus, point, ("source", "pages"),
                         f"{briefing.id} gives no page numbers, but the point cites {list(point.source.pages)}")]
    if src is None:
        return []
    for i, ref in enumerate(point.source.pages):
        where = section if briefing.page_refs == "report" else src.whole()
        if where is None or not _page_pattern(ref).search(where):
            scope = f"the cited section {point.source.section!r}" if briefing.page_refs == "report" else "the briefing"
            problems.append(_problem(corpus, point, ("source", "pages", i), f"page {ref!r} is not given in {scope}"))
    return problems


def _ngrams(seq: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Every run of ``n`` (> 0) words in ``seq``, added in order: zip builds the tuples (a briefing has ~35,000 words),
    stopping at the shortest tail, so a text shorter than ``n`` words has none."""
    return set(zip(*(seq[k:] for k in range(n)), strict=False))


class _Phrases:
    """A briefing's runs of words, asked "is this run of n words in the briefing?": its CLOSE_NGRAM-word runs are
    indexed by where they start, and a longer run is looked for only where its first CLOSE_NGRAM words occur (a set
    of every 15-word run of a briefing took most of the verbatim check's time)."""

    def __init__(self, text: str):
        self.words = _words(text)
        self.starts: dict[tuple[str, ...], list[int]] = {}
        for i, gram in enumerate(zip(*(self.words[k:] for k in range(CLOSE_NGRAM)), strict=False)):
            self.starts.setdefault(gram, []).append(i)

    def __contains__(self, gram: tuple[str, ...]) -> bool:
        n = len(gram)
        if n == CLOSE_NGRAM:
            return gram in self.starts
        if n > CLOSE_NGRAM:
            return any(self.words[i : i + n] == gram for i in self.starts.get(gram[:CLOSE_NGRAM], ()))
        return gram in _ngrams(self.words, n)  # (no check asks for runs shorter than CLOSE_NGRAM)


@lru_cache(maxsize=64)
def _briefing_phrases(text: str) -> _Phrases:
    return _Phrases(text)


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """words(), cached: a point's fields and sentences, and a section's claims, are normalised by several checks
    (and by every run of check_corpus in one process), and normalise() is most of their cost."""
    return tuple(words(text))


@lru_cache(maxsize=1024)
def _joined_words(text: str) -> str:
    """A text's normalised words joined by single spaces (what the terms and population patterns are matched on)."""
    return " ".join(_words(text))


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


def check_verbatim(corpus: Corpus, point: Point, whole: str) -> list[Problem]:
    """No unmarked quotation: no run of 15 normalised words from the briefing, and no sentence that is
    mostly the briefing's phrasing, outside the ``quote`` field."""
    runs = close = _briefing_phrases(whole)
    problems = []
    for f in point_fields(point):
        if f.label == "quote":
            continue
        ws = _words(f.text)
        copied = next((g for g in _ngrams(ws, VERBATIM_RUN) if g in runs), None)
        if copied:
            problems.append(_problem(corpus, point, f.loc, f"{f.label}: {VERBATIM_RUN}+ words copied from the briefing "
                                                           f"(mark it as the quote, or say it in our own words): "
                                                           f"{' '.join(copied)!r}"))  # fmt: skip
            continue
        for sentence in _SENTENCE.split(f.text):
            sw = _words(sentence)
            if len(sw) < CLOSE_MIN_WORDS:
                continue
            covered = [False] * len(sw)
            for i in range(len(sw) - CLOSE_NGRAM + 1):
                if tuple(sw[i : i + CLOSE_NGRAM]) in close:
                    covered[i : i + CLOSE_NGRAM] = [True] * CLOSE_NGRAM
            share = sum(covered) / len(sw)
            if share >= CLOSE_SHARE:
                problems.append(_problem(corpus, point, f.loc, f"{f.label}: {share:.0%} of this sentence is the briefing's "
                                                               f"wording; say it in our own words: {sentence[:80]!r}"))  # fmt: skip
                break
    return problems


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str] | None:
    ws = words(term)
    if not ws:
        return None
    # whole words, the last one may carry an ending ("neglect" finds "neglected")
    return re.compile(r"\b" + r"\s+".join(re.escape(w) for w in ws) + r"\w*\b")


def check_terms(corpus: Corpus, point: Point, section: str) -> list[Problem]:
    """Each of the point's section ``terms`` (things the cited section mentions, for search) occurs in the
    cited section. Points without a ``terms`` field pass."""
    terms: Iterable[str] = getattr(point, "terms", None) or ()
    text = _joined_words(section)
    problems = []
    for i, term in enumerate(terms):
        pattern = _term_pattern(term)
        if pattern is not None and not pattern.search(text):
            problems.append(_problem(corpus, point, ("terms", i), f"term {term!r} does not occur in the cited section "
                                                                  f"{point.source.section!r}"))  # fmt: skip
    return problems


def _section_locs(sections: list[Section], prefix: str, loc: tuple[str | int, ...]) -> dict[str, tuple[str | int, ...]]:
    out: dict[str, tuple[str | int, ...]] = {}
    for i, section in enumerate(sections):
        path = prefix + section.heading
        here = (*loc, i)
        out[path] = (*here, "heading")
        out.update(_section_locs(section.children, path + SECTION_SEPARATOR, (*here, "children")))
    return out


def check_headings(corpus: Corpus, briefing: Briefing, src: SourceText) -> list[Problem]:
    """Every heading in the briefing's map is found in its text (a typo would cut sections wrongly)."""
    locs = _section_locs(briefing.sections, "", ("sections",))
    problems = []
    for path in src.missing:
        file, line = corpus.where("briefings", briefing.id, *locs.get(path, ()))
        problems.append(Problem(file, line, f"{briefing.id}: heading {path.split(SECTION_SEPARATOR)[-1]!r} "
                                            f"is not in the briefing's text"))  # fmt: skip
    for path, opening in src.missing_moved:
        heading_loc = locs.get(path, ())
        file, line = corpus.where("briefings", briefing.id, *heading_loc[:-1], "elsewhere")
        problems.append(Problem(file, line, f"{briefing.id}: {path.split(SECTION_SEPARATOR)[-1]!r}: the paragraph "
                                            f"opening {opening!r} is not in the briefing's text"))  # fmt: skip
    return problems


def check_knowledge_check(corpus: Corpus, check: Check, section: str, whole: str) -> list[Problem]:
    """A knowledge check says only what its point's cited section says: the evidence for the right answer is
    there word for word, and so is every number it states."""
    point = corpus.by_id[check.point]

    def problem(loc: tuple[str | int, ...], message: str) -> Problem:
        path, line = corpus.where("checks", check.id, *loc)
        return Problem(path, line, f"{check.id}: {message}")

    problems = []
    if normalise(check.evidence).lower() not in section.lower():
        problems.append(problem(("evidence",), f"evidence is not word for word in the cited section "
                                                f"{point.source.section!r} of point {point.id}"))  # fmt: skip
    if len(check.evidence.split()) > MAX_QUOTE_WORDS:
        problems.append(problem(("evidence",), f"evidence is {len(check.evidence.split())} words; keep it short "
                                                f"(<= {MAX_QUOTE_WORDS})"))  # fmt: skip
    evidence_numbers = set(NUMBER.findall(check.evidence))
    for number in NUMBER.findall(check.answer):
        if number not in evidence_numbers:
            problems.append(problem(("answer",), f"the answer's {number} is not in its evidence"))
    allowed = set(NUMBER.findall(section)) | _identity_numbers(corpus.briefings[point.source.briefing])
    runs = _briefing_phrases(whole)
    for name, text in (("question", check.question), ("answer", check.answer), ("explanation", check.explanation)):
        for number in NUMBER.findall(text):
            if number not in allowed:
                problems.append(problem((name,), f"{name}: {number} is not in the cited section {point.source.section!r}"))
        copied = next((g for g in _ngrams(_words(text), VERBATIM_RUN) if g in runs), None)
        if copied:
            problems.append(problem((name,), f"{name}: {VERBATIM_RUN}+ words copied from the briefing (the evidence "
                                             f"is the place for the briefing's words): {' '.join(copied)!r}"))  # fmt: skip
    return problems


PointCheck = Callable[[Corpus, Point, str], list[Problem]]
# Checks of a point against its cited section's text; add one here to run it everywhere.
SECTION_CHECKS: dict[str, PointCheck] = {"numbers": check_numbers, "terms": check_terms}


# ----- over-claiming: hedges, populations, and the point a check leans on ---------------------------------
# Warnings, not proof: these compare a point's sentence with the section sentence that shares most of its content
# words. A warning names the point's field (file:line); fix the wording, or, for a reviewed false positive, add an
# entry to OVERCLAIM_ALLOWED with the reason.

# (point or check id, warning kind, field label) -> why this warning is a false positive (reviewed; keep it small)
OVERCLAIM_ALLOWED: dict[tuple[str, str, str], str] = {
    ("e14-adolescents", "hedges", "title"): "names the shift of view the section asks for; it does not say how often "
    "practitioners see young people as troublesome (the summary keeps the report's 'often')",
    ("h14-information-sharing", "hedges", "title"): "the section's guidance in brief; the hedged sentence it pairs with "
    "describes how confidentiality 'may be prioritised', which the point's summary covers",
    ("p19-data-fatal", "hedges", "title"): "names the section's two categories of death (resulting from, and related "
    "to, maltreatment); the hedged sentence it pairs with is a footnote on CDOP data",
    ("p19-parental-characteristics", "hedges", "title"): "pairs with Table 4 run together with its footnote ('may "
    "reflect' limited information on fathers); the point keeps that caveat in its last key message",
    ("p19-parental-characteristics", "hedges", "summary"): "the same Table 4 text and footnote as the title; the figures "
    "are the table's, and the minimum-figures caveat is the last key message",
    ("p19-lived-experience", "hedges", "title"): "an instruction drawn from the section's learning, not a claim that "
    "every review found it; the summary keeps 'many reviews'",
    ("k-r14-not-a-checklist", "check-points", "point"): "the point says the answer in other words: the characteristics "
    "'cannot be turned into a checklist that predicts harm'",
    ("p19-police-at-every-stage", "hedges", "summary"): "the section's 'often' is about the information the police hold, "
    "which the summary's first sentence keeps; 'involved at every stage' is the section's 'at all stages'",
}

_STOP_WORDS = """
a about above after again against also although am among an and any are as at be because been before being below
between both but by did do does doing down during for from further had has have having he her here hers him his how
i if in into is it its itself me more my no nor not of off on once only or other our ours out over own same she so
such than that the their theirs them then there these they this those through to too under until up very was we
were what when where which while who whom why with you your yours s t e g eg ie p one two three also yet however
will would can could may might must should shall need needs being made make makes per cent within without whether
"""
_STOP = frozenset(_STOP_WORDS.split())
# Hedges, by family: a claim the section makes as a possibility (modal) or as true of some cases (scope) must keep a
# hedge of the same family. "can" is a weak hedge: a point saying "can" is not stating a rule, whatever the family.
# (Not hedges: "potential risks", "particularly important", "the most common", "a number of pressures".)
_MODAL = ("may", "might", "could", "perhaps", "possibly", "potentially", "suggest", "suggests", "suggested", "appear",
          "appears", "appeared", "seem", "seems", "seemed", "likely", "unlikely", "proposal", "propose", "proposes",
          "proposed", "an alternative to", "would be", "not necessarily")
_SCOPE = ("sometimes", "often", "commonly", "generally", "typically", "usually", "frequently", "occasionally",
          "rarely", "at times", "tend", "tends", "tended", "in some cases", "in many cases", "some", "many", "most",
          "several", "few", "majority", "minority", "not always")
# "most" as a superlative ("the most common", "most vulnerable") is not a scope hedge.
_SUPERLATIVE = re.compile(r"\bthe most\b|\bmost (?=common\b|\w+(?:ble|nt|ous|ive|ed|al|ic|ful)\b)")
HEDGE_REACH = (4, 12)  # a hedge governs the claim when shared content words sit this many words before/after it
_WEAK = ("can", "cannot", "would")  # (a point's "would" is conditional: "a decision would then be active")
# Absolutes: the point states a rule or a universal that the hedged section does not.
_ABSOLUTE = ("always", "never", "all", "every", "each", "must", "none", "no one", "nobody", "invariably",
             "is not the route", "are not the route", "should always", "in every case", "without exception")
_NOT_ABSOLUTE = ("all but", "above all", "all the more", "each other", "not all", "not every", "not always",
                 "must not", "nearly all", "almost all", "all of these", "almost every", "nearly every")
# The cited section's population (narrower) -> a broader population the point must not widen it to.
# Each entry: (narrower, found in the section's claim; broader, found in the point's sentence instead; its name; whether
# the section's claim must not itself use the broader term). Matched on normalised words (words()).
_GROUPS = r"(?:children|young people|parents|families|mothers|fathers|adolescents|babies|infants)"
POPULATIONS: tuple[tuple[str, str, str, bool], ...] = (
    (r"\blearning disabilit", r"\bdisabled\b|(?<!learning )\bdisabilit(?:y|ies)\b", "a child with a learning disability",
     True),
    (rf"\bsome (?:of the )?{_GROUPS}\b", rf"^(?!.*\b(?:some|many|most|several|few|certain|number|those)\b).*\b{_GROUPS}\b",
     "some of them, not all", False),
    (r"\bmothers?\b", r"\bparents?\b", "mothers", True),
    (r"\bfathers?\b", r"\bparents?\b", "fathers", True),
    (r"\b(?:boys?|girls?)\b", r"\bchild(?:ren)?\b", "boys or girls", True),
)
_TOKEN = re.compile(r"[a-z0-9\ufffd]+")


@lru_cache(maxsize=65536)
def _token_tuple(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(LIGATURES.sub("\ufffd", text.replace("\u2019", "'").replace("\u2018", "'")).lower().replace("'", "")))


def _tokens(text: str) -> list[str]:
    """Like words(), but a broken ligature does not swallow the next space: "staff may" stays two words.

    Cached (as a tuple) because the over-claiming checks compare every point sentence with every sentence of its
    section: the same few thousand sentences are tokenised tens of thousands of times."""
    return list(_token_tuple(text))


_STOP = _STOP | {w for m in _MODAL + _SCOPE + _WEAK + _ABSOLUTE for w in _tokens(m)}
PAIR_MIN_SHARED_TITLE = 4  # a title is short: it pairs only on a closer match
PAIR_MIN_SHARED = 3  # content words a point sentence and a section sentence must share to be "the same claim"
PAIR_MIN_SHARE = 0.5  # ... and that share of the point sentence's content words
# A check's point must contain the right answer (its figures, and this share of the answer's words that the evidence
# also has) and at least CHECK_MIN_EVIDENCE of the evidence's content words (a paraphrase keeps some of them).
CHECK_MIN_SHARE = 0.5
CHECK_MIN_EVIDENCE = 0.25

_CLAIM_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+[>•]\s+|\s+-\s+(?=[A-Z])|\s*\.\.\.\s*")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    if word == "children":
        return "child"
    for suffix in ("ies", "ing", "ful", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:6]


@lru_cache(maxsize=65536)
def content_stems(text: str) -> frozenset[str]:
    """The text's content words, crudely stemmed, for pairing sentences that make the same claim.

    Cached: a section sentence is compared with each sentence of every point that cites it."""
    return frozenset({_stem(w) for w in _token_tuple(text) if w not in _STOP and not w.isdigit() and len(w) > 2})


@lru_cache(maxsize=1024)
def _phrase(marker: str) -> str:
    """A marker as it is looked for in a joined text: its tokens, with a space each side."""
    return f" {' '.join(_tokens(marker))} "


@lru_cache(maxsize=65536)
def _plain_text(text: str) -> str:
    """The text's tokens joined by spaces, with "the most ..." (a superlative, not a scope hedge) blanked out: the
    blank stays a gap wider than one space, so no hedge is read across it ("at the most times" is not "at times")."""
    return " " + _SUPERLATIVE.sub(" ", " ".join(_tokens(text))) + " "


@lru_cache(maxsize=65536)
def _plain_words(text: str) -> tuple[str, ...]:
    """The text's tokens with "the most ..." blanked out (``_plain_text``)."""
    return tuple(_plain_text(text).split())


@lru_cache(maxsize=65536)
def _found_markers(text: str, markers: tuple[str, ...]) -> tuple[str, ...]:
    joined = _plain_text(text)
    return tuple(m for m in markers if _phrase(m) in joined)


def _markers(text: str, markers: Iterable[str]) -> list[str]:
    """The markers (hedges) the text uses. Cached per text: a point's sentence is asked once for each of its clauses."""
    return list(_found_markers(text, tuple(markers)))


@lru_cache(maxsize=64)
def _marker_words(markers: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((m, _token_tuple(m)) for m in markers)


@lru_cache(maxsize=65536)
def _marker_windows(claim: str, markers: tuple[str, ...]) -> tuple[tuple[str, tuple[frozenset[str], ...]], ...]:
    """Each marker ``claim`` uses, with the stems around each place it occurs (in order): what _governing compares
    with the words a point shares. Cached: a section claim pairs with many point sentences, each sharing other words."""
    ws = _plain_words(claim)
    places: dict[str, list[int]] = {}
    for i, w in enumerate(ws):
        places.setdefault(w, []).append(i)
    found = []
    for m, mw in _marker_words(markers):
        if not mw:  # (an empty marker would match everywhere; none is, but keep the old scan's meaning)
            starts: Iterable[int] = range(len(ws) + 1)
        else:
            starts = places.get(mw[0], ())
        windows = []
        for i in starts:
            if ws[i : i + len(mw)] == mw:
                # a hedge opening the claim governs all of it ("Sometimes the CAF was used ... when a referral ...")
                around = ws if i < 3 else ws[max(0, i - HEDGE_REACH[0]) : i + len(mw) + HEDGE_REACH[1]]
                windows.append(frozenset(_stem(w) for w in around))
        if windows:
            found.append((m, tuple(windows)))
    return tuple(found)


def _governing(claim: str, markers: Iterable[str], shared: set[str] | frozenset[str]) -> list[str]:
    """The hedges in ``claim`` that sit next to the content it shares with the point (not elsewhere in a long
    sentence): at least two shared words (or all, if fewer) within HEDGE_REACH of the hedge."""
    need = min(2, len(shared))
    return [m for m, windows in _marker_windows(claim, tuple(markers)) if any(len(w & shared) >= need for w in windows)]


@lru_cache(maxsize=65536)
def _found_absolutes(text: str) -> tuple[str, ...]:
    joined = " " + " ".join(_tokens(text)) + " "
    for phrase in _NOT_ABSOLUTE:
        joined = joined.replace(_phrase(phrase), " ")
    return tuple(m for m in _ABSOLUTE if _phrase(m) in joined)


def _absolutes(text: str) -> list[str]:
    return list(_found_absolutes(text))


_EVERY = ("all", "every", "each")


_ABBREVIATION = re.compile(r"\b(i\.e|e\.g)\.")
_POINT_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1024)
def _claims(text: str) -> tuple[str, ...]:
    text = _ABBREVIATION.sub(lambda m: m.group(1).replace(".", ""), " ".join(text.split()))
    return tuple(c.strip() for c in _CLAIM_SPLIT.split(text) if len(content_stems(c)) >= 2)


def claims(text: str) -> list[str]:
    """A text cut into claims: sentences, clauses after ; or :, and bullet points. (Not normalise(): in our own text
    "staff may" must stay two words.) Cached: a section is cut once for every check of every point citing it."""
    return list(_claims(text))


@lru_cache(maxsize=4096)
def _point_claims_cached(text: str) -> tuple[tuple[str, str], ...]:
    sentences = [s.strip() for s in _POINT_SENTENCE.split(" ".join(text.split())) if s.strip()]
    return tuple(dict.fromkeys([(s, s) for s in sentences] + [(c, s) for s in sentences for c in _claims(s)]))


def _point_claims(text: str) -> list[tuple[str, str]]:
    """A point's sentences, and their clauses, each with its sentence: a clause may pair with a short section claim,
    a whole sentence with a longer one; the hedges that count are the whole sentence's."""
    return list(_point_claims_cached(text))


@lru_cache(maxsize=256)
def _claim_index(section_claims: tuple[str, ...]) -> tuple[tuple[tuple[str, int], ...], dict[str, tuple[int, ...]]]:
    """Each claim with its number of content stems, and for each stem the claims (by index) that have it: a point's
    sentence shares a stem with few of a section's claims, so only those are counted."""
    postings: dict[str, list[int]] = {}
    entries = []
    for i, c in enumerate(section_claims):
        stems = content_stems(c)
        entries.append((c, len(stems)))
        for stem in stems:
            postings.setdefault(stem, []).append(i)
    return tuple(entries), {stem: tuple(ix) for stem, ix in postings.items()}


@lru_cache(maxsize=65536)
def _paired(sentence: str, section_claims: tuple[str, ...], least: int) -> tuple[str, ...]:
    mine = content_stems(sentence)
    if not mine:
        return ()
    entries, postings = _claim_index(section_claims)
    counts: dict[int, int] = {}  # claim index -> content stems shared with the sentence (none shared: not here)
    for stem in mine:
        for i in postings.get(stem, ()):
            counts[i] = counts.get(i, 0) + 1
    # (a claim sharing nothing passes only if least <= 0 and it has no stems: then count every claim, as before)
    candidates = sorted(counts) if least > 0 else range(len(entries))
    n_mine = len(mine)
    scored = []
    for i in candidates:
        c, n_theirs = entries[i]
        shared = counts.get(i, 0)
        # shared >= max(least, PAIR_MIN_SHARE * min(n_mine, n_theirs))
        if shared >= least and shared >= PAIR_MIN_SHARE * (n_mine if n_mine < n_theirs else n_theirs):
            scored.append((shared, c))
    best = max((n for n, _ in scored), default=0)
    return tuple(c for n, c in scored if n == best)


def paired_claims(sentence: str, section_claims: Sequence[str], least: int = PAIR_MIN_SHARED) -> list[str]:
    """The section's claims that say the same thing as ``sentence``: those sharing the most content words with it,
    enough of them (PAIR_MIN_SHARED, and PAIR_MIN_SHARE of the sentence's), ties included. Cached: the hedge and
    population checks pair the same sentences with the same section."""
    return list(_paired(sentence, tuple(section_claims), least))


def _claim_fields(point: Point) -> list[Field]:
    """The fields that make claims (not the reflective questions, nor the marked quote, which is the section's own)."""
    return [f for f in point_fields(point) if f.label not in ("quote", "content_note") and not f.label.startswith("questions")]


def _allowed(oid: str, kind: str, label: str) -> bool:
    return (oid, kind, label) in OVERCLAIM_ALLOWED


def check_hedges(corpus: Corpus, point: Point, section: str) -> list[Problem]:
    """Warn where the section hedges a claim (sometimes, often, may, suggests, one proposal...) and the point states
    it without that hedge, or as a rule (always, never, all, must, is not the route...). One warning per field."""
    section_claims = _claims(section)  # (the cached tuple itself: paired_claims' cache keys share it)
    warnings = []
    for f in _claim_fields(point):
        if _allowed(point.id, "hedges", f.label):
            continue
        least = PAIR_MIN_SHARED_TITLE if f.label == "title" else PAIR_MIN_SHARED
        why = next((w for unit, sentence in _point_claims(f.text) for w in _hedge_lost(unit, sentence, section_claims, least)),
                   None)  # fmt: skip
        if why:
            warnings.append(_problem(corpus, point, f.loc, f"warning: {f.label}: {why}"))
    return warnings


def _hedge_lost(unit: str, sentence: str, section_claims: Sequence[str], least: int) -> Iterator[str]:
    """Why ``unit`` (a sentence of the point, or a clause of ``sentence``) loses the hedge of the section claim it pairs
    with, if it does."""
    mine_modal, mine_scope = _markers(sentence, _MODAL), _markers(sentence, _SCOPE)
    mine_weak, mine_abs = _markers(sentence, _WEAK), _absolutes(unit)
    if NUMBER.search(sentence):  # a figure states the scope exactly
        mine_scope = mine_scope or ["(a figure)"]
    reasons = []
    for claim in paired_claims(unit, section_claims, least):
        shared = content_stems(unit) & content_stems(claim)
        modal, scope = _governing(claim, _MODAL, shared), _governing(claim, _SCOPE, shared)
        if not (modal or scope):
            return  # an equally close claim says it without a hedge: the point may be following that one
        theirs_abs = _absolutes(claim)
        # "each of the four" says what "in all four" says
        stated = [m for m in mine_abs if m not in theirs_abs and not (m in _EVERY and set(_EVERY) & set(theirs_abs))]
        lost = []
        if modal and not (mine_modal or mine_weak):
            lost += modal
        if scope and not (mine_scope or mine_weak or mine_modal):
            lost += scope
        if stated and (lost or not (mine_modal or mine_scope or mine_weak)):  # (a kept hedge scopes the sentence)
            why = f"states as {', '.join(map(repr, stated))} what the section hedges ({', '.join(map(repr, modal + scope))})"
        elif lost:
            why = f"drops the section's hedge ({', '.join(map(repr, lost))})"
        else:
            return
        reasons.append(f"{why}: {unit[:70]!r} <- section: {claim[:90]!r}")
    yield from reasons[:1]


@lru_cache(maxsize=16384)
def _widened(mine: str, theirs: str, populations: tuple[tuple[str, str, str, bool], ...]) -> str | None:
    """The name of the first of ``populations`` (POPULATIONS) that the section's claim (``theirs``, normalised words)
    narrows and the point's sentence (``mine``) widens, or None."""
    for narrow, broad, name, strict in _population_patterns(populations):
        # (the narrow population first: most section claims name none, and then nothing else need be looked for)
        if not narrow.search(theirs) or (strict and broad.search(theirs)):
            continue
        if not narrow.search(mine) and broad.search(mine):
            return name
    return None


@lru_cache(maxsize=4)
def _population_patterns(
    populations: tuple[tuple[str, str, str, bool], ...],
) -> tuple[tuple[re.Pattern[str], re.Pattern[str], str, bool], ...]:
    return tuple((re.compile(narrow), re.compile(broad), name, strict) for narrow, broad, name, strict in populations)


def check_populations(corpus: Corpus, point: Point, section: str) -> list[Problem]:
    """Warn where the point widens the section's population ("a child with a learning disability" -> "a disabled
    child", "some children" -> "children"), comparing each point sentence with the section claims it pairs with."""
    section_claims = _claims(section)
    warnings = []
    for f in _claim_fields(point):
        if _allowed(point.id, "populations", f.label):
            continue
        for sentence, _ in _point_claims(f.text):
            mine = _joined_words(sentence)
            hit = None
            for claim in paired_claims(sentence, section_claims):
                name = _widened(mine, _joined_words(claim), POPULATIONS)
                if name is not None:
                    hit = (name, claim)
                    break
            if hit:
                warnings.append(_problem(corpus, point, f.loc, f"warning: {f.label}: widens the section's population "
                                                               f"({hit[0]}): {sentence[:70]!r} <- section: "
                                                               f"{hit[1][:90]!r}"))  # fmt: skip
                break  # one warning per field
    return warnings


def point_text(point: Point) -> str:
    return " ".join(f.text for f in point_fields(point) if not f.label.startswith("questions"))


def check_check_point(corpus: Corpus, check: Check) -> list[Problem]:
    """Warn where a knowledge check leans on a point that does not say what the check asks: the answer's numbers, and
    most of the evidence's content words, must be in the point's own text (the explanation sends readers there)."""
    if _allowed(check.id, "check-points", "point"):
        return []
    point = corpus.by_id[check.point]
    text = point_text(point)
    missing_numbers = [n for n in NUMBER.findall(check.answer) if n not in set(NUMBER.findall(text))]
    evidence = content_stems(check.evidence)
    share = len(evidence & content_stems(text)) / len(evidence) if evidence else 1.0
    answer = content_stems(check.answer) & evidence
    answer_share = len(answer & content_stems(text)) / len(answer) if answer else 1.0
    if NUMBER.search(check.answer) and not missing_numbers:
        return []  # a figure is the answer, and the point gives it
    if not missing_numbers and share >= CHECK_MIN_EVIDENCE and answer_share >= CHECK_MIN_SHARE:
        return []
    why = (f"the answer's {', '.join(missing_numbers)} is not in it" if missing_numbers
           else f"it shares {share:.0%} of the evidence's words and {answer_share:.0%} of the answer's")
    path, line = corpus.where("checks", check.id, "point")
    return [Problem(path, line, f"{check.id}: warning: point {point.id} does not back this check ({why}); "
                                f"link the point that says it, or amend the point")]  # fmt: skip


# Warning checks of a point against its cited section (run by check_corpus, reported in Report.warnings).
WARNING_CHECKS: dict[str, PointCheck] = {"hedges": check_hedges, "populations": check_populations}


@dataclass
class Report:
    problems: list[Problem]
    checked: list[str]  # briefing ids whose text was available
    unchecked: list[Briefing]  # briefings whose points could not be checked (no text)
    untexted: list[str] = field(default_factory=list)  # local points whose cited section has no text
    warnings: list[Problem] = field(default_factory=list)  # likely over-claiming (hedges, populations, check-points)


def check_corpus(corpus: Corpus, sources: Sources, only: Iterable[str] | None = None) -> Report:
    """Run every fidelity check (or only the named ones: numbers, terms, quotes, pages, headings, verbatim, checks,
    and the warnings hedges, populations, check-points) for every point whose briefing's text is available."""
    wanted = set(only) if only is not None else {*SECTION_CHECKS, *WARNING_CHECKS, "quotes", "pages", "headings",
                                                 "verbatim", "checks", "check-points"}  # fmt: skip
    problems: list[Problem] = []
    warnings: list[Problem] = []
    checked, unchecked = [], []
    for briefing in corpus.briefings.values():
        src = sources.text(briefing)
        if src is None:
            unchecked.append(briefing)
        else:
            checked.append(briefing.id)
            if "headings" in wanted:
                problems += check_headings(corpus, briefing, src)
    untexted: list[str] = []
    for point in corpus.points:
        briefing = corpus.briefings[point.source.briefing]
        src = sources.text(briefing)
        section = src.section(point.source.section) if src is not None else None
        if section is None:
            if briefing.local:  # a local section without text: a quote cannot be shown as "from the source"
                untexted.append(point.id)
                if "quotes" in wanted:
                    problems += check_quote(corpus, point, None)
            continue  # (a national heading that was not found is reported once, by check_headings)
        for name, check in SECTION_CHECKS.items():
            if name in wanted:
                problems += check(corpus, point, section)
        for name, warn in WARNING_CHECKS.items():
            if name in wanted:
                warnings += warn(corpus, point, section)
        if "quotes" in wanted:
            problems += check_quote(corpus, point, section)
        if "pages" in wanted and not briefing.local:  # a local source's pages are its curator's own
            problems += check_pages(corpus, point, src, section)
        if "verbatim" in wanted:
            problems += check_verbatim(corpus, point, src.whole())
    if "check-points" in wanted:
        for check in corpus.checks:
            warnings += check_check_point(corpus, check)
    if "checks" in wanted:
        for check in corpus.checks:
            point = corpus.by_id[check.point]
            src = sources.text(corpus.briefings[point.source.briefing])
            section = src.section(point.source.section) if src else None
            if src is None or section is None:
                continue  # no text for this briefing (reported as unchecked), or a missing heading (reported once)
            problems += check_knowledge_check(corpus, check, section, src.whole())
    return Report(problems, checked, unchecked, untexted, warnings)


def sources_hint(corpus: Corpus) -> list[str]:
    """Where a curator can get the briefings' texts: their public addresses."""
    lines = []
    for b in corpus.briefings.values():
        if b.local:
            continue
        where = b.url or "(no public address recorded)"
        lines.append(f"  {b.seed}: {b.title} - {where}")
    return lines
