"""The offline shell: play a whole week of the bot in a terminal, no Slack workspace needed.

It runs the real Bolt app, handlers, scheduler code and Redis store. What a person would do in Slack
(a slash command, a button click, a reply in a thread, submitting a form, opening the Home tab) is
sent to the app exactly as Slack would send it; the app's Web API calls go to a ``LocalSlack``
server on 127.0.0.1, which hands every message, form and file back here to be shown. So what you
see is what a team would see, rendered from the same Block Kit.

Work a listener does after its acknowledgement (Bolt's lazy listeners) runs on an executor the shell
can wait on, so each answer is printed before the next prompt, in order.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot import handlers
from bot.ops.textrender import Button, input_label, kept_value, render, render_view
from bot.reflections.store import ReflectionStore
from bot.services import Services
from bot.slack.app import build_app
from bot.slack.delivery import SlackDeliveries
from bot.slack.localslack import BOT_USER_ID, TEAM_ID, LocalSlack
from bot.weekly.poster import WeeklyPoster
from bot.weekly.summary import SummaryPoster

QUIT_WORDS = ("quit", "exit", ":q")
# The shell's own commands, for "did you mean": a mistyped one should not silently become a search.
SHELL_COMMANDS = ("help", "reply", "as", "post", "summary", "home", "thread", "session", "who", "clock", "quit", "exit")
CLOCK_HOUR = 11  # a moved clock stands at 11:00 on its day: inside working hours and the quiz window

CHANNEL_ID = "C0TEAM"
CHANNEL_NAME = "team"
ME = "you"

BANNER = """scr-bot offline shell: the real bot, with a local stand-in for Slack, in channel #team.
Try  /scr help   /scr neglect   /scr police information sharing
Play a week:  /scr subscribe  ·  post  ·  reply <text>  ·  as sam  ·  (click Reflect)  ·  summary  ·  home
Run a briefing:  /scr briefing neglect  ·  (Run in channel, I was there, Agree an action)  ·  clock +14d
Type a button's number to click it, 'help' for every shell command, 'quit' (or Ctrl-D) to leave."""

SHELL_HELP = """Slack, as a person in #team would use it:
  /scr ...            a slash command (/scr help, /scr neglect, /scr subscribe, /scr week, /scr export)
  <number>            click that button (Reflect opens the form; you are asked for each field)
  reply <text>        reply in the thread of this week's post (saved as a reflection)
  as <name>           be someone else in the team, e.g. 'as sam'; 'as you' to come back
  home                open the bot's App Home tab (your reflections, export, delete)
  thread              show this week's post and its thread
  session             show the latest briefing session post (its buttons) and its thread
The week, as the scheduler would run it:
  post [--force]      post this week's learning point in #team now (subscribes #team first if needed)
  summary             post this week's summary in the thread now
  clock               the shell's clock (what the scheduler thinks the time is)
  clock +14d | +2w | 2027-03-01
                      move the clock to 11:00 on that day and send what is due then, as the scheduler
                      would: knowledge checks (/scr quiz on), the monthly digest (/scr digest add @you),
                      action follow-ups and the three-month questions of briefing sessions
A 7-minute briefing: /scr briefing <theme> previews it; click Run in channel; 'as sam' and click
  I was there; click Agree an action (owner: a name such as sam; due: YYYY-MM-DD or +14d);
  'clock' to the due date; the owner clicks Done / Partly / Not yet; /scr actions lists them.
Other:
  who                 the people in #team
  help                this list
  quit                leave (Ctrl-D works too)
Files the bot sends you (the CPD export) are saved in {exports}."""


