"""Generate each point's ``terms:`` and the "not covered" topics from the source briefings.

``scr-bot content terms`` is run by a curator when points or sources change. Its inputs are the
points, the source briefings' text and the person-reviewed curation file (``curation/terms.yaml``);
its outputs are committed content the bot reads at run time, so the bot never needs the sources:

- each point's ``terms:``: the accepted terms its cited section mentions (MARAC, Sarah's Law, the
  Serious Crime Act 2015 ...), in the order the section mentions them. Search indexes them at a low
  weight and answers say "the briefing's section on … mentions MARAC".
- ``content/not-covered.yaml``: the curated topics (FGM, radicalisation, LADO ...) none of whose
  names occurs in any point or any section of any briefing. That is the evidence behind answering
  "these briefings do not cover it".

The same inputs always give the same output (sorted, no timestamps), so it can be re-run after
others edit points. Candidate terms it finds that the curation file neither accepts nor rejects
are listed for a person to review, never written on their own.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.content.corpus import SECTION_SEPARATOR, Corpus, Point, load_corpus
from bot.content.yamlfile import Problem, ProblemsError, load_yaml

NOT_COVERED_FILE = "not-covered.yaml"
# What looks like a specific named thing in a briefing: acronyms (MARAC, CDOP), Acts with a year,
# and runs of capitalised words (Child Sex Offender Disclosure Scheme).
_ACRONYM = re.compile(r"\b[A-Z][A-Z&]{1,}s?\b")
_ACT = re.compile(r"\b(?:[A-Z][a-z]+ ){1,5}Act(?: \d{4})?")
_NAMED = re.compile(r"\b(?:[A-Z][a-z'’]+ ){1,4}(?:[A-Z][a-z'’]+)\b")
WRAP = 116
_REFERENCES = re.compile(r"^\s*References\s*$", re.M)


@dataclass
class Curation:
    accept: list[str]
    reject: list[str]
    not_covered: list[dict]

    @classmethod
    def load(cls, path: Path) -> Curation:
        doc = load_yaml(path)
        data = doc.data or {}
        if not isinstance(data, dict):
            raise ProblemsError([Problem(path, 1, "expected a mapping with accept, reject and not_covered")])
        problems = [Problem(path, doc.line_of([key, i]), f"{key} entry must be text (quote it): {value!r}")
                    for key in ("accept", "reject") for i, value in enumerate(data.get(key) or [])
                    if not isinstance(value, str)]
        if problems:
            raise ProblemsError(problems)
        return cls(accept=list(data.get("accept") or []), reject=list(data.get("reject") or []),
                   not_covered=list(data.get("not_covered") or []))


@dataclass
class Report:
    terms: dict[str, list[str]] = field(default_factory=dict)  # point id -> terms
    not_covered: list[str] = field(default_factory=list)  # topic ids kept
    mentioned: list[str] = field(default_factory=list)  # "topic: name occurs in ..." (left out)
    candidates: dict[str, set[str]] = field(default_factory=dict)  # unreviewed candidate -> point ids
    changed: list[Path] = field(default_factory=list)


def normalise(text: str) -> str:
    """The words the fidelity checks compare (``bot.content.sources.words``: ligatures, curly quotes and
    punctuation made harmless), lower case and space-separated, with a space at each end."""
    from bot.content.sources import words

    return f" {' '.join(words(text))} "


def mentions(text_norm: str, name: str) -> bool:
    """Whether ``name`` occurs as whole words in already-normalised text (its last word may take an
    ending, as ``content check`` allows: "bullying" is found in "bullying", "MARAC" in "MARACs")."""
    return _position(text_norm, name) >= 0


def _position(text_norm: str, name: str) -> int:
    pattern = _name_pattern(name)
    match = pattern.search(text_norm) if pattern else None
    return match.start() if match else -1


@functools.lru_cache(maxsize=4096)
def _name_pattern(name: str) -> re.Pattern[str] | None:
    """A name's whole-word pattern, made once: ``generate`` looks for each curated name and candidate in every
    section and point (tens of thousands of searches for a few hundred names), and normalising the name and
    compiling its pattern cost more than the search."""
    n = normalise(name).strip()
    return re.compile(r" " + re.escape(n) + r"[a-z]{0,3} ") if n else None


def point_text(point: Point) -> str:
    return " ".join([point.title, point.summary, *point.key_messages, point.quote or "", *point.questions,
                     point.content_note or "", *point.terms])


def candidates(text: str) -> set[str]:
    found = set(_ACRONYM.findall(text)) | set(_ACT.findall(text))
    for m in _NAMED.findall(text):
        found.add(m.strip())
    return {c for c in found if len(c) > 1}


def section_texts(corpus: Corpus, sources_dir: Path) -> dict[tuple[str, str], str]:
    """Each cited section's text, from the extractor the fidelity checks use (``bot.content.sources``), so a
    term written here is exactly what ``content check`` finds in the cited section."""
    from bot.content.sources import Sources

    sources = Sources(sources_dir)
    texts = {}
    for b in corpus.briefings.values():
        src = sources.text(b)
        if src is not None and (refs := _REFERENCES.search(src.text)):
            src = dataclasses.replace(src, text=src.text[: refs.start()])  # a reading list is not the section
        texts[b.id] = src
    out = {}
    for p in corpus.points:
        key = (p.source.briefing, p.source.section)
        src = texts.get(p.source.briefing)
        if key not in out and src is not None:
            out[key] = _own_text(src, p.source.section)
    return out


def _own_text(src: object, path: str) -> str:
    """The section's own words: no slack past its ends (the fidelity check allows some for two-column
    pages) and, for a parent heading, not its sub-sections' text, so that "the briefing's section on X
    mentions Y" is true as written and a term lands on the point whose section really has it.

    The map's ``elsewhere`` paragraphs count too: a paragraph the extraction printed under another
    heading is the section's it belongs to, not the one it sits in (the research briefing's
    recommendations on uncertainty sit under "Domestic abuse"). A heading printed beside another, so
    that the text under it is its neighbour's, has only its moved paragraphs as its own words."""
    spans: dict[str, tuple[int, int]] = getattr(src, "spans", {})
    moved: dict[str, list[tuple[int, int]]] = getattr(src, "moved", {})
    text: str = getattr(src, "text", "")
    if path not in spans:
        return ""
    start, end = spans[path]
    below = path + SECTION_SEPARATOR
    children = [s for p, (s, _) in spans.items() if p.startswith(below) and s > start]
    if children:
        end = min(end, min(children))
    mine = moved.get(path, [])
    beside = any(a < start and e >= spans[path][1] for p, (a, e) in spans.items()
                 if p != path and not path.startswith(p + SECTION_SEPARATOR))
    pieces: list[str] = []
    if not (mine and beside):
        others = sorted(r for p, ranges in moved.items() if p != path for r in ranges)
        pos = start
        for a, b in others:
            if b > pos and a < end:
                pieces.append(text[pos:max(pos, a)])
                pos = max(pos, b)
        pieces.append(text[pos:end])
    pieces += [text[a:b] for a, b in mine]
    return " ".join(" ".join(pieces).split())


