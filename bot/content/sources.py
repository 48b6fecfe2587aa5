"""The briefings' own text, cut into the sections the content cites (no Slack, no Redis).

Learning points must be faithful to the section they cite, not merely to the briefing: a figure
that is true of one group of children is wrong when it is attached to another. This module finds
each cited heading in a briefing's text and returns that section's words, so the fidelity checks
(:mod:`bot.content.fidelity`) can ask "does the cited section say this?".

The texts are PDF extractions, so two things are allowed for:

* broken ligatures (``o�en``, ``di�cult``, ``� nal``) and curly quotes and dashes: :func:`normalise`
  maps every ``fi``/``ff``/``ft``… and every broken one to the same symbol, and straightens quotes;
* two-column layouts whose paragraphs come out interleaved (the end of one section printed after
  the next heading): a section's text runs from its heading to the next heading that is not below
  it, plus :data:`WINDOW` characters of slack either side, plus any paragraphs the map says were
  printed elsewhere (``elsewhere:``, found by their opening words); two headings printed side by side
  share the text that follows them.

A *local* briefing (a partnership's own learning) has no seed file; its sections may carry their
text inline, and that text is used as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.content.corpus import SECTION_SEPARATOR, Briefing, Section

# Slack, in characters, past each end of a section: a line or two printed on the wrong side of a heading.
# Whole paragraphs the two-column extraction moved under another heading are named in the map instead
# (a section's ``elsewhere``: their opening words), so the window can stay small and the check strict.
WINDOW = 300
# A heading followed by fewer characters than this before the next heading was printed beside it.
SIDE_BY_SIDE = 80

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# The text extraction broke ligatures (o�en, di�cult, sta�, � nal); treat any of them as one symbol.
# (ffi|ffl|ff|fi|fl|ft|\ufffd, written with one leading "f" so the regex engine does not try six alternatives
# at every character: a third of the time, the same matches.)
LIGATURES = re.compile(r"f(?:f[il]?|[ilt])|\ufffd", re.IGNORECASE)
# Curly quotes, dashes, ellipsis, no-break space -> plain. (Applied with str.replace, one character at a time:
# str.translate with a dict is several times slower, and no replacement contains a character replaced.)
_STRAIGHTEN = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2013", "-"), ("\u2014", "-"),
               ("\u2026", "..."), ("\u00a0", " "))  # fmt: skip
_LIGATURE_SPACE = re.compile(r"\ufffd[ \t]+")
_WORD = re.compile(r"[a-z0-9\ufffd]+")
# A contents-list line ("- > The new system - page 4"): the heading's entry, not the heading.
_CONTENTS_LINE = re.compile(r"-?\s*page \d+\s*$")


def _rest_of_line(text: str, pos: int) -> str:
    end = text.find("\n", pos)
    return text[pos:] if end < 0 else text[pos:end]


def _straight(text: str) -> str:
    """Straight quotes and one symbol for every (broken) ligature: normalise() but for the spacing."""
    for curly, plain in _STRAIGHTEN:
        if curly in text:
            text = text.replace(curly, plain)
    return _LIGATURE_SPACE.sub("\ufffd", LIGATURES.sub("\ufffd", text))


def normalise(text: str) -> str:
    """Straight quotes, one symbol for every (broken) ligature, single spaces: what comparisons use."""
    return " ".join(_straight(text).split())


def words(text: str) -> list[str]:
    """Normalised lower-case words without punctuation, so a comma or a dash cannot hide a copy.
    (Spacing is not normalised first: any run of spaces separates two words as one space does.)"""
    return _WORD.findall(_straight(text).lower().replace("'", ""))


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


@dataclass
class SourceText:
    """One briefing's text with every heading of its map located; ``section()`` cuts one out."""

    briefing: Briefing
    text: str  # normalised, one line per source line, one blank line between paragraphs, original case
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # heading path -> (start, end)
    missing: list[str] = field(default_factory=list)  # heading paths not found in the text
    # paragraphs a section's map entry says were printed away from its heading (``elsewhere``)
    moved: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    missing_moved: list[tuple[str, str]] = field(default_factory=list)  # (path, opening words) not found
    inline: dict[str, str] = field(default_factory=dict)  # local briefings: path -> the section's own text

    @classmethod
    def from_seed(cls, briefing: Briefing, raw: str) -> SourceText:
        lines = [normalise(line) for line in raw.splitlines()]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
        text = re.sub("\ufffd\n", "\ufffd", text)
        src = cls(briefing=briefing, text=text)
        src._locate()
        return src

    @classmethod
    def from_inline(cls, briefing: Briefing) -> SourceText:
        """A local briefing: each section's ``text`` (with its children's) is its section text."""
        inline: dict[str, str] = {}

        def walk(sections: list[Section], prefix: str) -> str:
            joined = []
            for section in sections:
                path = prefix + section.heading
                own = normalise(section.text or "")
                below = walk(section.children, path + SECTION_SEPARATOR)
                body = " ".join(t for t in (normalise(section.heading), own, below) if t)
                if own or below:
                    inline[path] = body
                joined.append(body)
            return " ".join(joined)

        whole = walk(briefing.sections, "")
        return cls(briefing=briefing, text=whole, inline=inline)

    def _candidates(self, heading: str) -> list[int]:
        """Where ``heading`` occurs, in the best kind of match found: the whole line in the map's own case, the
        whole line in any case (some briefings print headings in capitals), the start of a line, anywhere
        (looked for only when no line starts with it: a search of the whole text per heading). Empty if nowhere.
        Contents-list entries ("The new system - page 4") and lower-case list items are not headings."""
        body = r"\s+".join(re.escape(part) for part in normalise(heading).split())
        tiers: list[list[int]] = [[], [], []]
        for m in re.finditer(r"(?mi)^[ \t\-–>*•#]*(" + body + r")", self.text):
            rest = _rest_of_line(self.text, m.end(1)).strip(" *:")
            if _CONTENTS_LINE.search(rest):
                continue
            whole = not rest or rest.startswith("(see")
            if whole and m.group(1) == normalise(heading):
                tiers[0].append(m.start(1))
            elif whole:
                tiers[1].append(m.start(1))
            else:
                tiers[2].append(m.start(1))
        for tier in tiers:
            if tier:
                return tier
        return [m.start() for m in re.finditer(body, self.text, re.IGNORECASE)]

    def _locate(self) -> None:
        """Find every heading of the map. A heading the map repeats (the research briefing's findings and
        recommendations share sub-headings) takes its k-th occurrence; others the first after the heading
        before it, so a list item earlier in the text that happens to match is passed over."""
        paths = self.briefing.section_paths()
        leaf = [p.split(SECTION_SEPARATOR)[-1] for p in paths]
        repeats = {h for h in leaf if leaf.count(h) > 1}
        seen: dict[str, int] = {}
        found: dict[str, int] = {}
        previous = 0
        for path, heading in zip(paths, leaf, strict=True):
            best = self._candidates(heading)
            if not best:
                self.missing.append(path)
                continue
            if heading in repeats:
                k = seen.get(heading, 0)
                seen[heading] = k + 1
                chosen = best[k] if k < len(best) else best[-1]
            else:
                after = [p for p in best if p >= previous]
                chosen = after[0] if after else best[0]
            found[path] = chosen
            previous = max(previous, chosen)
        ordered = sorted(found.items(), key=lambda kv: kv[1])
        for path, start in found.items():
            below = path + SECTION_SEPARATOR
            later = [(p, other) for other, p in ordered if p > start and not other.startswith(below)]
            end = later[0][0] if later else len(self.text)
            # Two headings printed side by side (two columns) come out one after the other with no text
            # between: the first one's text is interleaved with the second's, so it runs on to the end
            # of the second (the health briefing's "Parental risk factors" beside "Domestic abuse").
            heading_end = start + len(normalise(path.split(SECTION_SEPARATOR)[-1]))
            for i, (p, _other) in enumerate(later):
                if end - heading_end > SIDE_BY_SIDE:
                    break
                heading_end = p + 1
                end = later[i + 1][0] if i + 1 < len(later) else len(self.text)
            self.spans[path] = (start, end)
        self._locate_moved(sorted(found.values()))

    def _locate_moved(self, heading_starts: list[int]) -> None:
        """A section's paragraphs that the extraction printed under another heading, found by their
        opening words (the map's ``elsewhere``); each runs to its paragraph's end or the next heading."""

        def walk(sections: list[Section], prefix: str) -> Iterator[tuple[str, Section]]:
            for section in sections:
                yield prefix + section.heading, section
                yield from walk(section.children, prefix + section.heading + SECTION_SEPARATOR)

        for path, section in walk(self.briefing.sections, ""):
            for opening in section.elsewhere:
                body = r"\s+".join(re.escape(part) for part in normalise(opening).split())
                m = re.search(body, self.text, re.IGNORECASE)
                if m is None:
                    self.missing_moved.append((path, opening))
                    continue
                para_end = self.text.find("\n\n", m.start())
                ends = [p for p in heading_starts if p > m.start()] + [para_end if para_end >= 0 else len(self.text)]
                self.moved.setdefault(path, []).append((m.start(), min(ends)))

    def _memo(self) -> dict[tuple[str, int | None] | None, str | None]:
        """Sections (by path and window) and the whole text (None) already cut from this text: the fidelity checks ask
        for the same section once per check of every point that cites it, and for the whole text once per point.
        Not a field (dataclasses.replace() with another text must not carry it over), and dropped when ``text`` is
        replaced; the headings' spans it is cut by are set once, when the text is made."""
        memo: tuple[str, dict[tuple[str, int | None] | None, str | None]] | None = self.__dict__.get("_memo_for")
        if memo is None or memo[0] is not self.text:
            memo = (self.text, {})
            self.__dict__["_memo_for"] = memo
        return memo[1]

    def section(self, path: str, window: int | None = None) -> str | None:
        """The cited section's normalised text (single-spaced), with ``window`` characters of slack each side;
        a parent heading's text includes its sub-sections wherever the extraction put them. ``None`` when
        the heading was not found (or a local section has no text)."""
        memo = self._memo()
        key = (path, window)
        if key not in memo:
            memo[key] = self._section(path, window)
        return memo[key]

    def _section(self, path: str, window: int | None) -> str | None:
        if self.briefing.local:
            return self.inline.get(path)
        below = path + SECTION_SEPARATOR
        if path not in self.spans:
            return None
        if window is None:
            window = WINDOW
        mine = [p for p in self.spans if p == path or p.startswith(below)]
        spans = sorted([(a - window, b + window) for p in mine for a, b in [self.spans[p]]]
                       + [span for p in mine for span in self.moved.get(p, [])])  # fmt: skip
        merged: list[list[int]] = []
        for start, end in spans:
            start = max(0, start)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return " ... ".join(" ".join(self.text[a:b].split()) for a, b in merged)

    def whole(self) -> str:
        memo = self._memo()
        whole = memo.get(None)
        if whole is None:
            whole = memo[None] = " ".join(self.text.split())
        return whole