class TrackingExecutor(ThreadPoolExecutor):
    """Runs the work listeners do after their ack, and can say when all of it has finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=4, thread_name_prefix="shell-lazy")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


@dataclass
class Clickable:
    """A numbered button and where it was shown (a message in the channel, an ephemeral answer, a view)."""

    button: Button
    source: dict[str, Any] = field(default_factory=dict)


class Shell:
    def __init__(self, services: Services, out: TextIO = sys.stdout, read: Callable[[str], str] = input,
                 width: int = 78, exports: Path | None = None):  # fmt: skip
        self.services = services
        self.out = out
        self.read = read
        self.width = width
        self.exports = Path(exports or services.settings.data_dir / "exports")
        self.slack = LocalSlack().serve()
        self.slack.channels.add(CHANNEL_ID)
        self.executor = TrackingExecutor()
        self.app: App = build_app(services, verify_requests=False, token="xoxb-offline", api_url=self.slack.url,
                                  listener_executor=self.executor)  # fmt: skip
        handlers.register(self.app, services)
        self.people: dict[str, str] = {ME: "U0YOU", "sam": "U0SAM", "priya": "U0PRIYA"}
        for name, uid in self.people.items():
            self.slack.users[uid] = self._user(name, uid)
        # Who is in #team: its people (and the bot); anyone else typed as an owner is outside the channel.
        self.slack.members[CHANNEL_ID] = {*self.people.values(), BOT_USER_ID}
        self._offset = 0.0  # seconds the shell's clock is ahead of the real time ('clock +14d')
        self.user = ME
        self.clickables: list[Clickable] = []
        self._fresh = True
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._event_ids = 0
        self.leaving = False  # 'quit' typed inside a form: close it, then leave the shell
        self.slack.listeners.append(self._on_slack)

    # ----- plumbing -----------------------------------------------------------------------
    @staticmethod
    def _user(name: str, uid: str) -> dict[str, Any]:
        """A person of the shell's workspace. You own it (as whoever installs a bot owns their workspace), so
        you may name digest readers and admins; the others are members."""
        return {"id": uid, "name": name, "real_name": name.capitalize(), "tz": "Europe/London", "team_id": TEAM_ID,
                "is_owner": name == ME}  # fmt: skip

    @property
    def uid(self) -> str:
        return self.people[self.user]

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.slack.close()

    def say(self, text: str) -> None:
        for uid_name in ((uid, name) for name, uid in self.people.items()):
            text = text.replace(f"@{uid_name[0]}", f"@{uid_name[1]}")
        text = text.replace(f"#{CHANNEL_ID}", f"#{CHANNEL_NAME}").replace(f"@{BOT_USER_ID}", "@scr")
        self.out.write(text + "\n")
        self.out.flush()

    def _on_slack(self, method: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._events.append((method, params))

    def _take_events(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def _dispatch(self, body: str, content_type: str) -> Any:
        response = self.app.dispatch(BoltRequest(body=body, headers={"content-type": [content_type]}))
        self.executor.wait_idle()
        return response

    def _form(self, payload: dict[str, Any]) -> Any:
        return self._dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def _event(self, event: dict[str, Any]) -> Any:
        self._event_ids += 1
        body = {"token": "offline", "team_id": TEAM_ID, "api_app_id": "A0LOCAL", "type": "event_callback",
                "event_id": f"Ev{int(time.time())}{self._event_ids:04d}", "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                                    "is_enterprise_install": False}]}  # fmt: skip
        return self._dispatch(json.dumps(body), "application/json")

    def _person(self) -> dict[str, Any]:
        return {"id": self.uid, "username": self.user, "name": self.user, "team_id": TEAM_ID}

    # ----- showing what Slack would show --------------------------------------------------
    def _show(self, rendered: Callable[[list[Button]], tuple[str, list[Button]]], source: dict[str, Any]) -> None:
        """Print one message or view; its buttons get the next numbers, or 1, 2... when the person has
        typed something since buttons were last shown (older buttons stay clickable until then)."""
        earlier = [c.button for c in self.clickables]
        text, buttons = rendered(earlier)
        if self._fresh and len(buttons) > len(earlier):
            self.clickables, earlier = [], []
            text, buttons = rendered([])
            self._fresh = False
        self.clickables += [Clickable(b, source) for b in buttons[len(earlier):]]
        self.say(text)

    def _show_message(self, message: dict[str, Any], header: str, source: dict[str, Any]) -> None:
        def rendered(earlier: list[Button]) -> tuple[str, list[Button]]:
            text, buttons = render(message, self.width, earlier)
            return f"\n{header.rstrip()}\n{text}" if header else f"\n{text}", buttons

        self._show(rendered, source)

    def _show_view(self, view: dict[str, Any], source: dict[str, Any]) -> None:
        def rendered(earlier: list[Button]) -> tuple[str, list[Button]]:
            text, buttons = render_view(view, self.width, earlier)
            return "\n" + text, buttons

        self._show(rendered, source)

    def _ack_body(self, response: Any, source: dict[str, Any]) -> None:
        if response.status >= 400:
            self.say(f"(the bot answered {response.status}{': ' + response.body if response.body else ''})")
            return
        if not response.body:
            return
        try:
            message = json.loads(response.body)
        except ValueError:
            message = {"text": response.body}
        if isinstance(message, dict) and (message.get("text") or message.get("blocks")):
            header = "" if message.get("response_type") == "in_channel" else "(only visible to you) "
            self._show_message(message, header, source)

    def _drain(self) -> None:
        """Show everything the bot sent to "Slack" since the last look, in order; run any form it opened.

        A form is opened first and completed after the ack (the bot answers a click within Slack's 3 s, then
        checks what it can offer and updates the form): a person in Slack fills in the form as it stands by
        then, so the shell fills in the last version of a form opened and updated in the same turn."""
        events = self._take_events()
        latest: dict[str, dict[str, Any]] = {}
        for method, params in events:
            if method == "views.update" and params.get("view_id"):
                latest[str(params["view_id"])] = params
        for method, params in events:
            if method in ("views.open", "views.push"):
                view_id = str((params.get("_result") or {}).get("view", {}).get("id") or "")
                if view_id in latest:
                    params = {**params, "view": latest.pop(view_id).get("view") or params.get("view")}
            elif method == "views.update" and str(params.get("view_id") or "") not in latest and any(
                    m in ("views.open", "views.push")
                    and str((p.get("_result") or {}).get("view", {}).get("id")) == str(params.get("view_id"))
                    for m, p in events):
                continue  # already shown as part of the form it completed
            self._show_event(method, params)

    def _show_event(self, method: str, p: dict[str, Any]) -> None:
        if method == "response_url":
            if p.get("delete_original") in (True, "true"):
                return
            header = "" if p.get("response_type") == "in_channel" else "(only visible to you) "
            self._show_message(p, header, {"kind": "ephemeral", "response_url": p.get("_url")})
        elif method == "chat.postMessage":
            channel = str(p.get("channel"))
            result = p.get("_result") or {}
            if channel.startswith("D"):
                who = next((n for n, u in self.people.items() if channel == "D" + u), channel)
                header = f"── direct message from @scr to @{who} ──\n"
            else:
                header = f"── @scr in #{channel}" + (" (in the thread)" if p.get("thread_ts") else "") + " ──\n"
            self._show_message(p, header, {"kind": "message", "channel": channel, "ts": result.get("ts")})
        elif method == "chat.postEphemeral":
            who = next((n for n, u in self.people.items() if u == p.get("user")), str(p.get("user")))
            self._show_message(p, f"(only visible to {'you' if who == self.user else who}) ", {"kind": "ephemeral"})
        elif method == "chat.update":
            self._show_message(p, "── @scr edited its message ──\n", {"kind": "message", "channel": p.get("channel"),
                                                                         "ts": p.get("ts")})  # fmt: skip
        elif method == "views.publish":
            owner = str(p.get("user_id") or "")
            if owner and owner != self.uid:  # someone else's Home: theirs to see, and never the buttons on this screen
                who = next((n for n, u in self.people.items() if u == owner), owner)
                self.say(f"(@{who}'s App Home was updated: 'as {who}' then 'home' to see it)")
                return
            self._show_view(p.get("view") or {}, {"kind": "home", "view_id": (p.get("_result") or {}).get("view", {}).get("id")})
        elif method == "views.update":
            view_id = str(p.get("view_id") or (p.get("_result") or {}).get("view", {}).get("id") or "")
            view = p.get("view") or {}
            if view.get("submit") and any(b.get("type") == "input" for b in view.get("blocks") or []):
                self._fill_form(view, view_id)  # the form came back (e.g. the owner is not in the channel): still open
            else:
                self._show_view(view, {"kind": "modal", "view_id": view_id})
        elif method in ("views.open", "views.push"):
            self._fill_form(p.get("view") or {}, str((p.get("_result") or {}).get("view", {}).get("id") or "V0"))
        elif method == "files.completeUploadExternal":
            self._save_files(p)

    def _save_files(self, p: dict[str, Any]) -> None:
        self.exports.mkdir(parents=True, exist_ok=True)
        saved = []
        for f in p.get("files") or []:
            found = self.slack.file(str(f.get("id")))
            if found is None:
                continue
            name, content = found
            # One person's record must not overwrite another's exported the same day: the file names who it is for.
            path = self.exports / f"{self.user}-{Path(name).name}"
            path.write_bytes(content)
            saved.append(str(path.resolve()))
        comment = p.get("initial_comment") or ""
        self.say(f"\n── direct message from @scr, with {len(saved)} file(s) ──\n{comment}\n"
                 + "\n".join(f"  saved: {s}" for s in saved))  # fmt: skip

    # ----- forms (modals) -----------------------------------------------------------------
    def _ask(self, prompt: str) -> str | None:
        """One answer inside a form; None closes the form ('cancel', Ctrl-D, or 'quit', which then leaves)."""
        try:
            answer = self.read(prompt)
        except EOFError:
            return None
        if answer.strip().lower() in QUIT_WORDS:
            self.leaving = True
            return None
        return answer

    def _fill_form(self, view: dict[str, Any], view_id: str) -> None:
        """Show a modal, ask for each field in turn, and submit it as Slack would (or cancel)."""
        self._show_view(view, {"kind": "modal", "view_id": view_id})
        inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input"]
        if not inputs or not view.get("submit"):
            return
        self.say("Fill in the form (Enter keeps the default or skips an optional field; 'cancel' closes it, "
                 "'quit' leaves the shell):")
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        while True:
            for block in inputs:
                bid = block.get("block_id", "")
                if errors and bid not in errors and bid in values:
                    continue  # only ask again for the fields the bot sent back
                if bid in errors:
                    self.say(f"  ⚠️ {errors[bid]}")
                answer = self._field(block)
                if answer is None:
                    self.say("(form closed without saving)")
                    return
                values[bid] = answer
            state = {"values": values}
            submitted = {**view, "id": view_id, "state": state, "hash": "local"}
            payload = {"type": "view_submission", "team": {"id": TEAM_ID, "domain": "local"}, "user": self._person(),
                       "api_app_id": "A0LOCAL", "trigger_id": f"offline.{time.time()}", "view": submitted}  # fmt: skip
            response = self._form(payload)
            if response.status >= 400:
                self.say(f"(the bot answered {response.status})")
                return
            answer = json.loads(response.body) if response.body else {}
            if answer.get("response_action") == "errors":
                errors = dict(answer.get("errors") or {})
                continue
            if answer.get("response_action") in ("update", "push") and answer.get("view"):
                self._show_view(answer["view"], {"kind": "modal", "view_id": view_id})
            self._drain()  # what the bot did after its answer (e.g. the post in the thread, then the form updated)
            return

    def _field(self, block: dict[str, Any]) -> dict[str, Any] | None:
        el = block.get("element") or {}
        kind, action = el.get("type"), el.get("action_id", "value")
        label = input_label(block)
        kept = f"@{self._name(el['initial_user'])}" if el.get("initial_user") else kept_value(block)
        keeps = f"; Enter keeps {kept}" if kept else ""
        options = el.get("options") or []
        if options:
            initial = (el.get("initial_option") or {}).get("value")
            for i, o in enumerate(options, start=1):
                mark = " (default)" if o.get("value") == initial else ""
                self.say(f"    {i}. {o['text']['text']}{mark}")
            while True:
                raw = self._ask(f"  {label} [number]: ")
                if raw is None or raw.strip().lower() == "cancel":
                    return None
                raw = raw.strip()
                chosen = next((o for o in options if o.get("value") == initial), None) if not raw else (
                    options[int(raw) - 1] if raw.isdigit() and 1 <= int(raw) <= len(options) else None)
                if chosen is not None or (not raw and block.get("optional")):
                    return {action: {"type": kind, "selected_option": chosen}}
                self.say(f"    Type a number from 1 to {len(options)}.")
        if kind == "users_select":
            raw = self._ask(f"  {label} [a name, e.g. sam{keeps}]: ")
            if raw is None or raw.strip().lower() == "cancel":
                return None
            return {action: {"type": kind, "selected_user": self._uid_of(raw) or el.get("initial_user")}}
        if kind == "datepicker":
            raw = self._ask(f"  {label} [YYYY-MM-DD or +14d{keeps}]: ")
            if raw is None or raw.strip().lower() == "cancel":
                return None
            return {action: {"type": kind, "selected_date": self._date_typed(raw) or el.get("initial_date")}}
        raw = self._ask(f"  {label}{f' [Enter keeps: {kept}]' if kept else ''}: ")
        if raw is None or raw.strip().lower() == "cancel":
            return None
        return {action: {"type": kind or "plain_text_input", "value": raw.strip() or el.get("initial_value") or None}}

    def _uid_of(self, typed: str) -> str | None:
        """A person as typed in a form (``sam``, ``@sam``): their id. A name nobody in #team has is someone
        outside the channel (so the bot's own check refuses them as an owner, as Slack would show it)."""
        name = re.sub(r"[^a-z0-9_-]", "", typed.strip().lower().lstrip("@"))[:20]
        if not name:
            return None
        return self.people.get(name) or "U0" + name.upper().replace("-", "").replace("_", "")[:9]

    def _date_typed(self, typed: str) -> str | None:
        """A date as typed (``2027-03-01``, or ``+14d``/``+2w`` from the shell's clock), as a datepicker sends it
        (ISO); anything else is sent as typed, for the bot to refuse."""
        from datetime import timedelta

        typed = typed.strip()
        if not typed:
            return None
        step = re.fullmatch(r"\+(\d{1,4})([dw])", typed.lower())
        if step:
            days = int(step.group(1)) * (7 if step.group(2) == "w" else 1)
            return (self.now().astimezone(self._zone()).date() + timedelta(days=days)).isoformat()
        return typed

    # ----- what a person does -------------------------------------------------------------
    def mentions(self, text: str) -> str:
        """``@sam`` as a person types it becomes ``<@U0SAM>``, as Slack sends a mention (unknown names stay)."""
        def mention(match: re.Match[str]) -> str:
            uid = self.people.get(match.group(1).lower())
            return f"<@{uid}>" if uid else match.group(0)

        return re.sub(r"(?<![<\w])@([A-Za-z0-9_-]+)", mention, text)

    def command(self, text: str) -> None:
        parts = self.mentions(text.strip()).split(maxsplit=1)
        form = {
            "token": "offline", "team_id": TEAM_ID, "team_domain": "local", "channel_id": CHANNEL_ID,
            "channel_name": CHANNEL_NAME, "user_id": self.uid, "user_name": self.user, "command": parts[0],
            "text": parts[1] if len(parts) > 1 else "", "api_app_id": "A0LOCAL",
            "response_url": self.slack.response_url(), "trigger_id": f"offline.{time.time()}",
        }  # fmt: skip
        response = self._dispatch(urlencode(form), "application/x-www-form-urlencoded")
        self._ack_body(response, {"kind": "ephemeral", "response_url": form["response_url"]})
        self._drain()

    def click(self, number: int) -> None:
        if not 1 <= number <= len(self.clickables):
            self.say(f"There is no button {number}." if self.clickables else "There are no buttons to click yet.")
            return
        clicked = self.clickables[number - 1]
        button, source = clicked.button, clicked.source
        if button.confirm and not self._confirmed(button.confirm):
            return
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": TEAM_ID, "domain": "local"}, "user": self._person(),
            "api_app_id": "A0LOCAL", "trigger_id": f"offline.{time.time()}",
            "actions": [{"type": "button", "action_id": button.action_id, "block_id": button.block_id or "b",
                         "value": button.value, "action_ts": str(time.time())}],
        }  # fmt: skip
        kind = source.get("kind")
        if kind in ("home", "modal"):
            payload["container"] = {"type": "view", "view_id": source.get("view_id")}
            payload["view"] = {"id": source.get("view_id"), "type": "home" if kind == "home" else "modal"}
        else:
            response_url = source.get("response_url") or self.slack.response_url()
            payload["channel"] = {"id": source.get("channel") or CHANNEL_ID, "name": CHANNEL_NAME}
            payload["response_url"] = response_url
            payload["container"] = {"type": "message", "channel_id": source.get("channel") or CHANNEL_ID,
                                    "is_ephemeral": kind != "message", "message_ts": source.get("ts") or "1.000001"}
            if kind == "message":
                payload["message"] = {"ts": source.get("ts"), "type": "message"}
        response = self._form(payload)
        if response.status >= 400:
            self.say(f"(the bot answered {response.status})")
        self._drain()

    def _confirmed(self, confirm: dict[str, Any]) -> bool:
        title = (confirm.get("title") or {}).get("text", "Are you sure?")
        text = (confirm.get("text") or {}).get("text", "")
        yes = (confirm.get("confirm") or {}).get("text", "Yes")
        self.say(f"\n{title}\n{text}")
        raw = self._ask(f"  {yes}? [y/N]: ")
        if raw is not None and raw.strip().lower() in ("y", "yes"):
            return True
        self.say("(cancelled)")
        return False

    def _this_week(self) -> dict[str, Any] | None:
        from bot.storage.store import Workspace

        return self.services.reflections.latest_post(Workspace(TEAM_ID), CHANNEL_ID)

    def reply(self, text: str) -> None:
        latest = self._this_week()
        if not latest:
            self.say("There is no weekly post in #team to reply to yet: type 'post' first.")
            return
        text = self.mentions(text)
        msg = self.slack.post_as(self.uid, CHANNEL_ID, text, thread_ts=latest["ts"])
        self.say(f"── @{self.user} in the thread ──\n{text}")
        event = {"type": "message", "channel": CHANNEL_ID, "channel_type": "channel", "user": self.uid, "text": text,
                 "ts": msg["ts"], "thread_ts": latest["ts"], "event_ts": msg["ts"]}  # fmt: skip
        response = self._event(event)
        if response.status >= 400:
            self.say(f"(the bot answered {response.status}: Slack would retry this reply later)")
        self._drain()

    def _restore_post(self, latest: dict[str, Any]) -> None:
        """After a restart the local Slack is empty but Redis still records this week's post: show it again
        (same ts, same blocks), so its Reflect button and thread can be reached."""
        if self.slack.thread(CHANNEL_ID, latest["ts"]):
            return
        from datetime import date, datetime

        from bot.slack import blocks
        from bot.slack.localslack import BOT_ID

        point = self.services.corpus.by_id.get(str(latest.get("point") or ""))
        if point is None:
            return
        year, week = str(latest.get("week", "")).split("-W") if "-W" in str(latest.get("week", "")) else ("", "")
        start = date.fromisocalendar(int(year), int(week), 1) if year and week else date.today()
        schedule = self._schedule()
        summary = "at the end of the week"
        if latest.get("summary_at") and schedule is not None:
            local = datetime.fromisoformat(latest["summary_at"]).astimezone(schedule.tz)
            summary = f"{local:%A} at {local:%H:%M}"
        message = blocks.weekly_post(self.services.corpus, point, start, summary,
                                     reflect_button=self.services.reflections_enabled)  # fmt: skip
        with self.slack.lock:
            self.slack.messages.setdefault(CHANNEL_ID, []).insert(0, {
                "type": "message", "ts": latest["ts"], "user": BOT_USER_ID, "bot_id": BOT_ID, "channel": CHANNEL_ID,
                "text": message.get("text", ""), "blocks": message.get("blocks", [])})  # fmt: skip

    def thread(self) -> None:
        latest = self._this_week()
        if not latest:
            self.say("There is no weekly post in #team yet: type 'post' first.")
            return
        self._restore_post(latest)
        for msg in self.slack.thread(CHANNEL_ID, latest["ts"]):
            who = "scr" if msg.get("bot_id") else next((n for n, u in self.people.items() if u == msg.get("user")), "?")
            header = f"── @{who}" + (" (in the thread)" if msg.get("thread_ts") not in (None, msg["ts"]) else "") + " ──\n"
            self._show_message(msg, header, {"kind": "message", "channel": CHANNEL_ID, "ts": msg["ts"]})

    def session(self) -> None:
        """The latest briefing session post and its thread again, its buttons numbered from 1: after other
        messages took the numbers, "I was there" and "Agree an action" are reachable again."""
        from bot.slack.session_blocks import SESSION_BLOCK

        posts = [m for m in self.slack.channel_messages(CHANNEL_ID)
                 if any(str(b.get("block_id") or "").startswith(SESSION_BLOCK) for b in m.get("blocks") or [])]  # fmt: skip
        if not posts:
            self.say("No briefing has been run in #team yet: /scr briefing <theme>, then Run in channel.")
            return
        for msg in self.slack.thread(CHANNEL_ID, posts[-1]["ts"]):
            who = "scr" if msg.get("bot_id") else next((n for n, u in self.people.items() if u == msg.get("user")), "?")
            header = f"── @{who}" + (" (in the thread)" if msg.get("thread_ts") not in (None, msg["ts"]) else "") + " ──\n"
            self._show_message(msg, header, {"kind": "message", "channel": CHANNEL_ID, "ts": msg["ts"]})

    def _schedule(self) -> Any:
        return self.services.schedule_for(TEAM_ID, None, CHANNEL_ID)

    def _posters(self) -> tuple[Any, Any]:
        settings = self.services.settings
        deliveries = SlackDeliveries(self.app.client, self.services.corpus)
        poster = WeeklyPoster(self.services.store.client, deliveries, self.services.corpus,
                              lease_seconds=settings.claim_lease_seconds, settle_seconds=settings.claim_settle_seconds,
                              call_budget=settings.call_budget_seconds,
                              retention_days=settings.retention_days, reflect_button=self.services.reflections_enabled,
                              workspace_settings=self.services.workspace_settings)  # fmt: skip
        store = ReflectionStore(self.services.store.client, settings.retention_days)
        return poster, SummaryPoster(poster, store, self.services.corpus)

    def post(self, force: bool = False) -> None:
        if self._schedule() is None:
            self.say("(#team has no weekly post yet, so first: /scr subscribe)")
            self.command("/scr subscribe")
            if self._schedule() is None:
                return
        poster, _ = self._posters()
        result = poster.deliver(self._schedule(), ignore_time=True, force=force)
        self._drain()
        if result.outcome == "already":
            self.say(f"This week's point ({result.week}) is already posted in #team: 'thread' shows it, "
                     "'post --force' posts another.")  # fmt: skip
        elif result.outcome not in ("posted", "recovered"):
            self.say(f"(weekly post {result.week}: {result.outcome}{' ' + result.error if result.error else ''})")

    def summary(self) -> None:
        schedule = self._schedule()
        if schedule is None:
            self.say("#team has no weekly post yet: /scr subscribe, then 'post'.")
            return
        _, summaries = self._posters()
        result = summaries.deliver(schedule, ignore_time=True)
        self._drain()
        if result.outcome == "no_post":
            self.say("There is no post this week to summarise: type 'post' first.")
        elif result.outcome == "already":
            self.say("This week's summary is already in the thread ('thread' shows it).")
        elif result.outcome not in ("posted", "recovered"):
            self.say(f"(summary {result.week}: {result.outcome}{' ' + result.error if result.error else ''})")

    def home(self) -> None:
        response = self._event({"type": "app_home_opened", "user": self.uid, "channel": "D" + self.uid, "tab": "home",
                                "event_ts": str(time.time())})  # fmt: skip
        if response.status >= 400:
            self.say(f"(the bot answered {response.status})")
        self._drain()

    # ----- the clock ---------------------------------------------------------------------
    def now(self) -> Any:
        """The shell's time: the real time, moved on by 'clock'."""
        from datetime import UTC, datetime, timedelta

        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def _zone(self) -> Any:
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.services.settings.timezone)

    def clock(self, when: str) -> None:
        """'clock': say the time; 'clock +14d', '+2w' or '2027-03-01': move to 11:00 that day (never back) and
        send what the scheduler would send then, through the same senders as ``scr-bot schedule run-due``."""
        from datetime import date, datetime, time, timedelta

        when = when.strip().lower()
        current = self.now().astimezone(self._zone())
        if not when:
            self.say(f"The shell's clock: {current:%a %d %b %Y %H:%M} ({self._zone().key}). "
                     "'clock +14d', '+2w' or 'clock 2027-03-01' moves it on.")  # fmt: skip
            return
        step = re.fullmatch(r"\+(\d{1,4})([dw])", when)
        try:
            day = (current.date() + timedelta(days=int(step.group(1)) * (7 if step.group(2) == "w" else 1))
                   if step else date.fromisoformat(when))  # fmt: skip
        except ValueError:
            self.say(f"I can't read {when!r} as a time: try 'clock +14d', 'clock +2w' or 'clock 2027-03-01'.")
            return
        target = datetime.combine(day, time(CLOCK_HOUR), self._zone())
        if target < current - timedelta(minutes=1):
            self.say(f"The clock only goes forward: it is already {current:%a %d %b %Y %H:%M}.")
            return
        self._offset += (target - current).total_seconds()
        self.say(f"── the clock: {target:%a %d %b %Y %H:%M} ({self._zone().key}) ──")
        sent = self._learning(self.now())
        self._drain()
        self.say("(the scheduler sent: " + (", ".join(sent) if sent else "nothing due at this time") + ")")

    def _learning(self, at: Any) -> list[str]:
        """What the scheduler's sweep sends at ``at``: knowledge checks, digests, follow-ups (its own code)."""
        from bot.briefings.followup import FollowUps
        from bot.learning.digest_sender import DigestReaders, DigestSender
        from bot.learning.quiz import QuizStore
        from bot.learning.quiz_sender import QuizSender

        settings, client = self.services.settings, self.services.store.client
        deliveries = SlackDeliveries(self.app.client, self.services.corpus)
        hours = self.services.workspace_settings.hours
        quiz = QuizSender(QuizStore(client, settings.retention_days, timezone=settings.timezone), deliveries,
                          self.services.corpus, hours)  # fmt: skip
        digests = DigestSender(client, deliveries, self.services.corpus, hours,
                               DigestReaders(client, settings.env_digest_users), settings.retention_days)  # fmt: skip
        followups = FollowUps(client, deliveries, hours, settings.retention_days, settings.claim_lease_seconds,
                              settings.claim_settle_seconds)  # fmt: skip
        done = [f"knowledge check to @{self._name(q.user)}: {q.outcome}" for q in quiz.deliver_due(at)]
        done += [f"digest to @{self._name(d.user)}: {d.outcome}" for d in digests.deliver_due(self.services.all_schedules(TEAM_ID), at)]
        done += [f"follow-up ({f.what.split()[0]}): {f.outcome}" for f in followups.deliver_due(at)]
        self.executor.wait_idle()
        return [d for d in done if not d.endswith((": already", ": none"))]

    def _name(self, uid: str) -> str:
        return next((n for n, u in self.people.items() if u == uid), uid)

    def become(self, name: str) -> None:
        name = re.sub(r"[^a-z0-9_-]", "", name.strip().lower().lstrip("@"))[:20]
        if not name:
            self.say("Say who: e.g. 'as sam'.")
            return
        if name not in self.people:
            uid = "U0" + name.upper().replace("-", "").replace("_", "")[:9]
            self.people[name] = uid
            self.slack.users[uid] = self._user(name, uid)
            self.slack.members[CHANNEL_ID].add(uid)
        self.user = name
        self.say(f"You are now @{name} in #team.")

    def handle(self, line: str) -> bool:
        """Act on one line of input; return False to leave."""
        line = line.strip()
        if not line:
            return True
        word, _, rest = line.partition(" ")
        self._fresh = True  # the next buttons shown are numbered from 1 again
        if line in QUIT_WORDS:
            return False
        if line in ("help", "?", "/help"):
            self.say(SHELL_HELP.format(exports=self.exports))
        elif line.isdigit():
            self.click(int(line))
        elif word == "reply":
            if rest.strip():
                self.reply(rest.strip())
            else:
                self.say("Type what to say: reply <text>")
        elif word == "as":
            self.become(rest)
        elif line in ("post", "post --force"):
            self.post(force=line.endswith("--force"))
        elif line == "summary":
            self.summary()
        elif line == "home":
            self.home()
        elif line == "thread":
            self.thread()
        elif line == "session":
            self.session()
        elif word == "clock":
            self.clock(rest)
        elif line == "who":
            self.say("In #team: " + ", ".join(f"@{n}" + (" (you are here)" if n == self.user else "")
                                               for n in self.people))  # fmt: skip
        elif line.startswith("/"):
            if word != "/scr":
                self.say(f"Unknown command {word}: this bot answers /scr ('help' lists the shell's own commands).")
            else:
                self.command(line)
        elif (near := near_command(word)) is not None:
            self.say(f"Unknown command {word!r}: did you mean {near!r}? ('help' lists them; "
                     f"to search for it, type /scr {line})")
        else:
            self.command("/scr " + line)
        return not self.leaving


