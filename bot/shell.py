"""The offline shell: try the bot in a terminal, no Slack workspace needed.

It runs the real Bolt app and handlers. Slash commands and button clicks are dispatched to the
app as Slack would send them, and the app's calls to the Web API go to a ``LocalSlack`` server
on 127.0.0.1, which hands posted messages back here to be printed. So what you see is what a
team would see, rendered from the same Block Kit.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlencode

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.localslack import TEAM_ID, LocalSlack
from bot.services import Services
from bot.textrender import Button, render

USER_ID = "U0YOU"
CHANNEL_ID = "C0TEAM"

BANNER = """scr-bot offline shell: the real bot, with a local stand-in for Slack.
Type a slash command such as  /scr help   /scr neglect   /scr police information sharing
Type a button's number to click it, 'help' for shell help, 'quit' (or Ctrl-D) to leave."""

SHELL_HELP = """  /scr ...      run the slash command (answers are shown as Slack would show them)
  <number>      click that button in the last answer
  quit          leave the shell"""


class Shell:
    def __init__(self, services: Services, out: TextIO = sys.stdout, width: int = 78):
        self.services = services
        self.out = out
        self.width = width
        self.slack = LocalSlack().serve()
        self.app: App = build_app(services, verify_requests=False, token="xoxb-offline", api_url=self.slack.url)
        self.buttons: list[Button] = []
        self._printed = threading.Event()
        self.slack.listeners.append(self._on_slack)

    def close(self) -> None:
        self.slack.close()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _show(self, message: dict[str, Any], prefix: str = "") -> None:
        text, self.buttons = render(message, self.width)
        self._print(prefix + text)

    def _on_slack(self, method: str, params: dict[str, Any]) -> None:
        """Messages the bot sends to Slack, shown as they would appear."""
        if method == "response_url":
            if params.get("delete_original"):
                return
            if params.get("replace_original") in (True, "true") and params.get("blocks"):
                self._show(params, "\n")
            else:
                self._show(params, "\n(only visible to you) ")
        elif method == "chat.postMessage":
            where = f"#{params.get('channel')}" + (" (in thread)" if params.get("thread_ts") else "")
            self._show(params, f"\n── posted in {where} ──\n")
        elif method == "files.completeUploadExternal":
            names = ", ".join(str(f.get("title") or f.get("id")) for f in params.get("files") or [])
            self._print(f"\n── sent to your direct messages: {names} ──")
        else:
            return
        self._printed.set()

    def _dispatch(self, body: str, content_type: str) -> Any:
        return self.app.dispatch(BoltRequest(body=body, headers={"content-type": [content_type]}))

    def command(self, text: str) -> None:
        parts = text.strip().split(maxsplit=1)
        form = {
            "token": "offline",
            "team_id": TEAM_ID,
            "team_domain": "local",
            "channel_id": CHANNEL_ID,
            "channel_name": "team",
            "user_id": USER_ID,
            "user_name": "you",
            "command": parts[0],
            "text": parts[1] if len(parts) > 1 else "",
            "response_url": self.slack.response_url(),
            "trigger_id": f"offline.{time.time()}",
        }
        self._printed.clear()
        response = self._dispatch(urlencode(form), "application/x-www-form-urlencoded")
        self._show_response(response)
        if response.status < 400 and not response.body:
            self._printed.wait(5)  # acknowledged empty: the answer follows through the response_url

    def click(self, number: int) -> None:
        if not 1 <= number <= len(self.buttons):
            self._print(f"There is no button {number}.")
            return
        button = self.buttons[number - 1]
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "local"},
            "user": {"id": USER_ID, "name": "you", "team_id": TEAM_ID},
            "api_app_id": "A0LOCAL",
            "container": {"type": "message", "channel_id": CHANNEL_ID, "is_ephemeral": True},
            "channel": {"id": CHANNEL_ID, "name": "team"},
            "trigger_id": f"offline.{time.time()}",
            "response_url": self.slack.response_url(),
            "actions": [
                {"type": "button", "action_id": button.action_id, "block_id": button.block_id or "b",
                 "value": button.value, "action_ts": str(time.time())}
            ],
        }
        self._printed.clear()
        response = self._dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        if response.status >= 400:
            self._print(f"(the bot answered {response.status})")
            return
        self._printed.wait(2)

    def _show_response(self, response: Any) -> None:
        if response.status >= 400:
            self._print(f"(the bot answered {response.status}: {response.body})")
            return
        if not response.body:
            return
        try:
            message = json.loads(response.body)
        except ValueError:
            message = {"text": response.body}
        self._show(message, "\n")

    def handle(self, line: str) -> bool:
        """Act on one line of input; return False to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("quit", "exit", ":q"):
            return False
        if line in ("help", "?"):
            self._print(SHELL_HELP)
        elif line.isdigit():
            self.click(int(line))
        elif line.startswith("/"):
            if line.split()[0] != "/scr":
                self._print(f"Unknown command {line.split()[0]}: this bot answers /scr.")
            else:
                self.command(line)
        else:
            self.command("/scr " + line)
        return True


def run_shell(services: Services, read: Callable[[str], str] = input, out: TextIO = sys.stdout) -> int:
    shell = Shell(services, out=out)
    shell._print(BANNER)
    try:
        while True:
            try:
                line = read("\nscr> ")
            except EOFError:
                break
            if not shell.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        shell.close()
    shell._print("Bye.")
    return 0