class Sources:
    """The source texts for a corpus: seed files from ``directory`` (if given) and local briefings' own text."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory else None
        self._cache: dict[str, SourceText | None] = {}

    def seed_path(self, briefing: Briefing) -> Path | None:
        if self.directory is None or not briefing.seed:
            return None
        return self.directory / briefing.seed

    def text(self, briefing: Briefing) -> SourceText | None:
        """The briefing's text, or ``None`` when it is not available (no sources folder, file absent,
        local briefing without text)."""
        if briefing.id in self._cache:
            return self._cache[briefing.id]
        src: SourceText | None = None
        if briefing.local:
            src = SourceText.from_inline(briefing)
            if not src.inline:
                src = None
        else:
            path = self.seed_path(briefing)
            if path is not None and path.is_file():
                src = SourceText.from_seed(briefing, path.read_text(encoding="utf-8"))
        self._cache[briefing.id] = src
        return src

    def section_text(self, briefing: Briefing, path: str, window: int | None = None) -> str | None:
        """The normalised text of ``path`` in ``briefing`` (with slack), or ``None`` if unavailable."""
        src = self.text(briefing)
        return src.section(path, window) if src else None

    def available(self, briefings: dict[str, Briefing]) -> Iterator[Briefing]:
        return (b for b in briefings.values() if self.text(b) is not None)
