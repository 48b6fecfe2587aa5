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

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.content import Corpus, Point, load_corpus
from bot.yamlfile import Problem, ProblemsError, load_yaml

NOT_COVERED_FILE = "not-covered.yaml"
# What looks like a specific named thing in a briefing: acronyms (MARAC, CDOP), Acts with a year,
# and runs of capitalised words (Child Sex Offender Disclosure Scheme).
_ACRONYM = re.compile(r"\b[A-Z][A-Z&]{1,}s?\b")
_ACT = re.compile(r"\b(?:[A-Z][a-z]+ ){1,5}Act(?: \d{4})?")
_NAMED = re.compile(r"\b(?:[A-Z][a-z'’]+ ){1,4}(?:[A-Z][a-z'’]+)\b")
WRAP = 116


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
    """Lower-case, straight apostrophes, hyphens as spaces, single spaces: for whole-word matching."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", " ").replace("\u2014", " ")
    text = re.sub(r"[-/]", " ", text.lower())
    text = re.sub(r"[^a-z0-9'&]+", " ", text)
    return f" {' '.join(text.split())} "


def mentions(text_norm: str, name: str) -> bool:
    """Whether ``name`` occurs as whole words in already-normalised text (plural -s allowed)."""
    n = normalise(name).strip()
    return bool(n) and (f" {n} " in text_norm or f" {n}s " in text_norm)


def point_text(point: Point) -> str:
    return " ".join([point.title, point.summary, *point.key_messages, point.quote or "", *point.questions,
                     point.content_note or "", *point.terms])


def candidates(text: str) -> set[str]:
    found = set(_ACRONYM.findall(text)) | set(_ACT.findall(text))
    for m in _NAMED.findall(text):
        found.add(m.strip())
    return {c for c in found if len(c) > 1}


def section_texts(corpus: Corpus, sources_dir: Path) -> dict[tuple[str, str], str]:
    """Each cited section's text, from the shared extractor in ``bot.sources``."""
    from bot import sources  # the cited-section extractor shared with the fidelity checks

    return sources.section_texts(corpus, sources_dir)


def whole_texts(corpus: Corpus, sources_dir: Path) -> dict[str, str]:
    out = {}
    for b in corpus.briefings.values():
        seed = getattr(b, "seed", None)
        if seed and (sources_dir / seed).is_file():
            out[b.id] = (sources_dir / seed).read_text(encoding="utf-8")
    return out


def terms_for(section: str, accept: list[str]) -> list[str]:
    """Accepted terms the section mentions, in the order it first mentions them (ties: as curated)."""
    norm = normalise(section)
    found = []
    for term in accept:
        n = normalise(term).strip()
        pos = norm.find(f" {n} ")
        if pos < 0:
            pos = norm.find(f" {n}s ")
        if pos >= 0:
            found.append((pos, term))
    out: list[str] = []
    for _, term in sorted(found, key=lambda x: x[0]):
        if normalise(term) not in {normalise(t) for t in out}:
            out.append(term)
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
        for path in sorted({corpus.origin[p.id][0] for p in corpus.points}):
            if rewrite_terms(path, report.terms):
                report.changed.append(path)
        target = content_dir / NOT_COVERED_FILE
        text = not_covered_yaml(kept)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            report.changed.append(target)
        load_corpus(content_dir)  # what was written must load
    return report
