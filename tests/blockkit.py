"""Check a message against Slack's Block Kit limits, as Slack would reject it."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block

LIMITS = {"blocks": 50, "section_text": 3000, "header": 150, "button_text": 75, "button_value": 2000,
          "context_elements": 10, "action_elements": 25, "action_id": 255, "fallback": 40000}  # fmt: skip


def assert_valid_message(msg: dict[str, Any], max_blocks: int = LIMITS["blocks"]) -> None:
    assert isinstance(msg.get("text"), str) and msg["text"], "top-level text (fallback) is required"
    assert len(msg["text"]) <= LIMITS["fallback"]
    blocks = msg.get("blocks") or []
    assert 1 <= len(blocks) <= max_blocks, f"{len(blocks)} blocks"
    for raw in blocks:
        Block.parse(raw).to_dict()  # slack_sdk's own validators raise on any limit it knows
        kind = raw["type"]
        if kind == "section":
            if "text" in raw:
                assert 1 <= len(raw["text"]["text"]) <= LIMITS["section_text"]
            if raw.get("accessory", {}).get("type") == "button":
                _button(raw["accessory"])
        elif kind == "header":
            assert 1 <= len(raw["text"]["text"]) <= LIMITS["header"]
            assert raw["text"]["type"] == "plain_text"
        elif kind == "context":
            assert 1 <= len(raw["elements"]) <= LIMITS["context_elements"]
            for el in raw["elements"]:
                assert 1 <= len(el["text"]) <= LIMITS["section_text"]
        elif kind == "actions":
            assert 1 <= len(raw["elements"]) <= LIMITS["action_elements"]
            for el in raw["elements"]:
                if el["type"] == "button":  # selects are checked by slack_sdk's parse above
                    _button(el)


def _button(el: dict[str, Any]) -> None:
    assert 1 <= len(el["text"]["text"]) <= LIMITS["button_text"]
    assert len(el.get("value", "")) <= LIMITS["button_value"]
    assert 1 <= len(el["action_id"]) <= LIMITS["action_id"]


def displayed_texts(msg: dict[str, Any]) -> list[str]:
    """Every string Slack shows to people: the fallback and all text objects (not button values)."""
    out = [msg.get("text", "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                out.append(node["text"])
            for key, value in node.items():
                if key != "value":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(msg.get("blocks") or [])
    return out


def assert_no_user_markup(msg: dict[str, Any], allowed: tuple[str, ...] = ()) -> None:
    """No Slack control sequence reaches the screen unless it is one of ours (``allowed``)."""
    for text in displayed_texts(msg):
        for ok in allowed:
            text = text.replace(ok, "")
        assert "<" not in text, f"unescaped '<' in displayed text: {text[:200]!r}"


def dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False)
