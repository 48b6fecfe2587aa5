"""What has changed since each briefing: content/changes.yaml loads with file:line errors, only verified
changes dated after a briefing's period reach a point, and every point using a superseded term gets its note."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import warmstart
import yaml

from bot.content.corpus import Corpus, load_corpus
from bot.content.currency import (
    SINCE_LINE_MAX,
    SINCE_PREFIX,
    currency_problems,
    mentions,
    period_bounds,
    period_label,
    since_line,
    since_notes,
    superseded_terms,
)
from bot.content.yamlfile import ProblemsError
from conftest import CONTENT_DIR, ROOT


@pytest.fixture
def content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


def shipped_changes() -> list[dict[str, Any]]:
    return yaml.safe_load((CONTENT_DIR / "changes.yaml").read_text())["changes"]


def write_changes(content: Path, changes: list[dict[str, Any]]) -> Corpus:
    (content / "changes.yaml").write_text(yaml.safe_dump({"changes": changes}, sort_keys=False))
    return load_corpus(content)


def problems_for(content: Path, text: str) -> tuple[Path, list[str]]:
    path = content / "changes.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ProblemsError) as err:
        load_corpus(content)
    return path, [str(p) for p in err.value.problems]


GOOD = """\
    title: A change
    line: One calm line about it.
    source: https://www.gov.uk/guidance/example
    jurisdictions: [england]
    themes: [neglect]
    verified: true
