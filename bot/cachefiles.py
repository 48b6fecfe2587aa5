"""Files kept between runs in the cache folder (``Settings.cache_dir``, SCR_CACHE_DIR): read if there, written
whole or not at all, and only the newest few of a kind kept.

Why one module at the bottom of the package: the search indexes (bot.search.indexcache) and the data read from
YAML files (bot.content.yamlfile) are kept the same way, and processes race on them (pytest's workers,
gunicorn's): each writes a temporary file and renames it, so a reader never sees half a file, the last writer
wins, and a temporary file left by a process that died while writing is removed later. A folder that cannot be
read or written only means the data is built again (logged at debug: nothing is wrong). What a file holds, and
how it is checked, is its owner's business.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_PARTIAL_SECONDS = 600  # a temporary file this old was left by a process that died while writing


def read(path: Path) -> bytes | None:
    """The file's bytes, or None when it is not there or cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.debug("cache file %s cannot be read (%s)", path, exc)
        return None


def write(path: Path, payload: bytes, *, keep: int, suffix: str, prefix: str) -> bool:
    """Write ``payload`` to ``path`` whole (a temporary file renamed), then keep only the ``keep`` newest files
    named ``prefix…suffix`` in its folder. False: not written (the folder cannot be written)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(payload)
        os.replace(partial, path)
    except OSError as exc:
        log.debug("cache file %s not written (%s)", path, exc)
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    _prune(path.parent, prefix, suffix, keep)
    return True


def _prune(folder: Path, prefix: str, suffix: str, keep: int) -> None:
    """Only the ``keep`` newest files of the kind stay (each change of what they are built from writes a new one),
    and temporary files left by a process that died while writing go. Another process may remove the same
    files: ignored."""
    kept: list[tuple[float, Path]] = []
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            with contextlib.suppress(OSError):
                if entry.name.startswith(prefix) and entry.name.endswith(suffix):
                    kept.append((entry.stat().st_mtime, entry))
                elif entry.name.startswith(f".{prefix}") and now - entry.stat().st_mtime > STALE_PARTIAL_SECONDS:
                    entry.unlink()
    for _, old in sorted(kept, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
