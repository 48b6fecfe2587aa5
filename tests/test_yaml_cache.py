"""The data built from YAML files is kept in the cache folder (bot/content/yamlfile.py): a second load reads it,
an edited file is never answered from it, a damaged one is ignored, and a problem found in kept data is still
reported at its file and line."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.content import yamlfile
from bot.content.corpus import load_corpus
from bot.content.yamlfile import ProblemsError
from conftest import CONTENT_DIR


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "cache"
    yamlfile.use_cache(folder)
    yield folder
    yamlfile.use_cache(None)


@pytest.fixture
def content(tmp_path: Path) -> Path:
    return Path(shutil.copytree(CONTENT_DIR, tmp_path / "content"))


def kept(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"{yamlfile.CACHE_PREFIX}*.pickle"))


def titles(corpus: object) -> dict[str, str]:
    return {p.id: p.title for p in corpus.points}  # type: ignore[attr-defined]


def a_point_file(content: Path) -> Path:
    return next(p for p in sorted(content.rglob("*.yaml")) if "\npoints:" in "\n" + p.read_text())


def test_a_second_load_reads_what_the_first_kept_and_builds_the_same_corpus(cache: Path, content: Path) -> None:
    first = load_corpus(content)
    files = kept(cache)
    assert len(files) == len(list(content.rglob("*.yaml")))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    # Plant a title in one kept file: a load that reads the cache shows it, one that parses would not.
    target = a_point_file(content)
    raw = target.read_bytes()
    where = yamlfile._cache_file(raw)
    assert where is not None and where in files
    doc = yamlfile.load_yaml(target)
    planted = doc.data["points"][0]
    data = pickle.loads(where.read_bytes())[0]
    data["points"][0] = {**data["points"][0], "title": "Planted title that no content holds"}
    where.write_bytes(pickle.dumps((data,)))
    second = load_corpus(content)
    assert titles(second)[planted["id"]] == "Planted title that no content holds"
    assert {f: f.stat().st_mtime_ns for f in files if f != where} == {f: s for f, s in stamps.items() if f != where}
    assert {k: v for k, v in titles(second).items() if k != planted["id"]} == \
        {k: v for k, v in titles(first).items() if k != planted["id"]}  # fmt: skip


def test_an_edited_file_is_parsed_again_never_answered_from_the_kept_data(cache: Path, content: Path) -> None:
    load_corpus(content)
    target = a_point_file(content)
    first_id = yamlfile.load_yaml(target).data["points"][0]["id"]
    old_title = yamlfile.load_yaml(target).data["points"][0]["title"]
    target.write_text(target.read_text().replace(old_title, "An edited title for the cache test", 1))
    assert titles(load_corpus(content))[first_id] == "An edited title for the cache test"


@pytest.mark.parametrize("damage", [b"", b"not a pickle at all", b"\x80\x05K\x01."])
def test_a_damaged_kept_file_is_ignored_and_the_file_parsed(cache: Path, content: Path, damage: bytes) -> None:
    right = titles(load_corpus(content))
    for f in kept(cache):
        f.write_bytes(damage)
    assert titles(load_corpus(content)) == right


def test_a_problem_in_kept_data_is_still_reported_at_its_file_and_line(cache: Path, content: Path) -> None:
    target = a_point_file(content)
    lines = target.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("title:"))
    lines[at] = lines[at].replace("title:", "titel:", 1)  # valid YAML, an unknown field of a point
    target.write_text("".join(lines))
    with pytest.raises(ProblemsError) as first:
        load_corpus(content)
    assert yamlfile._cache_file(target.read_bytes()) in kept(cache)  # it parsed, so its data was kept
    with pytest.raises(ProblemsError) as second:
        load_corpus(content)
    assert str(second.value) == str(first.value)
    assert f"{target}:{at + 1}:" in str(second.value)


def test_a_folder_that_cannot_be_written_only_means_no_cache(tmp_path: Path, content: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    yamlfile.use_cache(blocked / "cache")
    try:
        assert titles(load_corpus(content)) == titles(load_corpus(CONTENT_DIR))
    finally:
        yamlfile.use_cache(None)