def near_command(word: str) -> str | None:
    """The shell command a mistyped leading word was probably meant to be (``thred`` -> ``thread``), or None
    for anything else, which is searched. Close means one slip: a letter changed, added, dropped or swapped."""
    import difflib

    lowered = word.lower()
    if lowered in SHELL_COMMANDS or len(lowered) < 3:
        return None
    for command in SHELL_COMMANDS:
        if len(command) < 4:
            continue
        diff = [i for i, (a, b) in enumerate(zip(lowered, command, strict=False)) if a != b]
        swapped = (len(lowered) == len(command) and len(diff) == 2 and diff[1] == diff[0] + 1  # "pots", "hoem"
                   and lowered[diff[0]] == command[diff[1]] and lowered[diff[1]] == command[diff[0]])
        if swapped or difflib.SequenceMatcher(None, lowered, command).ratio() >= 0.8:
            return command
    return None


def run_shell(services: Services, read: Callable[[str], str] | None = None, out: TextIO = sys.stdout) -> int:
    echo = read is None and not sys.stdin.isatty()

    def read_line(prompt: str) -> str:
        line = input(prompt)
        if echo:  # piped input: show it, so the transcript reads as a conversation
            out.write(line + "\n")
        return line

    shell = Shell(services, out=out, read=read or read_line)
    shell.say(BANNER)
    try:
        while True:
            try:
                line = shell.read(f"\n{shell.user} in #{CHANNEL_NAME}> ")
            except EOFError:
                break
            if not shell.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        shell.close()
    shell.say("\nBye.")
    return 0
