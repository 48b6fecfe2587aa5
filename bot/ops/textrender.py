"""Render a Block Kit message as readable terminal text, for the offline shell.

The shell shows exactly what Slack would show: it renders the same blocks the bot sends,
numbering the buttons so they can be "clicked" by typing their number.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|[^>]*)?>")
EMOJI = {":information_source:": "ℹ️", ":thought_balloon:": "💭", ":books:": "📚", ":calendar:": "📅",
         ":speech_balloon:": "💬", ":mag:": "🔍", ":lock:": "🔒", ":white_check_mark:": "✅", ":warning:": "⚠️", ":round_pushpin:": "📍",
         ":large_blue_circle:": "🔵", ":date:": "📅", ":clock3:": "🕒", ":stopwatch:": "⏱️", ":eyes:": "👀"}
_EMOJI = re.compile(r":[a-z0-9_]+:")


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str
    block_id: str | None
    confirm: dict[str, Any] | None = None  # Slack's "are you sure?" dialog, shown before the click


def mrkdwn_to_text(text: str) -> str:
    text = _LINK.sub(r"\2 (\1)", text)
    text = _MENTION.sub(lambda m: ("@" if m.group(1) != "#" else "#") + m.group(2), text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", text)
    text = re.sub(r"^>", "  │ ", text, flags=re.M)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    raw = obj.get("text", "")
    return mrkdwn_to_text(raw) if obj.get("type") == "mrkdwn" else raw


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    out: list[str] = []
    for line in text.splitlines() or [""]:
        hang = "  " if line.startswith("• ") else "  │ " if line.startswith("  │ ") else ""
        out += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent + hang) or [""]
    return out


def render(message: dict[str, Any], width: int = 78, buttons: list[Button] | None = None) -> tuple[str, list[Button]]:
    """Return the message as text and the buttons in it, numbered from ``len(buttons)+1``."""
    buttons = list(buttons or [])
    lines: list[str] = []
    blocks = message.get("blocks") or []
    if not blocks:
        lines += _wrap(mrkdwn_to_text(message.get("text", "")), width)

    def add_button(el: dict[str, Any], block_id: str | None) -> str:
        buttons.append(Button(_text(el.get("text")), el.get("action_id", ""), el.get("value", ""), block_id,
                              el.get("confirm")))  # fmt: skip
        return f"[{len(buttons)}] {_text(el.get('text'))}"

    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text(block.get("text"))
            lines += ["", title.upper() if len(title) < 40 else title, "─" * min(width, len(title))]
        elif kind == "section":
            if block.get("text"):
                lines += _wrap(_text(block["text"]), width)
            for f in block.get("fields") or []:
                lines += _wrap(_text(f), width, "  ")
            acc = block.get("accessory")
            if acc and acc.get("type") == "button":
                lines[-1] = lines[-1] + "  " + add_button(acc, block.get("block_id"))
        elif kind == "context":
            for el in block.get("elements") or []:
                lines += _wrap(_text(el), width, "  ")
        elif kind == "divider":
            lines.append("·" * min(width, 40))
        elif kind == "actions":
            labels = [add_button(el, block.get("block_id")) for el in block.get("elements") or [] if el.get("type") == "button"]
            if labels:
                lines.append("   ".join(labels))
        elif kind == "input":
            lines += _wrap(describe_input(block), width)
    return "\n".join(lines).strip("\n"), buttons


def input_label(block: dict[str, Any]) -> str:
    """A form field's label, and whether it is optional."""
    return _text(block.get("label")) + ("" if not block.get("optional") else " (optional)")


def kept_value(block: dict[str, Any]) -> str:
    """What a field already holds (a form brought back with the words kept): submitted unchanged, it sends
    this. A person shows as ``@<id>`` (the shell names them); empty when the field is blank."""
    el = block.get("element") or {}
    if el.get("initial_value"):
        return str(el["initial_value"])
    if el.get("initial_user"):
        return f"@{el['initial_user']}"
    return str(el.get("initial_date") or "")


def describe_input(block: dict[str, Any]) -> str:
    """One form field as a line: its label, whether it is optional, the choices it offers, and what it holds
    already (``____`` when nothing: a form brought back must show the words it kept, not a blank)."""
    el = block.get("element") or {}
    label = input_label(block)
    options = [_text(o.get("text")) for o in el.get("options") or []]
    if options:
        return f"▸ {label}: " + " / ".join(options)
    return f"▸ {label}: {kept_value(block) or '____'}"


def render_view(view: dict[str, Any], width: int = 78, buttons: list[Button] | None = None) -> tuple[str, list[Button]]:
    """A modal or the App Home tab: a framed title, then its blocks as ``render`` shows a message."""
    title = _text(view.get("title")) or ("Home" if view.get("type") == "home" else "")
    body, buttons = render({"blocks": view.get("blocks") or []}, width - 2, buttons)
    bar = "═" * max(10, min(width, len(title) + 4))
    text = f"╔{bar}\n║ {title}\n╚{bar}\n{body}"
    actions = [_text(view.get(k)) for k in ("submit", "close") if view.get(k)]
    if actions:
        text += "\n" + "   ".join(f"[{a}]" for a in actions)
    return text, buttons
