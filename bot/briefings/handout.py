"""The handout for rooms without screens: a 7-minute briefing as Markdown and as a one-page A4 PDF.

Both carry the seven parts, each part's citation and "Since this briefing" note, every briefing's period,
and an action-plan table to fill in (what, owner, due date, done): partnerships ask agencies to record
each use of a briefing, and a team meeting without a screen records it on paper.

The PDF is made with fpdf2 (pyproject.toml says why that library): real text in an embedded Unicode font
(DejaVu Sans, shipped with matplotlib, which the bot already needs for its digest chart), 12 pt body
text, the document's title and language set, and the title and part headings as marked sections (tagged
and in the outline). It must fit ONE page, so a long briefing is shown shorter, step by step, the least
needed first: the further lines of each key part; the background's description; a "since this briefing"
note repeated word for word in a later part (said once, then "see part N"); the further "what to do"
prompts and discussion questions; an action-plan row; long summaries cut at a word with "…" and where to
read them whole (``/scr <point id>``); only then smaller body text, never below ``MIN_BODY_PT``. Every
part keeps its citation, every briefing its period, every currency note is on the page once, and quotes
are never cut (a figure or quote is the briefing's own words, whole, or not shown).
"""

from __future__ import annotations

import copy
import functools
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.briefings.builder import ACTION_COLUMNS, MINUTES, Line, Part, SevenMinuteBriefing

LANGUAGE = "en-GB"
BODY_PT = 12
MIN_BODY_PT = 10  # the smallest body text a handout falls back to (only when shortening was not enough)
SMALL_PT = 10  # citations, periods and "since" notes
TITLE_PT = 18
MARGIN_MM = 12
ACTION_ROWS = 3
CUE = f"About {MINUTES} minutes, face to face: read each part aloud, then talk it through."
MADE_BY = ("Made with scr-bot from published case review briefings. Figures and quotations are the briefings' "
           "own, cited under each part.")  # fmt: skip


class HandoutError(Exception):
    """The briefing could not be made to fit one page (one line, for the CLI)."""


@dataclass(frozen=True)
class _Fit:
    """How much of each part a handout shows: ``key_lines`` lines per key part, the background's theme
    description or not, the "what to do" prompts beyond the first, ``questions`` discussion questions at
    most, repeated "since" notes said once, ``rows`` empty action-plan rows, ``clip`` characters at most
    of a summary line (0: whole) and the body's point size."""

    key_lines: int
    description: bool
    prompts: bool
    questions: int = 9
    once: bool = False
    rows: int = ACTION_ROWS
    clip: int = 0
    body_pt: float = BODY_PT


_SHORTEST = dict(key_lines=1, description=False, prompts=False, questions=2, once=True, rows=2, clip=160)
FITS = (_Fit(9, True, True), _Fit(2, True, True), _Fit(1, True, True), _Fit(1, False, True), _Fit(1, False, False),
        _Fit(1, False, False, once=True), _Fit(1, False, False, questions=2, once=True),
        _Fit(1, False, False, questions=2, once=True, rows=2), _Fit(1, False, False, questions=2, once=True, rows=2, clip=220),
        _Fit(**_SHORTEST), _Fit(**_SHORTEST, body_pt=11), _Fit(**_SHORTEST, body_pt=MIN_BODY_PT),
        _Fit(**{**_SHORTEST, "clip": 110, "questions": 1}, body_pt=MIN_BODY_PT))  # fmt: skip


def _shown(part: Part, fit: _Fit) -> tuple[Line, ...]:
    if part.number == 1:
        return tuple(line for line in part.lines if (fit.description or line.kind != "theme")
                     and (fit.prompts or line.kind != "framing"))  # fmt: skip
    if part.slot is not None:
        return part.lines[: fit.key_lines]
    if part.number == 7 and not fit.prompts:
        return part.lines[:1]
    if part.number == 6:
        return part.lines[: fit.questions]
    return part.lines


def _clipped(line: Line, clip: int) -> str:
    """A summary line cut at a word with "…" and where to read it whole; quotes and our own words are whole."""
    text = _line_text(line)
    if not clip or len(text) <= clip or line.kind != "point" or line.field == "quote" or not line.point:
        return text
    cut = text[:clip].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}… (in full: /scr {line.point})"