def whole_texts(corpus: Corpus, sources_dir: Path) -> dict[str, str]:
    from bot.content.sources import Sources

    sources = Sources(sources_dir)
    out = {}
    for b in corpus.briefings.values():
        src = sources.text(b)
        if src is not None:
            out[b.id] = src.whole()
    return out


def terms_for(section: str, accept: list[str]) -> list[str]:
    """Accepted terms the section mentions, in the order it first mentions them (ties: as curated)."""
    norm = normalise(section)
    found = [(pos, i, term) for i, term in enumerate(accept) if (pos := _position(norm, term)) >= 0]
    out: list[str] = []
    seen: set[str] = set()
    for _, _, term in sorted(found):
        norm = normalise(term)
        # once only, and not when a longer accepted term found here contains it ("Serious Crime Act" in "... 2015")
        if norm not in seen and not any(norm in normalise(other) and norm != normalise(other) for _, _, other in found):
            out.append(term)
            seen.add(norm)
    return out


def _flow(items: list[str], indent: str, key: str) -> list[str]:
    """A YAML flow list, wrapped: ``key: [a, b,`` / ``  c]``."""
    quoted = [json.dumps(i, ensure_ascii=False) if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 .'’()-]*", i) else i
              for i in items]
    lines, line = [], f"{indent}{key}: ["
    for i, q in enumerate(quoted):
        piece = q + (", " if i < len(quoted) - 1 else "]")
        if len(line) + len(piece) > WRAP and not line.endswith("["):
            lines.append(line.rstrip())
            line = indent + " " * (len(key) + 3)
        line += piece
    lines.append(line)
    return lines