"""


def test_a_change_without_date_or_source_names_file_and_line(content: Path) -> None:
    path, found = problems_for(content, "changes:\n  - id: no-date\n" + GOOD + "  - id: no-source\n    date: 2022-01-31\n"
                               + GOOD.replace("    source: https://www.gov.uk/guidance/example\n", ""))
    assert f"{path}:2: date: is required" in found  # the entry's own line: the field is missing
    assert f"{path}:9: source: is required" in found
    assert len(found) == 2, found


def test_a_bad_date_source_or_theme_names_its_line(content: Path) -> None:
    text = ("changes:\n  - id: bad\n    date: 2023-02-30\n" + GOOD.replace("https://www.gov.uk/guidance/example", "gov.uk")
            .replace("[neglect]", "[neglect, nonsense]").replace("[england]", "[mars]"))
    path, found = problems_for(content, text)
    assert any(p.startswith(f"{path}:3: invalid value '2023-02-30'") for p in found), found  # YAML cannot build it
    path, found = problems_for(content, text.replace("2023-02-30", '"2023-02-30"'))
    assert any(p.startswith(f"{path}:3: date:") and "not a real day" in p for p in found), found
    assert any(p.startswith(f"{path}:6: source:") for p in found), found
    assert any(p.startswith(f"{path}:7: jurisdictions.0:") for p in found), found
    # the theme is checked once the entry itself is valid
    path, found = problems_for(content, "changes:\n  - id: bad\n    date: 2021\n" + GOOD.replace("[neglect]", "[neglect, nonsense]"))
    assert found == [f"{path}:8: unknown theme 'nonsense'"]


def test_dates_may_be_a_year_or_a_month_when_the_official_page_gives_no_day(content: Path) -> None:
    corpus = write_changes(content, [{**c, "date": "2021"} if c["id"] == "scotland-learning-reviews" else c
                                     for c in shipped_changes()])
    assert corpus.changes["scotland-learning-reviews"].date == "2021"
    assert corpus.changes["working-together-2023"].date == "2023-12-15"  # unquoted YAML dates stay ISO text


def test_every_shipped_point_using_a_superseded_term_gets_its_since_line(corpus: Corpus) -> None:
    users = 0
    for point in corpus.points:
        text = " ".join([point.title, point.summary, *point.key_messages, point.quote or "", *point.questions, *point.terms])
        used = [t for t in superseded_terms(corpus) if mentions(text, t)]
        if not used:
            continue
        users += 1
        line = since_line(corpus, point)
        assert line is not None and line.startswith(SINCE_PREFIX), point.id
        notes = since_notes(corpus, point)
        for term in used:
            assert any(term.casefold() in (s.casefold() for s in c.supersedes) for c in notes), (point.id, term)
    assert users >= 15  # LSCB, serious case review and did not attend run through the shipped content
    assert currency_problems(corpus) == []


def test_unverified_changes_are_never_returned(content: Path, corpus: Corpus) -> None:
    shipped = shipped_changes()
    assert any(not c["verified"] for c in shipped)
    for point in corpus.points:
        assert all(c.verified for c in since_notes(corpus, point)), point.id
    # An unverified change that would touch everything, after every period, is still never shown.
    everywhere = {"id": "unchecked", "date": "2030-01-01", "title": "Unchecked", "line": "Not checked yet.",
                  "source": "https://www.gov.uk/x", "jurisdictions": ["england"], "themes": sorted(corpus.themes),
                  "supersedes": ["LSCB", "did not attend"], "verified": False}
    widened = write_changes(content, [*shipped, everywhere])
    assert all("unchecked" not in [c.id for c in since_notes(widened, p)] for p in widened.points)


def test_unverifying_the_change_a_point_relies_on_fails_the_check_at_the_points_line(content: Path) -> None:
    changes = [{**c, "verified": False} if c["id"] == "was-not-brought" else c for c in shipped_changes()]
    corpus = write_changes(content, changes)
    point = corpus.point("h14-was-not-brought")
    assert point is not None
    assert all(c.id != "was-not-brought" for c in since_notes(corpus, point))
    problems = [p for p in currency_problems(corpus) if "'h14-was-not-brought'" in p.message]
    assert problems and all("'did not attend'" in p.message for p in problems)
    first = problems[0]
    assert first.path == content / "points" / "health-2011-14.yaml"
    assert "did not attend" in first.path.read_text().splitlines()[first.line - 1].lower()


def test_removing_the_lscb_change_fails_for_every_point_that_names_lscbs(content: Path, corpus: Corpus) -> None:
    changes = [c for c in shipped_changes() if c["id"] not in ("lscbs-and-scrs-replaced", "working-together-2023")]
    stale = currency_problems(write_changes(content, changes))
    named = {p.id for p in corpus.points if any(mentions(t, "LSCB") for t in p.terms)}
    assert named and named <= {m.message.split("'")[1] for m in stale if "'LSCB'" in m.message}
    for problem in stale:
        assert problem.line >= 1 and problem.path.suffix == ".yaml"


def test_only_changes_after_the_briefings_period_and_in_england_reach_a_point(content: Path) -> None:
    base = {"title": "A neglect change", "line": "Something about neglect changed.", "source": "https://www.gov.uk/x",
            "themes": ["neglect"], "verified": True}
    corpus = write_changes(content, [
        *shipped_changes(),
        {**base, "id": "during-2011-14", "date": "2013-06-01", "jurisdictions": ["england"]},
        {**base, "id": "between", "date": "2016-06-01", "jurisdictions": ["england"]},
        {**base, "id": "welsh-only", "date": "2024-06-01", "jurisdictions": ["wales"]},
    ])
    early = next(p for p in corpus.points if p.source.briefing == "health-2011-14" and "neglect" in p.themes)
    late = next(p for p in corpus.points if p.source.briefing == "police-2017-19" and "neglect" in p.themes)
    assert [c.id for c in since_notes(corpus, early) if c.id in ("during-2011-14", "between", "welsh-only")] == ["between"]
    assert not {"during-2011-14", "between", "welsh-only"} & {c.id for c in since_notes(corpus, late)}


def test_every_point_has_a_period_label(corpus: Corpus) -> None:
    for point in corpus.points:
        briefing = corpus.briefings[point.source.briefing]
        label = period_label(briefing)
        assert label and label == " ".join(briefing.period.split()), point.id
        bounds = period_bounds(briefing)
        assert bounds is not None and bounds[0] < bounds[1], briefing.id
    ends = {b.id: period_bounds(b)[1].isoformat() for b in corpus.briefings.values()}  # type: ignore[index]
    assert ends["health-2011-14"] == "2014-03-31"  # "Incidents from 1 April 2011 to 31 March 2014"
    assert ends["police-2017-19"] == "2019-09-30"  # "SCRs published April 2017 to September 2019"
    assert ends["research-2011-14"] == "2014-12-31"  # "SCRs from 2011 to 2014"


def test_a_period_without_a_year_fails_the_check(content: Path) -> None:
    path = content / "briefings.yaml"
    path.write_text(path.read_text().replace('period: "SCRs from 2011 to 2014"', 'period: "Recent reviews"'))
    problems = currency_problems(load_corpus(content))
    assert any("'research-2011-14'" in p.message and "names no year" in p.message and p.path == path for p in problems)


def test_the_since_line_stays_short(content: Path, corpus: Corpus) -> None:
    lines = [since_line(corpus, p) for p in corpus.points]
    assert any(lines)
    assert all(len(line) <= SINCE_LINE_MAX for line in lines if line)
    # Even with many long verified changes on one point, the line stays one short line.
    many = [{"id": f"long-{i}", "date": f"202{i}-01-01", "title": "T" * 80, "line": "word " * 29 + "end.",
             "source": "https://www.gov.uk/x", "jurisdictions": ["england"], "themes": ["neglect"], "verified": True}
            for i in range(5)]
    crowded = write_changes(content, [*shipped_changes(), *many])
    for point in crowded.points_for(theme="neglect"):
        line = since_line(crowded, point)
        assert line is not None and len(line) <= SINCE_LINE_MAX and "\n" not in line
    # and a curator cannot write a line too long for it
    with pytest.raises(ProblemsError, match="line"):
        write_changes(content, [{**many[0], "line": "x" * 151}])


def test_terms_match_as_practitioners_write_them() -> None:
    assert mentions("Serious case reviews were local reviews", "serious case review")
    assert mentions("recorded as Did Not Attend", "did not attend")
    assert not mentions("forensic dna evidence", "DNA")
    assert not mentions("agencies working together", "Working Together")
    assert mentions("under Working Together and the College's guidance", "Working Together")
    assert not mentions("LSCBX", "LSCB") and mentions("two LSCBs", "LSCB")


def test_content_check_command_fails_with_file_and_line_for_a_stale_point(content: Path) -> None:
    changes = [{**c, "verified": False} if c["id"] == "was-not-brought" else c for c in shipped_changes()]
    write_changes(content, changes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env["SCR_CONTENT_DIR"] = str(content)
    result = warmstart.run([sys.executable, "-m", "bot", "content", "check"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 1
    assert f"{content / 'points' / 'health-2011-14.yaml'}:" in result.stderr
    assert "'h14-was-not-brought' uses 'did not attend'" in result.stderr
    assert "Traceback" not in result.stderr
