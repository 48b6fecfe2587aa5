"""The safety net's advice (content/safety.yaml): validated at load like every other content file.

The words a practitioner reads when a lookup or reflection reads as a live concern about a child are
content, not code: a curator can check them against the official advice and change them, and a typo
is reported as ``file:line: message`` before the bot starts. The decision itself is
``bot.search.safety``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.content.yamlfile import Problem, YamlDoc, pydantic_problems

KEY = "safety"
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https://[^\s/]+\.[^\s]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reference(_Model):
    """An official document the advice is worded from, named with every answer that shows it."""

    title: Line
    publisher: Line
    year: int | None = None
    url: Url

    @property
    def label(self) -> str:
        return f"{self.title} ({self.publisher}{f', {self.year}' if self.year else ''})"


class Learning(_Model):
    """Which learning points follow the steps: those on these themes, and those whose own text uses these words."""

    themes: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]] = []
    words: list[Line] = []


class SafetyAdvice(_Model):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)]
    intro: Line
    steps: list[Line] = Field(min_length=3, max_length=8)
    source: Reference
    also: list[Reference] = []
    no_contact: Line  # shown where a workspace has set no contact line
    reflection_note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    learning: Learning = Learning()


def load_safety(docs: list[YamlDoc], themes: set[str], problems: list[Problem]) -> SafetyAdvice | None:
    """The one ``safety:`` mapping among the content files, checked; problems are appended, never raised."""
    found: list[tuple[YamlDoc, SafetyAdvice]] = []
    for doc in docs:
        if not isinstance(doc.data, dict) or KEY not in doc.data:
            continue
        raw = doc.data[KEY]
        if not isinstance(raw, dict):
            problems.append(Problem(doc.path, doc.line_of([KEY]), f"'{KEY}' must be a mapping (title, intro, steps...)"))
            continue
        try:
            advice = SafetyAdvice.model_validate(raw)
        except ValidationError as exc:
            problems.extend(pydantic_problems(doc, [KEY], exc))
            continue
        for i, theme in enumerate(advice.learning.themes):
            if theme not in themes:
                problems.append(Problem(doc.path, doc.line_of([KEY, "learning", "themes", i]), f"unknown theme {theme!r}"))
        if found:
            first = found[0][0]
            problems.append(Problem(doc.path, doc.line_of([KEY]), f"a second '{KEY}:' section (the first is in "
                                                                   f"{first.path}:{first.line_of([KEY])}); keep one"))
            continue
        found.append((doc, advice))
    return found[0][1] if found else None
