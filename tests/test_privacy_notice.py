"""PRIVACY.md's table for the data protection officer names every Redis key family the code can build.

The families are derived from ``bot.storage.keys`` itself, not from a list kept here: every public function
of the module that takes only a workspace and strings is called with dummy arguments (each string
argument is the placeholder ``<its parameter name>``), a function that takes one string and no
workspace is also given a key (``attempt(claim)`` builds a key from a key), and every module constant
whose value is a key is read. Whatever comes back that is a key in the current layout (``scr:{...}:``,
no wildcard) is reduced to its family: the part after the dummy workspace's tag, or the whole key for a
global one (``scr:{_}:...``). A new key-building function or constant in ``bot.storage.keys`` therefore fails
this test until PRIVACY.md's table has a row for it.

A family is found in the table when the key column of one row holds its fixed words in order, separated as in the key,
with any ``<placeholder>`` where the key has a variable part (``quiz:cards:<user>`` matches the
family built as ``quiz:cards:<user>``, and also ``quiz:cards:<person>``), and not merely as part of a
longer key (``quiz:week:<channel>:<week>`` is not found inside ``quiz:week:<channel>:<week>:people``).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bot.storage import keys

ROOT = Path(__file__).resolve().parent.parent
PRIVACY = ROOT / "PRIVACY.md"
TABLE_HEADING = "## Every key, for the data protection officer"
WS = keys.Workspace("T0DUMMY", "E0DUMMY")
PLACEHOLDER = re.compile(r"<[^<>`\s]+>")
COLUMNS = 6  # key | holds | personal data | lifetime | deleted by | code


def _calls(fn) -> list[dict[str, object]]:
    """Every way to call ``fn`` with dummies (each optional argument left out and given), or none if it
    takes anything other than a workspace and strings."""
    required: dict[str, object] = {}
    optional: dict[str, object] = {}
    params = list(inspect.signature(fn).parameters.values())
    for p in params:
        if p.annotation == "Workspace":
            value: object = WS
        elif p.annotation in ("str", "str | None"):
            value = f"<{p.name}>"
        else:
            return []
        (required if p.default is inspect.Parameter.empty else optional)[p.name] = value
    calls = [dict(required)]
    for name, value in optional.items():
        calls += [{**c, name: value} for c in calls]
    if len(params) == 1 and params[0].annotation == "str":  # a key built from a key: attempt(claim)
        calls.append({params[0].name: f"{WS.tag}:<{params[0].name}>"})
    return calls


def _is_key(value: object) -> bool:
    """A key in the current layout: ``scr:{tag}:rest``, no wildcard, the tag the dummy workspace's or a
    global one (no ids: ``legacy_name`` builds an older layout's names), and the dummy workspace's tag, if
    at all, only at the start (``oauth_state`` given a whole key is not a family)."""
    if not isinstance(value, str) or not value.startswith(keys.PREFIX + ":{") or "*" in value:
        return False
    tag = value[len(keys.PREFIX) + 2:].partition("}")[0]
    current = value.startswith(WS.tag + ":") or ":" not in tag
    return current and "}:" in value and WS.tag not in value[1:]


def _family(key: str) -> str:
    return key[len(WS.tag) + 1:] if key.startswith(WS.tag + ":") else key


def derived_families() -> set[str]:
    """Every key family ``bot.storage.keys`` can build, from its functions and constants."""
    built: list[object] = []
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != keys.__name__:
            continue
        for kwargs in _calls(fn):
            try:
                out = fn(**kwargs)
            except (ValueError, TypeError, AttributeError):
                continue
            built += list(out) if isinstance(out, tuple) else [out]
    built += [v for n, v in vars(keys).items() if n.isupper() and isinstance(v, str)]
    return {_family(k) for k in built if _is_key(k)}


def _pattern(family: str) -> re.Pattern[str]:
    """The family's fixed words in order, any placeholder where it has a variable part, standing alone."""
    parts, pos = [], 0
    for m in PLACEHOLDER.finditer(family):
        parts += [re.escape(family[pos:m.start()]), PLACEHOLDER.pattern]
        pos = m.end()
    parts.append(re.escape(family[pos:]))
    return re.compile(r"(?<![\w:<>{}\-])" + "".join(parts) + r"(?![\w:<>\-])")


def table_rows(text: str) -> list[str]:
    """The rows (after the header and separator) of the table under TABLE_HEADING."""
    start = text.find(TABLE_HEADING)
    assert start >= 0, f"PRIVACY.md has no section {TABLE_HEADING!r}"
    end = text.find("\n## ", start + len(TABLE_HEADING))
    section = text[start:end if end > 0 else len(text)]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [r for r in rows[2:] if r.strip()]


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def key_cells(text: str) -> list[str]:
    """The first column of each row: the keys that row is about (other columns may mention a key in passing)."""
    return [_cells(r)[0] for r in table_rows(text)]


def missing(text: str) -> list[str]:
    """Families with no row in the table (sorted)."""
    cells = key_cells(text)
    return sorted(f for f in derived_families() if not any(_pattern(f).search(c) for c in cells))


@pytest.fixture(scope="module")
def notice() -> str:
    return PRIVACY.read_text(encoding="utf-8")


def test_families_are_derived_from_the_code():
    """The derivation finds the kinds of key the module builds: from functions, from a key (attempt), with
    and without optional parts, from tuples, and global constants; and nothing that is not a key."""
    families = derived_families()
    assert {"quiz:cards:<user>", "<claim>:attempt", "install:installer", "install:installer:<user_id>",
            "quiz:week:<channel>:<week>:people", "rotation:<schedule_id>:posted", "scr:{_}:purge-pending",
            "scr:{_oauth}:state:<state>"} <= families  # fmt: skip
    assert not {f for f in families if "*" in f or "|" in f or "DUMMY" in f}, families
    assert len(families) >= 30


def test_every_key_family_has_a_row_in_privacy_md(notice: str):
    assert missing(notice) == [], "PRIVACY.md's table has no row for these key families (see bot/storage/keys.py)"


def test_each_family_is_in_exactly_one_row(notice: str):
    """One row per family, so a reader finds one answer to "how long, and how is it deleted"."""
    cells = key_cells(notice)
    for family in derived_families():
        hits = [c for c in cells if _pattern(family).search(c)]
        assert len(hits) == 1, f"{family}: {len(hits)} rows"


def test_every_row_is_complete_and_names_real_keys(notice: str):
    """Each row fills every column, and each key it names (in backticks, first column) is one the code
    builds: a row for a key that no longer exists is as wrong as a missing one."""
    families = [_pattern(f) for f in derived_families()]
    rows = table_rows(notice)
    assert rows
    for row in rows:
        cells = _cells(row)
        assert len(cells) == COLUMNS and all(cells), f"incomplete row: {row}"
        named = re.findall(r"`([^`]+)`", cells[0])
        assert named, f"row names no key: {row}"
        for key in named:
            assert any(p.fullmatch(key) for p in families), f"{key!r} in PRIVACY.md is not a key bot.storage.keys builds"


def test_removing_any_row_is_caught(notice: str):
    """The check is not trivially true: take out any one row and a family goes missing."""
    for row in table_rows(notice):
        assert missing(notice.replace(row + "\n", "", 1)), f"removing this row went unnoticed: {row}"


def test_the_notice_links_the_dpia(notice: str):
    assert "docs/DPIA.md" in notice
    assert (ROOT / "docs" / "DPIA.md").is_file()


def _lifetimes() -> dict[str, str]:
    """The fixed lifetimes in the code, as the documents write them."""
    from bot.config import Settings
    from bot.slack.oauth import ROTATION_LOCK_SECONDS

    def days(seconds: int) -> str:
        n = seconds // keys.DAY
        return f"{n} day" if n == 1 else f"{n} days"

    return {
        "retention (default)": f"{Settings().retention_days} days",
        "claim done": days(keys.CLAIM_DONE_DAYS * keys.DAY),
        "claim failed": f"{keys.CLAIM_FAILED_SECONDS // 3600} hour",
        "attempt": days(keys.ATTEMPT_DAYS * keys.DAY),
        "tombstone, forget-me marker": days(keys.TOMBSTONE_SECONDS),
        "knowledge check day claim": days(keys.QUIZ_DAY_SECONDS),
        "team aggregates": days(keys.QUIZ_AGGREGATE_SECONDS),
        "digest sent claim": days(keys.DIGEST_CLAIM_SECONDS),
        "OAuth state": f"{keys.OAUTH_STATE_TTL // 60} minutes",
        "audit trail entries": days(keys.AUDIT_SECONDS),
        "audit trail size": f"{keys.AUDIT_MAX_ENTRIES:,} entries",
        "token rotation lock": f"{int(ROTATION_LOCK_SECONDS)} seconds",
    }


@pytest.mark.parametrize("doc", ["PRIVACY.md", "docs/DPIA.md"])
def test_lifetimes_match_the_code(doc: str):
    """Each lifetime the code fixes is the one the documents state (a changed constant fails here)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    for what, lifetime in _lifetimes().items():
        if doc.endswith("DPIA.md") and what == "token rotation lock":
            continue  # not personal data; PRIVACY.md's table has it
        assert re.search(rf"(?<!\d){re.escape(lifetime)}", text), f"{doc}: {what} should be {lifetime}"


@pytest.mark.parametrize("doc", ["PRIVACY.md", "docs/DPIA.md"])
def test_the_audit_trail_digest_readers_and_key_file_are_described(doc: str):
    """Who reads the audit trail, where digest readers live, and where an offline master key is kept, as the code
    has them: the commands that read the trail, the workspace's reader key, the key file's name and mode."""
    from bot.ops.cli import build_parser
    from bot.storage import crypto

    text = (ROOT / doc).read_text(encoding="utf-8")
    assert "audit" in build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - the CLI command named
    for words in ("/scr audit", "scr-bot audit", f"SCR_DATA_DIR/{crypto.KEY_FILE}", "0600",
                  "`" + keys.digest_readers(WS)[len(WS.tag) + 1:] + "`"):  # fmt: skip
        assert words in text, f"{doc} does not say {words!r}"
