"""First names and surnames to recognise in reflections, loaded once from Faker's locale data.

Why Faker: it is MIT-licensed, released every few weeks, pure Python, and its person providers ship
curated first-name and surname lists for ~80 locales inside the wheel (en_GB from ONS baby-name
data, en_IE, en_US, en_IN, pl_PL, ro_RO, ar_AA, yo_NG, tw_GH, tr_TR, ...), which together cover the
names of families UK practitioners work with. No network, no model, ~0.2 s to load. The
alternatives were worse fits: `names-dataset` is hundreds of MB in memory; `gender-guesser` is GPLv3
(this project is MIT) and unchanged since 2016; `names` holds only the 1990 US census.

Faker's modules cost ~27 MB of resident memory once imported, and the lists we keep ~5 MB, so the
lists are read in a short-lived child process (`python -m bot.reflections.gazetteer`) and only the result comes
back; if that cannot run, they are read in this process instead. That child costs ~0.6 s of CPU, at every start
of every process, for lists that change only with Faker: so the result is kept in the cache folder
(``SCR_CACHE_DIR``), one file per Faker version, and read from there (~20 ms) while that version is installed.
A missing, unreadable or damaged file is simply read again from Faker.

Only Latin-script names are kept (reflections are written in English). Names that are also
ordinary English words ("Will", "May", "Hope", "Grace", "Mark", "Baker") are listed in
`bot.reflections.name_words`; the masking treats them as names only with other evidence.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import os
import pkgutil
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# First names common in the UK that Faker's lists lack (Welsh, Scottish and Irish names, recent ONS
# top-100 names, and West African, Polish, Romanian, South Asian and Somali names), checked against
# the loaded lists when this was written: only those missing are here.
UK_EXTRA_FIRST_NAMES = frozenset(
    """
    adebayo adeola ailsa albie aled babajide bartosz cadi cai carys cerys chidi chidinma chioma dafydd
    darcey deio eabha eesa efa efua eilidh eleri emyr esme fadumo faisal ffion finlay fionn funmi gabija
    gethin gruffydd guto hamdi haniya hefin hibo hodan huw ifan ionut jenson kairo llywelyn lowri lyra
    mabli macsen maisie mali mhairi morag nala olamide oliwia oluwadamilare oluwaseun oluwatobi osian
    owain rayyan rhodri ruaridh sana seren sion sioned struan sumaiya temitope tolu tomos ubah warsame
    wiktoria zayn zuzanna
    """.split()  # noqa: SIM905
)

_LATIN = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*$")
_FIRST_ATTRS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
_LAST_ATTRS = ("last_names", "last_names_male", "last_names_female", "last_names_nonbinary")


@dataclass(frozen=True)
class Gazetteer:
    """Lower-cased first names and surnames."""

    first: frozenset[str]
    last: frozenset[str]


def _names(provider: type, attrs: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for attr in attrs:
        value = getattr(provider, attr, None)
        if isinstance(value, dict | list | tuple | set | frozenset):  # some locales compute names; skip those
            out.update(n.lower() for n in value if isinstance(n, str) and _LATIN.match(n) and len(n) > 1)
    return out


def _read_faker() -> tuple[set[str], set[str]]:
    import faker.providers.person as person  # imported here: only masking needs it

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        first |= _names(provider, _FIRST_ATTRS)
        last |= _names(provider, _LAST_ATTRS)
    return first, last


# Bumped when what is read from Faker changes (_LATIN, the attributes), so an older cache file is not used.
_CACHE_FORMAT = 1
MIN_FIRST_NAMES = 5000
_cache_dir: Path | None = None


def use_cache(folder: Path | None) -> None:
    """Where the name lists are kept between runs (``Settings.cache_dir``); None: not kept."""
    global _cache_dir
    _cache_dir = folder


def _cache_file() -> Path | None:
    if _cache_dir is None:
        return None
    try:
        version = importlib.metadata.version("faker")
    except importlib.metadata.PackageNotFoundError:
        return None
    return _cache_dir / f"names-faker-{version}-v{_CACHE_FORMAT}.json"


def _from_cache(path: Path | None) -> tuple[set[str], set[str]] | None:
    if path is None:
        return None
    try:
        lists = json.loads(path.read_text(encoding="utf-8"))
        first, last = lists["first"], lists["last"]
        if len(first) < MIN_FIRST_NAMES or not all(isinstance(n, str) for n in (*first, *last)):
            raise ValueError("too few names")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("the cached name lists %s cannot be used (%s); reading them from Faker again", path, exc)
        return None
    return set(first), set(last)


def _to_cache(path: Path | None, payload: bytes) -> None:
    """Written whole or not at all (a temporary file renamed), so a second process never reads half a file."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(payload)
        os.replace(partial, path)
    except OSError as exc:
        log.info("the name lists are not kept in %s (%s): they are read from Faker at each start", path.parent, exc)


def _load() -> Gazetteer:
    cache = _cache_file()
    cached = _from_cache(cache)
    if cached is not None:
        first, last = cached
    else:
        try:
            # the child must import this package even when it is run from a checkout, not installed
            here = str(Path(__file__).resolve().parents[2])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
            child = subprocess.run([sys.executable, "-m", __name__], stdin=subprocess.DEVNULL, capture_output=True,
                                   env=env, timeout=60, check=True)  # fmt: skip
            lists = json.loads(child.stdout)
            first, last = set(lists["first"]), set(lists["last"])
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            log.warning("reading the name lists in a child process failed (%s); reading them here", exc)
            first, last = _read_faker()
        if len(first) >= MIN_FIRST_NAMES:
            _to_cache(cache, json.dumps({"first": sorted(first), "last": sorted(last)}).encode())
    first |= UK_EXTRA_FIRST_NAMES
    if len(first) < MIN_FIRST_NAMES:  # Faker changed shape: say so loudly rather than silently masking fewer names
        log.error("only %d first names loaded from Faker: name masking will miss names", len(first))
    return Gazetteer(frozenset(first), frozenset(last))


_lock = threading.Lock()
_cached: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The name lists, loaded on first use (thread-safe) and kept for the life of the process."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = _load()
    return _cached


if __name__ == "__main__":  # the child process of _load(): print the lists as JSON
    _first, _last = _read_faker()
    json.dump({"first": sorted(_first), "last": sorted(_last)}, sys.stdout)