def _notes(briefing: SevenMinuteBriefing, fit: _Fit) -> dict[int, list[str]]:
    """Each part's small print: its citation (always) and its "since" note (when ``fit.once``, a note already
    given in an earlier part is pointed to, not repeated)."""
    first: dict[str, int] = {}
    out: dict[int, list[str]] = {}
    for part in briefing.parts:
        notes = [f"Source: {part.citation}"] if part.citation else []
        if part.since:
            if fit.once and part.since in first:
                notes.append(f"Since this briefing: see part {first[part.since]}.")
            else:
                first.setdefault(part.since, part.number)
                notes.append(part.since)
        out[part.number] = notes
    return out


def _line_text(line: Line) -> str:
    return f"“{line.text}”" if line.field == "quote" else line.text


def _part_heading(part: Part) -> str:
    return f"{part.number} · {part.heading}" + (f": {part.title}" if part.title else "")


def markdown(briefing: SevenMinuteBriefing) -> str:
    """The handout as Markdown: the whole briefing (no shortening: Markdown has no page to fit)."""
    out = [f"# {briefing.title}", "", f"_{CUE}_", ""]
    fit = FITS[0]
    for part in briefing.parts:
        out += [f"## {_part_heading(part)}", ""]
        bullet = "- " if part.number in (6, 7) else ""
        for line in _shown(part, fit):
            text = _line_text(line)
            out.append(f"{bullet}{text}" if bullet else (f"> {text}" if line.field == "quote" else text))
            if not bullet:
                out.append("")
        if bullet:
            out.append("")
        if part.citation:
            out += [f"Source: {part.citation}", ""]
        if part.since:
            out += [f"{part.since}", ""]
    out += ["## Action plan", "", "| " + " | ".join(ACTION_COLUMNS) + " |", "|" + "---|" * len(ACTION_COLUMNS)]
    out += ["| " + " | ".join(" " for _ in ACTION_COLUMNS) + " |" for _ in range(ACTION_ROWS)]
    periods = "; ".join(f"{s.title}: {s.period}" for s in briefing.sources)
    out += ["", f"_{MADE_BY} Periods covered: {periods}._", ""]
    return "\n".join(out)


