"""The search indexes kept between runs in the cache folder (``Settings.cache_dir``, SCR_CACHE_DIR).

Every process that answers lookups (``scr-bot run``, ``ask``, the shell, the Teams app) needs the two indexes
``Lookup`` searches (bot.search.index: one with the themes' names, one without). Building them splits and stems
every field of every point, a few tenths of a second of CPU at each start; reading them back is a few
milliseconds. So the first process to build them for some content keeps them in a file, and the next reads it.

The file is named by a key that changes whenever anything that shapes the indexes changes, so a changed content
file is never answered from an old index:

- the bytes of every content file (``Corpus.version``) and, beyond that, the exact text the index reads from each
  point (``index_fields`` for both views, and the section terms), so a change in how content is parsed counts too;
- the source of every module of this package (bot/search/*.py: the tokeniser, the stemming, the field weights);
- the stemmer in use and its version (snowballstemmer, which uses PyStemmer when it is installed);
- the Python version (``marshal``'s format is only stable within one).

Why ``marshal`` and not pickle or JSON: the indexes are plain builtins (``SearchIndex.parts``), which marshal writes
and reads fastest, with frozensets and tuples kept, and reading it never runs code as unpickling can. The file
is still only as trustworthy as the folder: the cache folder is the operator's own, like the name lists kept
beside it (bot.reflections.gazetteer). A body checksum rejects a damaged file.

Writes are whole or nothing and the newest ``KEEP_FILES`` are kept (bot.cachefiles, shared with the YAML data
kept beside them): processes that race each write the same bytes, and no reader sees half a file. A file that is missing, damaged, from other content or unreadable, or a folder that cannot be written, only
means the indexes are built as they would be with no cache (logged at debug: nothing is wrong).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import marshal
import sys
from pathlib import Path
from typing import Any

from bot import cachefiles
from bot.content.corpus import Corpus
from bot.search import index as index_module
from bot.search.index import PARTS, SearchIndex, index_fields

log = logging.getLogger(__name__)

# Bumped when the file's layout changes (the key covers the code that fills it, but not this module's reader).
FORMAT = 1
PREFIX = "search-index-"
SUFFIX = ".marshal"
MAGIC = b"scr-bot search index\n"
KEEP_FILES = 8  # the newest files kept: a few content versions (or test copies) side by side, never a pile
VIEWS = {"themes": True, "content": False}  # file's name for each view -> SearchIndex(theme_words=...)


def indexes(corpus: Corpus, cache_dir: Path | None) -> tuple[SearchIndex, SearchIndex]:
    """``(SearchIndex(corpus), SearchIndex(corpus, theme_words=False))``, read from ``cache_dir`` when it holds
    them for exactly this content and code, else built (and kept there for the next process). None: built."""
    if cache_dir is None:
        return _build(corpus)
    key = cache_key(corpus)
    path = Path(cache_dir) / f"{PREFIX}{key[:40]}{SUFFIX}"
    parts = _read(path, key, len(corpus.points))
    if parts is not None:
        log.debug("search indexes read from %s", path)
        return (SearchIndex.restore(corpus, parts["themes"], theme_words=True),
                SearchIndex.restore(corpus, parts["content"], theme_words=False))  # fmt: skip
    built = _build(corpus)
    _write(path, key, {name: ix.parts() for name, ix in zip(VIEWS, built, strict=True)})
    return built


def _build(corpus: Corpus) -> tuple[SearchIndex, SearchIndex]:
    return SearchIndex(corpus, theme_words=True), SearchIndex(corpus, theme_words=False)


def cache_key(corpus: Corpus) -> str:
    """A digest of everything the indexes are built from (see the module docstring)."""
    h = hashlib.sha256()

    def add(*items: object) -> None:
        for item in items:
            data = item if isinstance(item, bytes) else str(item).encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: no two sequences hash alike

    add(FORMAT, sys.implementation.cache_tag, sys.version, marshal.version, _stemmer_version())
    for source in sorted(Path(index_module.__file__).parent.glob("*.py")):
        add(source.name, source.read_bytes())
    add(corpus.version, len(corpus.points))
    for point in corpus.points:
        add(point.id, *point.terms)
        for theme_words in VIEWS.values():
            add(*index_fields(corpus, point, theme_words).values())
    return h.hexdigest()


def _stemmer_version() -> str:
    """Which Snowball implementation stems, and its version: PyStemmer's C stemmer when installed, else
    snowballstemmer's Python one (their output may differ between releases)."""
    found = [type(index_module._stemmer).__module__]
    for dist in ("snowballstemmer", "PyStemmer"):
        try:
            found.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{dist}=none")
    return " ".join(found)


def _read(path: Path, key: str, points: int) -> dict[str, dict[str, Any]] | None:
    """The parts kept for ``key``, or None (missing, damaged, or not for these points: built again)."""
    data = cachefiles.read(path)
    if data is None:
        return None
    try:
        header, _, rest = data.partition(b"\n\n")
        magic, kept_key, digest = header.split(b"\n")
        if magic + b"\n" != MAGIC or kept_key.decode() != key:
            raise ValueError("written for other content or code")
        if hashlib.sha256(rest).hexdigest() != digest.decode():
            raise ValueError("damaged (checksum)")
        parts = marshal.loads(rest)
        _check(parts, points)
    except (ValueError, EOFError, TypeError, KeyError, UnicodeDecodeError) as exc:
        log.debug("the search index cache %s cannot be used (%s); building the indexes", path, exc)
        return None
    return parts


def _check(parts: object, points: int) -> None:
    """Raise ValueError unless ``parts`` has every view with every part, one entry per point."""
    if not isinstance(parts, dict) or set(parts) != set(VIEWS):
        raise ValueError("not the expected views")
    for view in parts.values():
        if not isinstance(view, dict) or set(view) != set(PARTS):
            raise ValueError("not the expected parts")
        for name in ("tf", "lengths", "text", "own_text", "own", "term_keys"):
            if not isinstance(view[name], list) or len(view[name]) != points:
                raise ValueError(f"{name} does not have one entry per point")
        if not all(isinstance(view[name], dict) for name in ("word_counts", "postings", "idf")):
            raise ValueError("not the expected tables")


def _write(path: Path, key: str, parts: dict[str, dict[str, Any]]) -> None:
    """Kept with a header (magic, key, checksum of the body) that ``_read`` checks."""
    body = marshal.dumps(parts)
    payload = MAGIC + key.encode() + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n\n" + body
    if cachefiles.write(path, payload, keep=KEEP_FILES, prefix=PREFIX, suffix=SUFFIX):
        log.debug("search indexes built and kept in %s", path)
