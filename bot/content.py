"""The learning content: briefings, sectors, themes and learning points, loaded from YAML.

Content is validated as a whole before the bot starts: a curator's typo must never reach a
team's channel. Every YAML file under the content folder is read and merged by its top-level
keys (``briefings``, ``sectors``, ``themes``, ``points``), so local authors can add their own
files beside the shipped ones.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.yamlfile import Problem, ProblemsError, YamlDoc, load_yaml, pydantic_problems

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]

SECTION_SEPARATOR = " > "
LOCAL_LABEL = "Local learning"
NATIONAL_LABEL = "National SCR briefing"
TOP_LEVEL_KEYS = ("briefings", "sectors", "themes", "points", "checks")
OPTION_MAX = 150


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(_Model):
    heading: Text
    pages: list[Text] = []
    # A local briefing's own words for this section (optional): what its points are checked against.
    text: Text | None = None
    # A national briefing whose PDF columns came out interleaved: the opening words of each paragraph of
    # this section that the text extraction printed under another heading (bot.sources finds them).
    elsewhere: list[Text] = []
    children: list[Section] = []


class Briefing(_Model):
    id: Slug
    title: Text
    short_title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    authors: Text
    publisher: Text
    year: int
    period: Text
    sector: Slug
    url: Text | None = None
    # The national briefings' extracted text, a file name in the sources folder (--sources / SCR_SOURCES_DIR).
    seed: Text | None = None
    # A local partnership's own learning (a 7-minute briefing, a rapid review): no seed file, answers say
    # "Local learning", and its sections may carry their own ``text``.
    local: bool = False
    page_refs: Annotated[str, StringConstraints(pattern=r"^(report|briefing|none)$")] = "report"
    sections: list[Section] = Field(min_length=1)

    @model_validator(mode="after")
    def _seed_unless_local(self) -> Briefing:
        if not self.local and not self.seed:
            raise ValueError("a national briefing needs 'seed' (its text file); mark your own source 'local: true'")
        return self

    def section_paths(self) -> list[str]:
        """Every heading as a path ("Parent > Child"), parents before their children."""
        out: list[str] = []

        def walk(sections: list[Section], prefix: str) -> None:
            for section in sections:
                path = prefix + section.heading
                out.append(path)
                walk(section.children, path + SECTION_SEPARATOR)

        walk(self.sections, "")
        return out


class Sector(_Model):
    id: Slug
    label: Text
    words: list[Text] = []


class Theme(_Model):
    id: Slug
    label: Text
    description: Text
    aliases: list[Text] = []


class Source(_Model):
    briefing: Slug
    section: Text
    pages: list[Text] = []


KINDS = {"practice": "Practice learning", "key-data": "Key data", "background": "Background"}


class Point(_Model):
    id: Slug
    # What the weekly post picks: practice learning and key data rotate; background (what an SCR is, who a
    # briefing is for, how the study was done) only where a team asks for it.
    kind: Literal["practice", "key-data", "background"]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
    key_messages: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]] = (
        Field(min_length=2, max_length=6)
    )
    quote: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    questions: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]] = Field(
        min_length=2, max_length=3
    )
    themes: list[Slug] = Field(min_length=1)
    sectors: list[Slug] = Field(min_length=1)
    content_note: Text | None = None
    source: Source

    @field_validator("questions")
    @classmethod
    def _questions_are_questions(cls, value: list[str]) -> list[str]:
        for q in value:
            if not q.endswith("?"):
                raise ValueError(f"reflective question should end with '?': {q[:60]!r}")
        return value


Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=OPTION_MAX)]


class Check(_Model):
    """A multiple-choice knowledge check on one learning point.

    ``evidence`` is a short excerpt, word for word, from the section the point cites: it is what
    makes the right answer checkable against the briefing (see tests/test_checks_fidelity.py).
    """

    id: Slug
    point: Slug
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    answer: Option
    distractors: list[Option] = Field(min_length=2, max_length=3)
    explanation: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    evidence: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]

    @field_validator("question")
    @classmethod
    def _is_a_question(cls, value: str) -> str:
        if not value.endswith("?"):
            raise ValueError("a check's question should end with '?'")
        return value

    @field_validator("distractors")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        folded = [v.casefold() for v in value]
        if len(set(folded)) != len(folded):
            raise ValueError("distractors must all be different")
        return value

    @property
    def options(self) -> list[str]:
        """The answer and distractors in a fixed order per check (so the right answer is not always first)."""
        opts = [self.answer, *self.distractors]
        start = zlib.crc32(self.id.encode()) % len(opts)
        return opts[start:] + opts[:start]


@dataclass(eq=False)  # compared and hashed by identity: one loaded corpus, used as a cache key
class Corpus:
    """All content, indexed; built only from content that passed validation."""

    briefings: dict[str, Briefing]
    sectors: dict[str, Sector]
    themes: dict[str, Theme]
    points: list[Point]
    origin: dict[str, tuple[Path, int]] = field(default_factory=dict)
    # Where each briefing, point and check was written ("briefings"/"points"/"checks", id) -> (document, list
    # index), so later checks (source fidelity) can name the exact line of the field they object to.
    located: dict[tuple[str, str], tuple[YamlDoc, int]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id: dict[str, Point] = {p.id: p for p in self.points}
        self.check_by_id: dict[str, Check] = {c.id: c for c in self.checks}

    def check(self, check_id: str) -> Check | None:
        return self.check_by_id.get(check_id)

    def checks_for(self, point_id: str) -> list[Check]:
        return [c for c in self.checks if c.point == point_id]

    def point(self, point_id: str) -> Point | None:
        return self.by_id.get(point_id)

    def points_for(self, theme: str | None = None, sector: str | None = None) -> list[Point]:
        return [
            p
            for p in self.points
            if (theme is None or theme in p.themes) and (sector is None or sector in p.sectors)
        ]

    def where(self, kind: str, oid: str, *loc: str | int) -> tuple[Path, int]:
        """``file, line`` of a field of a briefing or point (``kind`` is "briefings" or "points")."""
        found = self.located.get((kind, oid))
        if found is None:
            return self.origin.get(oid, (Path(kind), 1))
        doc, index = found
        return doc.path, doc.line_of([kind, index, *loc])

    def is_local(self, point: Point) -> bool:
        """Learning from a partnership's own source rather than the national briefings."""
        briefing = self.briefings.get(point.source.briefing)
        return bool(briefing and briefing.local)

    def source_label(self, point: Point) -> str:
        """What kind of source a point comes from, as every answer labels it."""
        return LOCAL_LABEL if self.is_local(point) else NATIONAL_LABEL

    def citation(self, point: Point) -> str:
        """A one-line citation: briefing, section, and the page references the briefing gives; a local
        source is labelled "Local learning" so nobody mistakes it for the national analysis."""
        briefing = self.briefings[point.source.briefing]
        parts = [f"{briefing.short_title}", f"section “{point.source.section}”"]
        if briefing.local:
            parts.insert(0, LOCAL_LABEL)
        if point.source.pages:
            label = "report" if briefing.page_refs == "report" else "briefing"
            parts.append(f"{label} {', '.join(point.source.pages)}")
        return " · ".join(parts)

    def coverage(self) -> dict[str, dict[str, list[str]]]:
        """Briefing id → heading path → ids of the points that cite it (the coverage map)."""
        cover: dict[str, dict[str, list[str]]] = {}
        for briefing in self.briefings.values():
            cover[briefing.id] = {path: [] for path in briefing.section_paths()}
        for p in self.points:
            cover.get(p.source.briefing, {}).setdefault(p.source.section, []).append(p.id)
        return cover

    def uncovered(self) -> list[tuple[str, str]]:
        """Headings with no point: a leaf needs its own point, a parent needs one anywhere below."""
        out = []
        cover = self.coverage()
        for briefing in self.briefings.values():
            table = cover[briefing.id]
            for path in briefing.section_paths():
                below = [ids for p, ids in table.items() if p == path or p.startswith(path + SECTION_SEPARATOR)]
                if not any(below):
                    out.append((briefing.id, path))
        return out


