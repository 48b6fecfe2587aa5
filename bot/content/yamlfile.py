"""Load YAML and remember where every value came from, so errors can say ``file:line``.

Curators edit content and schedules by hand; a message that names the exact line is the
difference between a two-second fix and a hunt. PyYAML's node tree keeps the marks, so we
compose the tree once, build plain Python data from it, and keep the tree to look lines up.

Kept between runs (``use_cache``, the cache folder SCR_CACHE_DIR): the data built from a file that loaded
cleanly, named by a hash of the file's bytes and of what builds it (PyYAML's version, this module, Python's
version). Every process that answers (``scr-bot run``, each ``schedule run-due``, ``ask``) loads all of content/;
reading the built data back costs a fraction of parsing it (bench/bench_start.py). The node tree is then
composed again from the same text only if a line is asked for (a problem to report). The files are pickles:
the folder is the operator's own, as for the search indexes and name lists kept beside them, and a file that
is damaged or unreadable is parsed as if it were not there. A file with a syntax error is never kept.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bot import cachefiles

# libyaml's C loader when PyYAML was built with it (its wheels are): ~10x faster start-up.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, located as precisely as we can."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ProblemsError(ValueError):
    """Raised with every problem found, so a curator can fix them all in one pass."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class YamlDoc:
    path: Path
    data: Any
    text: str = field(repr=False, default="")

    @cached_property
    def root(self) -> yaml.Node | None:
        """The node tree, with the marks; composed from the text when a line is first asked for."""
        loader = _Loader(self.text)
        try:
            return loader.get_single_node()
        except yaml.YAMLError:
            return None
        finally:
            loader.dispose()

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The 1-based line of the value at ``loc`` (keys and list indexes), or its nearest parent."""
        node = self.root
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in loc:
            nxt: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == part:
                        nxt = value_node
                        line = key_node.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line


def unclosed_quote_line(text: str, error_line: int) -> int | None:
    """Where a quote that is never closed was opened, when that is what broke the file.

    A quoted value may legally run over several lines, so YAML reads an unclosed quote as running
    on to the next quote character, often many lines later, and reports the error there. The token
    scanner shows the quoted value that swallowed those lines: the last one, spanning lines and
    ending where the parser gave up."""
    last: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line + 1 > error_line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'"):
                last = token
    except yaml.YAMLError:
        pass
    if last is None or last.end_mark.line == last.start_mark.line:
        return None
    opened, closed = last.start_mark.line + 1, last.end_mark.line + 1
    return opened if closed >= error_line - 1 and opened < error_line else None


def _unbuildable_scalar(node: yaml.Node | None) -> tuple[int, str] | None:
    """The line and text of the first plain scalar that YAML types but cannot build (2023-02-30)."""
    if isinstance(node, yaml.ScalarNode):
        if not node.style:  # plain (None, or "" from the C loader), so YAML typed it
            try:
                yaml.safe_load(node.value)
            except ValueError:
                return node.start_mark.line + 1, node.value
            except yaml.YAMLError:
                return None
        return None
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        found = _unbuildable_scalar(child)
        if found:
            return found
    return None


log = logging.getLogger(__name__)
_cache_dir: Path | None = None
CACHE_PREFIX = "yaml-"
CACHE_SUFFIX = ".pickle"
CACHE_KEEP = 400  # built files kept: content/ and schedules/ several times over (edits, test copies), never a pile
_CODE = hashlib.sha256(Path(__file__).read_bytes() + yaml.__version__.encode() + sys.version.encode()).digest()


def use_cache(folder: Path | None) -> None:
    """Keep data built from YAML files in ``folder`` between runs (``Settings.cache_dir``); None: never."""
    global _cache_dir
    _cache_dir = folder


def load_yaml(path: Path) -> YamlDoc:
    """Parse one file; a syntax error becomes a ``ProblemsError`` naming the file and line."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemsError([Problem(path, 1, f"cannot read file: {exc}")]) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as read_text's universal newlines gave it
    where = _cache_file(raw)
    kept = _kept(where)
    if kept is not None:
        return YamlDoc(path=path, data=kept[0], text=text)
    loader = _Loader(text)
    root: yaml.Node | None = None
    try:
        # One parse: the node tree keeps line numbers, and the data is built from that same tree.
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = exc.problem or "invalid YAML"
        opened = unclosed_quote_line(text, line)
        if opened is not None:
            raise ProblemsError([Problem(path, opened, "YAML syntax error: the quote that starts a value on this line "
                                         "is never closed; add the closing quote")]) from None
        raise ProblemsError([Problem(path, line, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ProblemsError([Problem(path, 1, f"YAML error: {exc}")]) from None
    except ValueError as exc:  # a value YAML recognises but cannot build, such as the date 2023-02-30
        line, value = _unbuildable_scalar(root) or (1, "")
        raise ProblemsError([Problem(path, line, f"invalid value {value!r}: {exc}; quote it if it is text")]) from None
    finally:
        loader.dispose()
    _keep(where, data)
    doc = YamlDoc(path=path, data=data, text=text)
    doc.__dict__["root"] = root  # already composed: no second parse for a line
    return doc


def _cache_file(raw: bytes) -> Path | None:
    if _cache_dir is None:
        return None
    return _cache_dir / f"{CACHE_PREFIX}{hashlib.sha256(_CODE + raw).hexdigest()}{CACHE_SUFFIX}"


def _kept(where: Path | None) -> tuple[Any] | None:
    """The data kept at ``where`` (built from exactly these bytes by exactly this code), if a run kept it."""
    raw = cachefiles.read(where) if where is not None else None
    if raw is None:
        return None
    try:
        kept = pickle.loads(raw)  # noqa: S301 - our own file in the operator's own cache folder (see above)
    except Exception as exc:  # noqa: BLE001 - damaged: parse as if it were not there
        log.debug("yaml cache: %s not used (%s)", where, exc)
        return None
    return kept if isinstance(kept, tuple) and len(kept) == 1 else None


def _keep(where: Path | None, data: Any) -> None:
    """Keep the built data for the next run (``cachefiles``: whole or not at all, the newest ``CACHE_KEEP``)."""
    if where is not None and not where.exists():
        payload = pickle.dumps((data,), protocol=pickle.HIGHEST_PROTOCOL)
        cachefiles.write(where, payload, keep=CACHE_KEEP, prefix=CACHE_PREFIX, suffix=CACHE_SUFFIX)


def pydantic_problems(doc: YamlDoc, base: Sequence[str | int], error: Any) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` for the object at ``base`` into located problems."""
    problems = []
    for item in error.errors():
        loc = [*base, *item["loc"]]
        where = ".".join(str(p) for p in item["loc"]) or "entry"
        msg = item["msg"]
        if item["type"] == "missing":
            msg = "is required"
        elif item["type"] == "extra_forbidden":
            msg = "is not a known field"
        elif item["type"] == "value_error":
            msg = str(item.get("ctx", {}).get("error") or msg.removeprefix("Value error, "))
        problems.append(Problem(doc.path, doc.line_of(loc), f"{where}: {msg}"))
    return problems
