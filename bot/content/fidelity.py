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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from bot.content.corpus import SECTION_SEPARATOR, Briefing, Check, Corpus, Point, Section
from bot.content.sources import NUMBER, Sources, SourceText, normalise, words
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


def _ngrams(seq: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


@cache
def _briefing_ngrams(text: str, n: int) -> frozenset[tuple[str, ...]]:
    return frozenset(_ngrams(words(text), n))


_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")


def check_verbatim(corpus: Corpus, point: Point, whole: str) -> list[Problem]:
    """No unmarked quotation: no run of 15 normalised words from the briefing, and no sentence that is
    mostly the briefing's phrasing, outside the ``quote`` field."""
    runs = _briefing_ngrams(whole, VERBATIM_RUN)
    close = _briefing_ngrams(whole, CLOSE_NGRAM)
    problems = []
    for f in point_fields(point):
        if f.label == "quote":
            continue
        ws = words(f.text)
        copied = next((g for g in _ngrams(ws, VERBATIM_RUN) if g in runs), None)
        if copied:
            problems.append(_problem(corpus, point, f.loc, f"{f.label}: {VERBATIM_RUN}+ words copied from the briefing "
                                                           f"(mark it as the quote, or say it in our own words): "
                                                           f"{' '.join(copied)!r}"))  # fmt: skip
            continue
        for sentence in _SENTENCE.split(f.text):
            sw = words(sentence)
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
    text = " ".join(words(section))
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
    runs = _briefing_ngrams(whole, VERBATIM_RUN)
    for name, text in (("question", check.question), ("answer", check.answer), ("explanation", check.explanation)):
        for number in NUMBER.findall(text):
            if number not in allowed:
                problems.append(problem((name,), f"{name}: {number} is not in the cited section {point.source.section!r}"))
        copied = next((g for g in _ngrams(words(text), VERBATIM_RUN) if g in runs), None)
        if copied:
            problems.append(problem((name,), f"{name}: {VERBATIM_RUN}+ words copied from the briefing (the evidence "
                                             f"is the place for the briefing's words): {' '.join(copied)!r}"))  # fmt: skip
    return problems


PointCheck = Callable[[Corpus, Point, str], list[Problem]]
# Checks of a point against its cited section's text; add one here to run it everywhere.
SECTION_CHECKS: dict[str, PointCheck] = {"numbers": check_numbers, "terms": check_terms}


@dataclass
class Report:
    problems: list[Problem]
    checked: list[str]  # briefing ids whose text was available
    unchecked: list[Briefing]  # briefings whose points could not be checked (no text)
    untexted: list[str] = field(default_factory=list)  # local points whose cited section has no text


def check_corpus(corpus: Corpus, sources: Sources, only: Iterable[str] | None = None) -> Report:
    """Run every fidelity check (or only the named ones: numbers, terms, quotes, pages, headings, verbatim, checks)
    for every point whose briefing's text is available."""
    wanted = set(only) if only is not None else {*SECTION_CHECKS, "quotes", "pages", "headings", "verbatim", "checks"}
    problems: list[Problem] = []
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
        if "quotes" in wanted:
            problems += check_quote(corpus, point, section)
        if "pages" in wanted and not briefing.local:  # a local source's pages are its curator's own
            problems += check_pages(corpus, point, src, section)
        if "verbatim" in wanted:
            problems += check_verbatim(corpus, point, src.whole())
    if "checks" in wanted:
        for check in corpus.checks:
            point = corpus.by_id[check.point]
            src = sources.text(corpus.briefings[point.source.briefing])
            section = src.section(point.source.section) if src else None
            if src is None or section is None:
                continue  # no text for this briefing (reported as unchecked), or a missing heading (reported once)
            problems += check_knowledge_check(corpus, check, section, src.whole())
    return Report(problems, checked, unchecked, untexted)


def sources_hint(corpus: Corpus) -> list[str]:
    """Where a curator can get the briefings' texts: their public addresses."""
    lines = []
    for b in corpus.briefings.values():
        if b.local:
            continue
        where = b.url or "(no public address recorded)"
        lines.append(f"  {b.seed}: {b.title} - {where}")
    return lines
