"""The search indexes are kept in the cache folder between runs (bot.search.indexcache): the next process reads
them instead of building them, a changed content file is never answered from the old ones, and a damaged,
foreign or unwritable cache is never trusted and never stops a lookup. Each test runs `scr-bot ask` as a real
process, as an operator would, with its own content copy and cache folder."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import warmstart

from bot.content.corpus import load_corpus
from bot.search import indexcache
from bot.search.index import stem
from conftest import CONTENT_DIR, ROOT

PLANTED = "zzqxfromcache"  # a word no content says: only a cache file that was read can make a lookup find it


def ask(query: str, content: Path, cache: Path) -> dict[str, Any]:
    """``scr-bot ask --json`` on ``content`` with ``cache`` as SCR_CACHE_DIR: the answer as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_"))}
    env.update(SCR_CONTENT_DIR=str(content), SCR_CACHE_DIR=str(cache))
    done = warmstart.run([sys.executable, "-m", "bot", "ask", "--json", query], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ids(answer: dict[str, Any]) -> list[str]:
    return [r["id"] for r in answer["results"]]


def index_files(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"{indexcache.PREFIX}*{indexcache.SUFFIX}"))


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the shipped content that a test may edit, as a curator would."""
    return Path(shutil.copytree(CONTENT_DIR, tmp_path / "content"))


def test_the_second_run_reads_the_kept_indexes_instead_of_building_them(content: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ask("neglect", content, cache)
    (kept,) = index_files(cache)
    written = kept.stat().st_mtime_ns
    assert ask("neglect", content, cache) == first
    assert index_files(cache) == [kept] and kept.stat().st_mtime_ns == written  # read, not written again
    # A word only the file holds proves the next lookup answered from the file, not from a fresh build.
    header, _, _ = kept.read_bytes().partition(b"\n\n")
    key = header.split(b"\n")[1].decode()
    parts = indexcache._read(kept, key, len(load_corpus(content).points))
    assert parts is not None
    for view in parts.values():  # point 0 says the word, to both indexes
        view["tf"][0][stem(PLANTED)] = 3.0
        view["postings"][stem(PLANTED)] = [0]
        view["idf"][stem(PLANTED)] = view["max_idf"]
        view["word_counts"][PLANTED] = 1
    indexcache._write(kept, key, parts)
    assert ask(PLANTED, content, cache)["results"][0]["id"] == load_corpus(content).points[0].id
    assert ask(PLANTED, content, tmp_path / "no-cache-yet")["results"] == []


def test_a_changed_content_file_is_answered_from_new_indexes_not_the_kept_ones(content: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert ask("zzqxcurated", content, cache)["results"] == []
    (old,) = index_files(cache)
    points = content / "points" / "health-2011-14.yaml"
    text = points.read_text()
    title = next(line for line in text.splitlines() if line.lstrip().startswith("title:"))
    points.write_text(text.replace(title, f"{title} zzqxcurated", 1))
    changed = next(p.id for p in load_corpus(content).points if p.title.endswith("zzqxcurated"))
    assert ids(ask("zzqxcurated", content, cache))[:1] == [changed]
    assert len(index_files(cache)) == 2 and old in index_files(cache)  # the new content has its own file
    points.write_text(text)  # and back: the first file is still right for it
    assert ask("zzqxcurated", content, cache)["results"] == []


def _swap_views(data: bytes) -> bytes:
    """The file with its two indexes exchanged in place: still a well-formed file, but not what was written."""
    header, _, body = data.partition(b"\n\n")
    parts = marshal.loads(body)
    return header + b"\n\n" + marshal.dumps({"themes": parts["content"], "content": parts["themes"]})


DAMAGE = {
    "cut": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00\xff" * 500,
    "swapped": _swap_views,
    "other-key": lambda data: data.replace(data.split(b"\n")[1], b"0" * 64, 1),
}


@pytest.fixture(scope="module")
def right(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The shipped content's answers, each built afresh (an empty cache folder)."""
    fresh = tmp_path_factory.mktemp("fresh")
    return {q: ask(q, CONTENT_DIR, fresh / str(i)) for i, q in enumerate(["neglect", "missing from home"])}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_cache_file_is_ignored_and_the_answer_is_still_right(right: dict[str, dict[str, Any]],
                                                                       tmp_path: Path, damage: str) -> None:  # fmt: skip
    cache = tmp_path / "cache"
    ask("neglect", CONTENT_DIR, cache)
    (kept,) = index_files(cache)
    kept.write_bytes(DAMAGE[damage](kept.read_bytes()))
    for query, answer in right.items():
        assert ask(query, CONTENT_DIR, cache) == answer
    # ... and it was written again, whole: the next process reads it.
    header, _, _ = kept.read_bytes().partition(b"\n\n")
    assert indexcache._read(kept, header.split(b"\n")[1].decode(), len(load_corpus(CONTENT_DIR).points)) is not None


def test_a_cache_folder_that_cannot_be_written_still_answers(right: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    assert ask("neglect", CONTENT_DIR, blocked / "scr-bot") == right["neglect"]
    assert blocked.read_text() == "a file where the folder should be"


def test_only_the_newest_files_are_kept(tmp_path: Path) -> None:
    """Each content version writes its own file: an edited content folder must not fill the disk."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for n in range(indexcache.KEEP_FILES + 3):
        old = cache / f"{indexcache.PREFIX}{n:040d}{indexcache.SUFFIX}"
        old.write_bytes(b"old")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    ask("neglect", CONTENT_DIR, cache)
    files = index_files(cache)
    written = [f for f in files if f.read_bytes() != b"old"]
    assert len(files) == indexcache.KEEP_FILES and len(written) == 1
    survivors = [int(f.name.removeprefix(indexcache.PREFIX).removesuffix(indexcache.SUFFIX)) for f in files
                 if f not in written]  # fmt: skip
    assert survivors == list(range(4, indexcache.KEEP_FILES + 3))  # the newest of the old ones
