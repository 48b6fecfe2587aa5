"""The masking's name lists are kept in the cache folder between runs: read from Faker once per Faker version,
then from the file; a damaged, short or unwritable cache is never trusted and never stops the lists loading."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.reflections import gazetteer as g


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    g.use_cache(tmp_path / "cache")
    yield tmp_path / "cache"
    g.use_cache(None)


def cache_file(folder: Path) -> Path:
    (path,) = folder.glob("names-faker-*.json")
    return path


def test_the_first_start_reads_faker_and_keeps_the_lists_then_the_next_reads_the_file(cache: Path) -> None:
    first = g._load()
    assert len(first.first) >= g.MIN_FIRST_NAMES and "oliver" in first.first and "smith" in first.last
    kept = json.loads(cache_file(cache).read_text())
    assert set(kept["first"]) | g.UK_EXTRA_FIRST_NAMES == first.first and set(kept["last"]) == first.last
    # A name only the file holds proves the second load read the file, not Faker.
    kept["first"].append("zzqxfromcache")
    cache_file(cache).write_text(json.dumps(kept))
    assert "zzqxfromcache" in g._load().first


@pytest.mark.parametrize("damage", ["{\"first\": [\"oli", "{\"first\": [\"amy\"], \"last\": [\"smith\"]}", "[1, 2]",
                                    "{\"first\": [1, 2], \"last\": []}"], ids=["cut", "short", "shape", "types"])
def test_a_damaged_cache_is_read_again_from_faker_and_rewritten(cache: Path, damage: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    path = g._cache_file()  # where a start keeps the lists (read from Faker, which a first start would do)
    assert path is not None and path.parent == cache
    cache.mkdir(parents=True)
    path.write_text(damage)
    names = g._load()
    assert len(names.first) >= g.MIN_FIRST_NAMES and "smith" in names.last
    assert "cannot be used" in caplog.text
    assert len(json.loads(cache_file(cache).read_text())["first"]) >= g.MIN_FIRST_NAMES


def test_a_cache_folder_that_cannot_be_written_still_loads_the_lists(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    g.use_cache(blocked / "scr-bot")
    try:
        names = g._load()
    finally:
        g.use_cache(None)
    assert len(names.first) >= g.MIN_FIRST_NAMES
    assert blocked.read_text() == "a file where the folder should be"
