"""The Teams app package ``scr-bot teams package`` writes: ``manifest.json`` and its two icons, zipped.

An organisation uploads this zip to Teams (or its admin centre) to install the bot; the Azure Bot registration
alone is not enough. The manifest follows the current published schema (``MANIFEST_VERSION``) and asks for
what the bot uses and nothing more:

- the bot in ``team``, ``personal`` and ``groupChat`` scopes, with the commands a person can type;
- a search message extension (``scr``): the same lookups, from the compose box;
- the resource-specific consent ``ChannelMessage.Read.Group`` (Application): lets the bot read its team's
  channel messages without an @mention (thread replies as reflections; its own post read back after a lost
  answer). A team owner grants it when adding the app; without it only @mentions reach the bot.
  RSC needs ``webApplicationInfo`` naming the same Entra app.

The icons are drawn here, a few lines of pixels written as PNG with zlib, so the package needs no image
library and is the same bytes every time: a 192x192 colour icon and a 32x32 outline icon that is white on
transparent, as Teams requires.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot import __version__
from bot.config import ConfigError, Settings

MANIFEST_VERSION = "1.29"
SCHEMA_URL = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
RSC_PERMISSION = "ChannelMessage.Read.Group"
SEARCH_COMMAND = "scr"
ACCENT = (0x2C, 0x4A, 0x6E)  # the Slack app's background colour (manifest.yml)
COLOR_SIZE = 192
OUTLINE_SIZE = 32
Pixel = tuple[int, int, int, int]
WHITE: Pixel = (255, 255, 255, 255)
CLEAR: Pixel = (0, 0, 0, 0)


def require(settings: Settings) -> str:
    """The app id, or the one-line error saying which setting ``teams package`` still needs."""
    if not settings.teams_app_id:
        raise ConfigError("scr-bot teams package needs TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID "
                          "(Azure Bot > Configuration; README: Deploy to Microsoft Teams)")  # fmt: skip
    if not settings.teams_public_url:
        raise ConfigError("scr-bot teams package needs TEAMS_PUBLIC_URL, the bot's https address (the one whose "
                          "/api/messages is the Azure Bot's messaging endpoint), e.g. https://scr-bot.example.org")  # fmt: skip
    return settings.teams_app_id


def manifest(settings: Settings) -> dict[str, Any]:
    """The app manifest for this deployment (``require`` first)."""
    app_id = require(settings)
    public = str(settings.teams_public_url)
    scopes = ["team", "personal", "groupChat"]
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": __version__,
        "id": app_id,
        "developer": {"name": settings.teams_publisher, "websiteUrl": public,
                      "privacyUrl": settings.teams_privacy_url or public, "termsOfUseUrl": settings.teams_terms_url or public},  # fmt: skip
        "name": {"short": "SCR Learning", "full": "SCR Learning: learning from Serious Case Reviews"},
        "description": {
            "short": "Weekly learning from Serious Case Reviews, with team reflection.",
            "full": ("Brings cited learning points from the national Serious Case Review briefings to safeguarding "
                     "practitioners: a weekly post in your team's channel, lookups by theme or words (for example "
                     "'neglect' or 'police information sharing'), reflections from replies in the post's thread, "
                     "short knowledge checks and a monthly digest. If you are worried about a child now, the bot "
                     "shows how to act first. Reflections are kept for a limited time and can be deleted; see the "
                     "privacy notice."),  # fmt: skip
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [{
            "botId": app_id, "scopes": scopes, "supportsFiles": False, "isNotificationOnly": False,
            "commandLists": [
                {"scopes": ["team"], "commands": [
                    {"title": "subscribe", "description": "A weekly learning point here, e.g. subscribe monday 09:30"},
                    {"title": "unsubscribe", "description": "Stop this channel's weekly learning point"},
                    {"title": "schedule", "description": "When this channel's weekly point is posted, and by whom"},
                    {"title": "neglect", "description": "Learning points on a theme (or any words)"},
                    {"title": "help", "description": "What the bot does and how to ask it"}]},
                {"scopes": ["groupChat"], "commands": [
                    {"title": "neglect", "description": "Learning points on a theme (or any words)"},
                    {"title": "help", "description": "What the bot does and how to ask it"}]},
                {"scopes": ["personal"], "commands": [
                    {"title": "neglect", "description": "Learning points on a theme"},
                    {"title": "help", "description": "What the bot does and how to ask it"}]},
            ],
        }],  # fmt: skip
        "composeExtensions": [{
            "botId": app_id,
            "commands": [{
                "id": SEARCH_COMMAND, "type": "query", "title": "SCR learning", "context": ["compose", "commandBox"],
                "description": "Find learning points from Serious Case Reviews and insert one as a card",
                "initialRun": False,
                "parameters": [{"name": "query", "title": "Theme or words", "inputType": "text",
                                "description": "A theme such as neglect, or words such as police information sharing"}],
            }],
        }],  # fmt: skip
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [urlsplit(public).netloc],
        "webApplicationInfo": {"id": app_id, "resource": f"api://{urlsplit(public).netloc}/botid-{app_id}"},
        "authorization": {"permissions": {"resourceSpecific": [{"name": RSC_PERMISSION, "type": "Application"}]}},
    }


def png(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """An 8-bit RGBA PNG (no filtering, one IDAT): the whole format a two-icon package needs."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, no filter, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _book(x: float, y: float) -> str:
    """An open book on a 0..1 square: 'page', 'line' (text on a page), 'spine' or '' (outside)."""
    if not (0.22 <= x <= 0.78 and 0.26 <= y <= 0.74):
        return ""
    if 0.49 <= x <= 0.51:
        return "spine"
    inner = 0.28 <= x <= 0.45 or 0.55 <= x <= 0.72
    if inner and any(abs(y - row) <= 0.02 for row in (0.38, 0.48, 0.58)):
        return "line"
    return "page"


def color_icon() -> bytes:
    """192x192, full colour: a white open book on the accent colour."""

    def pixel(x: int, y: int) -> Pixel:
        part = _book((x + 0.5) / COLOR_SIZE, (y + 0.5) / COLOR_SIZE)
        return WHITE if part == "page" else (*ACCENT, 255)

    return png(COLOR_SIZE, COLOR_SIZE, pixel)


def outline_icon() -> bytes:
    """32x32, white on transparent: the book's edge and spine only."""

    def pixel(x: int, y: int) -> Pixel:
        inside = 7 <= x <= 24 and 8 <= y <= 23
        edge = inside and (x in (7, 24) or y in (8, 23) or x in (15, 16))
        return WHITE if edge else CLEAR

    return png(OUTLINE_SIZE, OUTLINE_SIZE, pixel)


def write(settings: Settings, path: Path) -> Path:
    """The zip Teams installs from: manifest.json, color.png and outline.png at its root."""
    content = json.dumps(manifest(settings), indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("manifest.json", content.encode()), ("color.png", color_icon()),
                           ("outline.png", outline_icon())):  # fmt: skip
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same bytes for the same settings
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path