def rewrite_terms(path: Path, terms: dict[str, list[str]]) -> bool:
    """Replace (or add) the ``terms:`` of every point in one YAML file; the rest is left byte for byte."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    i = 0
    current: str | None = None
    block: list[str] = []

    def flush() -> None:
        nonlocal block
        if current is None:
            out.extend(block)
            block = []
            return
        kept: list[str] = []
        skipping = False
        for line in block:
            if line.startswith("    terms:"):
                skipping = not line.rstrip().endswith("]")
                continue
            if skipping:
                skipping = not line.rstrip().endswith("]")
                continue
            kept.append(line)
        end = len(kept)
        while end > 0 and not kept[end - 1].strip():
            end -= 1
        new = _flow(terms[current], "    ", "terms") if terms.get(current) else []
        out.extend(kept[:end] + new + kept[end:])
        block = []

    while i < len(lines):
        line = lines[i]
        m = re.match(r"^  - id: *([a-z0-9-]+)\s*$", line)
        if m or (line and not line.startswith(" ") and current is not None):
            flush()
            current = m.group(1) if m else None
        block.append(line)
        i += 1
    flush()
    text = "\n".join(out) + "\n"
    if text != path.read_text(encoding="utf-8"):
        path.write_text(text, encoding="utf-8")
        return True
    return False


def not_covered_yaml(topics: list[dict]) -> str:
    out = [
        "# GENERATED by `scr-bot content terms` from curation/terms.yaml: do not edit here.",
        "# Safeguarding topics these briefings do not discuss: none of each topic's names occurs in any",
        "# learning point or in any section of the five briefings (checked when this file was generated).",
        "# `/scr` answers a query naming one honestly, with where practitioners usually look.",
        "not_covered:",
    ]
    for t in topics:
        out.append(f"  - id: {t['id']}")
        out.append(f"    label: {json.dumps(t['label'], ensure_ascii=False)}")
        for key in ("names", "alone", "look", "see_also"):
            if t.get(key):
                out += _flow([str(x) for x in t[key]], "    ", key)
    return "\n".join(out) + "\n"


def generate(content_dir: Path, sources_dir: Path, curation_path: Path, *, write: bool = True,
             sections: Callable[[Corpus, Path], dict[tuple[str, str], str]] = section_texts) -> Report:
    """Compute (and unless ``write`` is false, write) every point's terms and the not-covered topics."""
    corpus = load_corpus(content_dir)
    curation = Curation.load(curation_path)
    texts = sections(corpus, sources_dir)
    report = Report()
    reviewed = {normalise(t) for t in curation.accept + curation.reject}
    for p in corpus.points:
        section = texts.get((p.source.briefing, p.source.section), "")
        report.terms[p.id] = terms_for(section, curation.accept)
        for cand in candidates(section):
            if normalise(cand) not in reviewed:
                report.candidates.setdefault(cand, set()).add(p.id)

    # Not covered: no name in any point (as it will read after this run) or any briefing.
    haystacks = [(f"briefing {b}", normalise(t)) for b, t in sorted(whole_texts(corpus, sources_dir).items())]
    haystacks += [(f"point {p.id}", normalise(point_text(p) + " " + " ".join(report.terms[p.id]))) for p in corpus.points]
    kept = []
    for topic in curation.not_covered:
        where = next(((name, label) for name in topic.get("names", []) for label, text in haystacks
                      if mentions(text, name)), None)
        if where:
            report.mentioned.append(f"{topic['id']}: “{where[0]}” occurs in {where[1]}")
        else:
            kept.append(topic)
            report.not_covered.append(topic["id"])
    if write:
        for path in sorted({corpus.located[("points", p.id)][0].path for p in corpus.points}):
            if rewrite_terms(path, report.terms):
                report.changed.append(path)
        target = content_dir / NOT_COVERED_FILE
        text = not_covered_yaml(kept)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            report.changed.append(target)
        load_corpus(content_dir)  # what was written must load
    return report