def _font_dir() -> Path:
    """DejaVu Sans from matplotlib's data: a Unicode font with every character the content uses (“ ” · –)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


_FACES = (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf"), ("I", "DejaVuSans-Oblique.ttf"))
_per_thread = threading.local()


def _add_fonts(pdf: Any) -> None:
    fonts = _font_dir()
    for style, file in _FACES:
        pdf.add_font("DejaVu", style, str(fonts / file))


def _parsed_fonts() -> dict[str, Any]:
    """The three faces parsed once per thread: parsing a face (its width table, its glyph table) costs more
    than laying out the page, and ``pdf_bytes`` may lay it out a dozen times."""
    fonts = getattr(_per_thread, "fonts", None)
    if fonts is None:
        from fpdf import FPDF

        template = FPDF()
        _add_fonts(template)
        fonts = _per_thread.fonts = {key: (font, Path(font.ttffile).read_bytes()) for key, font in template.fonts.items()}
    return fonts


@functools.cache
def _face_class() -> type:
    from fpdf.fonts import TTFFont

    class Face(TTFFont):
        """A parsed face whose text widths are remembered for one ``pdf_bytes`` call.

        fpdf2 breaks a line by measuring it again after each character, and every fit tried lays out the same
        lines again; a width is the sum of whole-number glyph widths, so a text's is its text-less-one-
        character's plus that character's, found in the memo instead of summed again. Same numbers, same
        page."""

        __slots__ = ()

        def get_text_width(self, text: str, font_size_pt: float, text_shaping_params: Any) -> tuple[int, float]:
            if text_shaping_params or self.is_symbol:
                return super().get_text_width(text, font_size_pt, text_shaping_params)
            if font_size_pt > self.biggest_size_pt:
                self.biggest_size_pt = font_size_pt
            memo: dict[tuple[str, str], int] = _per_thread.widths
            units = memo.get((self.fontkey, text)) if text else 0
            if units is None:
                head = memo.get((self.fontkey, text[:-1]))
                cw = self.cw
                units = head + cw[ord(text[-1])] if head is not None else sum(cw[ord(c)] for c in text)
                memo[(self.fontkey, text)] = units
            return len(text), units * font_size_pt * 0.001

    return Face


def _render_copy(font: Any, data: bytes) -> Any:
    """A face for one render: the parsed widths shared, what a render changes its own.

    fpdf2's own ``deepcopy`` of a face copies its 6,000-glyph width table, which costs more than the render;
    ``output()`` subsets the face's font tables in place, so each render gets its own (lazily read: only the
    render that is written out reads them) and its own subset and missing-glyph list."""
    from fontTools import ttLib
    from fpdf.fonts import SubsetMap

    mine = copy.copy(font)
    mine.__class__ = _face_class()
    mine.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, fontNumber=font.collection_font_number,
                               lazy=True)  # fmt: skip
    mine.missing_glyphs = []
    mine.biggest_size_pt = 0
    mine.subset = SubsetMap(mine)
    return mine


class _Overflow(Exception):
    """A render reached a second page: that fit does not fit, and the rest need not be laid out."""


@functools.cache
def _trial_class() -> type:
    from fpdf import FPDF

    class Trial(FPDF):
        @property
        def accept_page_break(self) -> bool:
            raise _Overflow

    return Trial


def _fitting(briefing: SevenMinuteBriefing, fit: _Fit):  # noqa: ANN202 - fpdf.FPDF or None
    """The briefing laid out with ``fit``, or None when it does not fit one page."""
    try:
        pdf = _render(briefing, fit)
    except _Overflow:
        return None
    return pdf if pdf.pages_count == 1 else None


def _render(briefing: SevenMinuteBriefing, fit: _Fit):  # noqa: ANN202 - fpdf.FPDF
    """The handout laid out with ``fit``; raises ``_Overflow`` as soon as it needs a second page."""
    from fpdf import TextStyle

    pdf = _trial_class()(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
    for key, (font, data) in _parsed_fonts().items():
        pdf.fonts[key] = _render_copy(font, data)
    pdf.set_title(briefing.title)
    pdf.set_lang(LANGUAGE)
    pdf.set_subject(f"A {MINUTES}-minute briefing with its sources and an action plan")
    pdf.set_creator("scr-bot")
    pdf.set_section_title_styles(
        TextStyle(font_family="DejaVu", font_style="B", font_size_pt=TITLE_PT, b_margin=1),
        TextStyle(font_family="DejaVu", font_style="B", font_size_pt=fit.body_pt, t_margin=2.2 if fit.body_pt == BODY_PT else 1.4),
    )
    body, small = fit.body_pt, SMALL_PT
    tall, short = 5.4 * body / BODY_PT, 4.6 * small / SMALL_PT
    notes = _notes(briefing, fit)
    pdf.add_page()
    pdf.set_font("DejaVu", "", body)
    pdf.start_section(briefing.title, level=0)
    pdf.set_font("DejaVu", "I", small)
    pdf.multi_cell(0, short, CUE, new_x="LMARGIN", new_y="NEXT", align="L")
    for part in briefing.parts:
        pdf.start_section(_part_heading(part), level=1)
        for line in _shown(part, fit):
            is_small = line.kind in ("period", "source")
            pdf.set_font("DejaVu", "I" if line.field == "quote" else "", small if is_small else body)
            prefix = "• " if part.number in (6, 7) else ""
            pdf.multi_cell(0, short if is_small else tall, prefix + _clipped(line, fit.clip), new_x="LMARGIN",
                           new_y="NEXT", align="L")  # fmt: skip
        if notes[part.number]:
            pdf.set_font("DejaVu", "", small)
            pdf.set_text_color(60, 60, 60)
            pdf.multi_cell(0, short - 0.2, "\n".join(notes[part.number]), new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.set_text_color(0, 0, 0)
    pdf.start_section("Action plan", level=1)
    pdf.set_font("DejaVu", "", body)
    with pdf.table(col_widths=(90, 40, 32, 22), line_height=7, first_row_as_headings=True) as table:
        table.row(ACTION_COLUMNS)
        for _ in range(fit.rows):
            table.row([""] * len(ACTION_COLUMNS))
    pdf.ln(1.5)
    pdf.set_font("DejaVu", "I", small - 1)
    periods = "; ".join(f"{s.title}: {s.period}" for s in briefing.sources)
    pdf.multi_cell(0, 4, f"{MADE_BY} Periods covered: {periods}.", new_x="LMARGIN", new_y="NEXT", align="L")
    return pdf


def pdf_bytes(briefing: SevenMinuteBriefing) -> bytes:
    """The handout as a one-page A4 PDF: the fullest version of the briefing that fits one page (the render
    that fitted is the one written out: it is not laid out a second time)."""
    _per_thread.widths = {}  # remembered for this handout's fits only: a long-running bot does not grow it
    try:
        for fit in FITS:
            pdf = _fitting(briefing, fit)
            if pdf is not None:
                return bytes(pdf.output())
    finally:
        _per_thread.widths = {}
    raise HandoutError(f"{briefing.title!r} does not fit one A4 page even shortened")
