"""``scr-bot teams package`` as an operator runs it (the bot as a process): the zip Teams installs from.

The manifest is validated with ``jsonschema`` against tests/teams_manifest.schema.json: the parts of
Microsoft's app manifest schema (v1.29, the one the package names) that scr-bot writes, with their types,
limits and required fields, written for these tests from Microsoft's manifest reference rather than copied.
What the schema cannot say is asserted here: the RSC permission, the scopes, the ``scr`` search command, the
icons' sizes and transparency (read back with Pillow, a separate PNG decoder). Half-set settings are one
line on stderr, exit 1, and no zip.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import warmstart
from PIL import Image

from conftest import ROOT

APP_ID = "6f2b1d3e-9a4c-4e2b-8f1a-0c5d7e9b2a41"
TENANT = "72f988bf-0000-0000-0000-000000000001"
SCHEMA = json.loads((Path(__file__).parent / "teams_manifest.schema.json").read_text())
TEAMS = {"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "secret-value-1", "TEAMS_TENANT_ID": TENANT,
         "TEAMS_PUBLIC_URL": "https://scr-bot.example.org/"}  # fmt: skip


def package(tmp_path: Path, **settings: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out" / "app.zip"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_", "TEAMS_"))}
    env.update(settings, SCR_DATA_DIR=str(tmp_path / "var"))
    proc = warmstart.run([sys.executable, "-m", "bot", "teams", "package", "--output", str(out)], env=env,
                          cwd=str(ROOT), capture_output=True, text=True, timeout=60)  # fmt: skip
    return proc, out


def rgba(image: Image.Image) -> list[tuple[int, ...]]:
    raw = image.convert("RGBA").tobytes()
    return [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]


def validate(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def test_the_package_holds_a_manifest_that_validates_and_asks_for_channel_messages(tmp_path: Path) -> None:
    proc, out = package(tmp_path, **TEAMS)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root, nothing else
        manifest = json.loads(zf.read("manifest.json"))
        color = Image.open(io.BytesIO(zf.read("color.png")))
        outline = Image.open(io.BytesIO(zf.read("outline.png")))
    assert validate(manifest) == []
    assert manifest["$schema"].endswith(f"/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json")
    assert manifest["id"] == APP_ID and manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "ChannelMessage.Read.Group", "type": "Application"}]  # fmt: skip
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID and set(bot["scopes"]) == {"team", "personal", "groupChat"}
    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID and [c["id"] for c in extension["commands"]] == ["scr"]
    assert extension["commands"][0]["type"] == "query"
    # Teams sends what was typed as the parameter the command names: the bot reads the one named "query".
    assert [p["name"] for p in extension["commands"][0]["parameters"]] == ["query"]
    team_commands = next(c["commands"] for c in bot["commandLists"] if c["scopes"] == ["team"])
    assert {"subscribe", "unsubscribe", "schedule"} <= {c["title"] for c in team_commands}
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for cl in bot["commandLists"] for c in cl["commands"])
    assert manifest["validDomains"] == ["scr-bot.example.org"]
    assert manifest["developer"]["websiteUrl"] == "https://scr-bot.example.org"
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}

    assert color.format == "PNG" and color.size == (192, 192)
    assert outline.format == "PNG" and outline.size == (32, 32) and outline.mode == "RGBA"
    pixels = rgba(outline)
    assert {p for p in pixels if p[3]} == {(255, 255, 255, 255)}, "outline: white only where not transparent"
    assert sum(1 for p in pixels if p[3] == 0) > len(pixels) // 2, "outline: a transparent background"
    colours = rgba(color)
    assert len(set(colours)) >= 2 and all(p[3] == 255 for p in colours), "colour: opaque, not one flat colour"


def test_the_schema_refuses_what_teams_would_refuse(tmp_path: Path) -> None:
    """The schema the package is checked against can fail: each fault Teams' upload would reject, rejected."""
    proc, out = package(tmp_path, **TEAMS)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as zf:
        good = json.loads(zf.read("manifest.json"))
    faults = {
        "no icons": lambda m: m.pop("icons"),
        "app id not a GUID": lambda m: m.update(id="scr-bot"),
        "http privacy page": lambda m: m["developer"].update(privacyUrl="http://example.org/privacy"),
        "short name too long": lambda m: m["name"].update(short="x" * 31),
        "unknown RSC type": lambda m: m["authorization"]["permissions"]["resourceSpecific"][0].update(type="App"),
        "two bots": lambda m: m["bots"].append(dict(m["bots"][0])),
        "unknown scope": lambda m: m["bots"][0]["scopes"].append("meetings"),
    }
    for name, fault in faults.items():
        bad = json.loads(json.dumps(good))
        fault(bad)
        assert validate(bad), name


@pytest.mark.parametrize(("settings", "says"), [
    ({"TEAMS_APP_ID": APP_ID}, "TEAMS_APP_PASSWORD, TEAMS_TENANT_ID not"),
    ({"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": "s"}, "TEAMS_TENANT_ID not"),
    ({**TEAMS, "TEAMS_APP_ID": "my-bot"}, "TEAMS_APP_ID must be the Azure Bot's Microsoft App ID"),
    ({**TEAMS, "TEAMS_TENANT_ID": "contoso"}, "TEAMS_TENANT_ID must be the Directory (tenant) ID"),
    ({k: v for k, v in TEAMS.items() if k != "TEAMS_PUBLIC_URL"}, "needs TEAMS_PUBLIC_URL"),
    ({**TEAMS, "TEAMS_PUBLIC_URL": "http://scr-bot.example.org"}, "TEAMS_PUBLIC_URL must be an https URL"),
    ({**TEAMS, "TEAMS_PRIVACY_URL": "privacy.html"}, "TEAMS_PRIVACY_URL must be an https URL"),
    ({}, "needs TEAMS_APP_ID"),
])  # fmt: skip
def test_missing_or_half_set_settings_are_one_line_and_no_package(tmp_path: Path, settings: dict[str, str],
                                                                  says: str) -> None:  # fmt: skip
    proc, out = package(tmp_path, **settings)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert "secret-value-1" not in proc.stderr
    assert not out.exists()


def test_the_same_settings_write_the_same_bytes(tmp_path: Path) -> None:
    """A package that changes on every run cannot be compared with the one installed."""
    first, out = package(tmp_path, **TEAMS)
    data = out.read_bytes()
    second, _ = package(tmp_path, **TEAMS)
    assert first.returncode == second.returncode == 0 and out.read_bytes() == data