def _list_section(doc: YamlDoc, key: str, problems: list[Problem]) -> list[tuple[int, object]]:
    raw = doc.data.get(key) if isinstance(doc.data, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(Problem(doc.path, doc.line_of([key]), f"'{key}' must be a list"))
        return []
    return list(enumerate(raw))


def content_files(content_dir: Path) -> list[Path]:
    return sorted(p for p in content_dir.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_corpus(content_dir: Path) -> Corpus:
    """Load and validate every YAML file under ``content_dir``; raise ``ProblemsError`` listing all problems."""
    content_dir = Path(content_dir)
    problems: list[Problem] = []
    if not content_dir.is_dir():
        raise ProblemsError([Problem(content_dir, 1, "content folder not found (set SCR_CONTENT_DIR)")])
    docs: list[YamlDoc] = []
    for path in content_files(content_dir):
        try:
            docs.append(load_yaml(path))
        except ProblemsError as exc:
            problems.extend(exc.problems)

    models = {"briefings": Briefing, "sectors": Sector, "themes": Theme, "points": Point, "checks": Check}
    found: dict[str, list[tuple[YamlDoc, int, BaseModel]]] = {k: [] for k in TOP_LEVEL_KEYS}
    located: dict[tuple[str, str], tuple[YamlDoc, int]] = {}
    for doc in docs:
        if doc.data is None:
            continue
        if not isinstance(doc.data, dict):
            problems.append(Problem(doc.path, 1, f"expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}"))
            continue
        for key in doc.data:
            if key not in TOP_LEVEL_KEYS:
                problems.append(
                    Problem(doc.path, doc.line_of([key]), f"unknown top-level key {key!r} (use {', '.join(TOP_LEVEL_KEYS)})")
                )
        for key, model in models.items():
            for index, raw in _list_section(doc, key, problems):
                try:
                    found[key].append((doc, index, model.model_validate(raw)))
                    located.setdefault((key, str(getattr(found[key][-1][2], "id", ""))), (doc, index))
                except ValidationError as exc:
                    problems.extend(pydantic_problems(doc, [key, index], exc))

    def unique(key: str) -> dict[str, BaseModel]:
        seen: dict[str, BaseModel] = {}
        first: dict[str, Problem] = {}
        for doc, index, obj in found[key]:
            oid = obj.id  # type: ignore[attr-defined]
            where = Problem(doc.path, doc.line_of([key, index, "id"]), "")
            if oid in seen:
                problems.append(
                    Problem(where.path, where.line, f"duplicate {key[:-1]} id {oid!r} (first defined at {first[oid].path}:{first[oid].line})")
                )
                continue
            seen[oid] = obj
            first[oid] = where
        return seen

    briefings = unique("briefings")
    sectors = unique("sectors")
    themes = unique("themes")
    points_map = unique("points")
    checks_map = unique("checks")

    for doc, index, b in found["briefings"]:
        if b.sector not in sectors:  # type: ignore[attr-defined]
            problems.append(Problem(doc.path, doc.line_of(["briefings", index, "sector"]), f"unknown sector {b.sector!r}"))  # type: ignore[attr-defined]

    origin: dict[str, tuple[Path, int]] = {}
    for doc, index, p in found["points"]:
        assert isinstance(p, Point)
        origin.setdefault(p.id, (doc.path, doc.line_of(["points", index])))
        for i, t in enumerate(p.themes):
            if t not in themes:
                problems.append(Problem(doc.path, doc.line_of(["points", index, "themes", i]), f"unknown theme {t!r}"))
        for i, s in enumerate(p.sectors):
            if s not in sectors:
                problems.append(Problem(doc.path, doc.line_of(["points", index, "sectors", i]), f"unknown sector {s!r}"))
        briefing = briefings.get(p.source.briefing)
        if briefing is None:
            problems.append(
                Problem(doc.path, doc.line_of(["points", index, "source", "briefing"]), f"unknown briefing {p.source.briefing!r}")
            )
        elif p.source.section not in briefing.section_paths():  # type: ignore[attr-defined]
            problems.append(
                Problem(
                    doc.path,
                    doc.line_of(["points", index, "source", "section"]),
                    f"section {p.source.section!r} is not a heading of briefing {briefing.id!r}",  # type: ignore[attr-defined]
                )
            )
    for doc, index, c in found["checks"]:
        assert isinstance(c, Check)
        if c.point not in points_map:
            problems.append(Problem(doc.path, doc.line_of(["checks", index, "point"]), f"unknown point {c.point!r}"))
        if c.answer.casefold() in (d.casefold() for d in c.distractors):
            problems.append(Problem(doc.path, doc.line_of(["checks", index, "answer"]),
                                    "the answer is also listed as a distractor"))  # fmt: skip
    if not found["points"] and not problems:
        problems.append(Problem(content_dir, 1, "no learning points found (expected points: in a YAML file)"))
    if problems:
        raise ProblemsError(problems)
    return Corpus(
        briefings=briefings,  # type: ignore[arg-type]
        sectors=sectors,  # type: ignore[arg-type]
        themes=themes,  # type: ignore[arg-type]
        points=list(points_map.values()),  # type: ignore[arg-type]
        origin=origin,
        located=located,
        checks=list(checks_map.values()),  # type: ignore[arg-type]
    )
