"""The core's views as Adaptive Cards (1.5), each with a plain-text fallback in the activity's ``text``.

Screen readers read the ``text``, so it always says what the card says in one line. Everything that came
from a person (what they typed) is escaped before it goes into a TextBlock, which reads Markdown. A weekly
post carries its marker twice: in the activity's ``channelData`` (what the Bot Connector keeps) and in a
hidden TextBlock (``id`` = ``MARKER_ID``), because Graph returns a channel message's card but not its
channelData: the hidden block is how a post whose answer was lost is recognised (``bot.teams.delivery``).

The cards are built from the Microsoft Teams SDK's Adaptive Card models (``microsoft_teams.cards``, the
``microsoft-teams-cards`` package: generated from the Adaptive Card schema, pure data, no server): a misspelt
property or a value the schema does not allow (a ``weight`` of "Bold") fails here, when the card is built and
in the tests, not silently in someone's Teams client. What leaves this module is the card's JSON (a dict), which
is what the Bot Connector and an invoke's answer carry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microsoft_teams.cards import (
    Action,
    AdaptiveCard,
    CardElement,
    Container,
    ExecuteAction,
    SubmitAction,
    TextBlock,
)

from bot.content.corpus import Check, Corpus, Point
from bot.delivery import Marker
from bot.learning.quiz import BOX_DAYS, Card
from bot.learning.views import KnowledgeCheck
from bot.search.lookup import Answer
from bot.weekly.views import ThreadSummary, WeeklyPost

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MARKER_ID = "scr-marker"
POINT_PREFIX = "scr-point-"  # a point's container id: which points an answer shows, for people and tests alike
_MARKDOWN = re.compile(r"([\\`*_\[\]<>~])")  # what starts emphasis, code, a link, or HTML in a TextBlock
_LINE_START = re.compile(r"^(\s*)([-+#]|\d+\.)(?=\s)", re.MULTILINE)  # what starts a list or heading at a line's start


def escape(text: str) -> str:
    """Text safe in a Markdown TextBlock: the characters that start formatting are backslash-escaped, and only
    those, so ordinary sentences (full stops, hyphens, brackets) read without stray backslashes."""
    def line_start(m: re.Match[str]) -> str:
        mark = m.group(2)
        return m.group(1) + (mark[:-1] + "\\." if mark.endswith(".") else "\\" + mark)

    return _LINE_START.sub(line_start, _MARKDOWN.sub(r"\\\1", text))


SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def text(value: str, **extra: Any) -> TextBlock:
    """A wrapping TextBlock; ``extra`` are the model's own (snake_case) properties, checked against the schema."""
    return TextBlock(text=value, wrap=True, **extra)


def card(body: Sequence[CardElement], fallback: str, *, actions: Sequence[Action] = (),
         speak: str | None = None) -> dict[str, Any]:  # fmt: skip
    """An Adaptive Card (1.5) as its JSON: the fallback is what a screen reader or an older client reads."""
    model = AdaptiveCard(version="1.5", fallback_text=fallback, speak=speak, body=list(body),
                         actions=list(actions) or None)  # fmt: skip
    return {"$schema": SCHEMA, **model.model_dump(by_alias=True, exclude_none=True)}


def activity(body: Sequence[CardElement], fallback: str, marker: Marker | None = None, *,
             actions: Sequence[Action] = (), speak: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A message activity: the card, the plain-text fallback, and the marker (channelData and hidden)."""
    if marker is not None:
        carried = json.dumps({"kind": marker.kind, "key": marker.key, "payload": dict(marker.payload)}, sort_keys=True)
        body = [*body, text(carried, id=MARKER_ID, is_visible=False)]
    content = card(body, fallback, actions=actions, speak=speak)
    out: dict[str, Any] = {"type": "message", "text": fallback, "textFormat": "plain",
                           "attachments": [{"contentType": CARD_TYPE, "content": content}]}  # fmt: skip
    if marker is not None:
        out["channelData"] = {"scr": {"kind": marker.kind, "key": marker.key, "payload": dict(marker.payload)}}
    return out


def marker_in(card_content: Any) -> dict[str, Any] | None:
    """The marker a card carries in its hidden block (``card_content``: a dict, or Graph's JSON string)."""
    if isinstance(card_content, str):
        try:
            card_content = json.loads(card_content)
        except ValueError:
            return None
    if not isinstance(card_content, dict):
        return None
    for element in card_content.get("body") or []:
        if isinstance(element, dict) and element.get("id") == MARKER_ID:
            try:
                found = json.loads(str(element.get("text") or ""))
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def point_body(corpus: Corpus, point: Point, *, questions: int = 1, header: str | None = None) -> list[CardElement]:
    """A learning point in full, as Slack shows it: note, title, summary, key messages, quote, questions, source."""
    items: list[CardElement] = []
    if header:
        items.append(text(header, weight="Bolder", size="Medium"))
    if point.content_note:
        items.append(text(f"Content note: {escape(point.content_note)}", is_subtle=True))
    if corpus.is_local(point):
        items.append(text(f"{escape(corpus.source_label(point))}, not the national analysis", is_subtle=True))
    items.append(text(escape(point.title), weight="Bolder", size="Large" if not header else "Default",
                      style="heading"))  # fmt: skip
    items.append(text(escape(point.summary)))
    items.append(text("**Key messages**\n" + "\n".join(f"- {escape(m)}" for m in point.key_messages)))
    if point.quote:
        items.append(text(f"“{escape(point.quote)}”", is_subtle=True))
    asked = point.questions[:questions]
    if len(asked) > 1:
        items.append(text("**Questions for reflection**\n" + "\n".join(f"- {escape(q)}" for q in asked)))
    else:
        items.append(text(f"**To reflect on:** {escape(asked[0])}"))
    items.append(text(f"Source: {escape(corpus.citation(point))}", is_subtle=True, size="Small"))
    return [Container(id=f"{POINT_PREFIX}{point.id}", items=items)]


def answer_activity(corpus: Corpus, answer: Answer, contact: str | None = None) -> dict[str, Any]:
    """A lookup's answer: how to act now on a live concern first, then the top point in full and up to four
    more by title, as Slack's ``/scr`` answer shows them."""
    body: list[CardElement] = []
    fallback = ""
    if answer.safety is not None:
        advice = answer.safety.advice
        fallback = advice.title
        who = f"**Who to contact here:** {escape(contact)}" if contact else escape(advice.no_contact)
        cited = [f"[{escape(r.label)}]({r.url})" for r in (advice.source, *advice.also)]
        body += [text(escape(advice.title), weight="Bolder", size="Large", style="heading"), text(escape(advice.intro)),
                 text("\n".join(f"- {escape(s)}" for s in advice.steps)), text(who),
                 text(f"Worded from {cited[0]}" + (f"; see also {'; '.join(cited[1:])}" if cited[1:] else "") + ".",
                      is_subtle=True, size="Small")]  # fmt: skip
    top = answer.top
    if top is None:
        if answer.kind == "not_covered" and answer.topic:
            line = f"{escape(answer.topic.label)} is not covered by these briefings."
        elif answer.kind in ("themes", "sectors"):
            names = corpus.themes if answer.kind == "themes" else corpus.sectors
            line = f"**{answer.kind.capitalize()}:** " + ", ".join(escape(getattr(v, "label", k)) for k, v in names.items())
        elif answer.kind == "help":
            line = "Type a topic (for example *neglect* or *police information sharing*), a theme or a sector."
        else:
            line = f"No learning points matched “{escape(answer.query)}”."
        body.append(text(line))
        if answer.suggestions:
            body.append(text("Try: " + ", ".join(escape(s.query) for s in answer.suggestions), is_subtle=True))
        return activity(body, fallback or _plain(line))
    if answer.notice:
        body.append(text(escape(answer.notice), is_subtle=True))
    if answer.kind in ("theme", "sector", "intersection", "search", "safety"):
        body.append(text(f"**{escape(answer.heading)}** · result {answer.offset + 1} of {len(answer.results)}",
                         is_subtle=True))  # fmt: skip
    if top.id in answer.why:
        body.append(text(escape(answer.why[top.id]), is_subtle=True))
    body += point_body(corpus, top)
    rest = answer.rest
    if rest:
        body.append(text("**More learning**", separator=True))
        for p in rest:
            label = answer.labels.get(p.id)
            body.append(Container(id=f"{POINT_PREFIX}{p.id}",
                                  items=[text(f"- {escape(p.title)}" + (f" ({escape(label)})" if label else ""))]))  # fmt: skip
    return activity(body, fallback or top.title)


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("\\", "")


def points_shown(activity_json: dict[str, Any]) -> list[str]:
    """The point ids a rendered answer shows, in order (from its containers' ids)."""
    out: list[str] = []
    for att in activity_json.get("attachments") or []:
        for element in (att.get("content") or {}).get("body") or []:
            if str(element.get("id", "")).startswith(POINT_PREFIX):
                out.append(element["id"][len(POINT_PREFIX):])
    return out


@dataclass(frozen=True)
class Welcome:
    """The card the bot sends once when it is added to a team (``scope`` "team") or a personal chat."""

    scope: str
    retention_days: int


def welcome_activity(view: Welcome, marker: Marker | None = None) -> dict[str, Any]:
    """What the bot does, how to start, and what it keeps: plain words, no one's data."""
    body = [text("SCR Learning is here", weight="Bolder", size="Large", style="heading"),
            text("Learning from the national Serious Case Review briefings, with the source cited: a learning point "
                 "each week to talk through in the thread, lookups by theme or words, short knowledge checks and a "
                 "monthly digest.")]  # fmt: skip
    if view.scope == "team":
        body.append(text("**Weekly post in this channel:** mention me with subscribe, e.g. subscribe monday 09:30 (a "
                         "sector or theme too if you like: subscribe health). Whoever subscribes becomes the channel's "
                         "lead: they and the bot's admin (whoever first added the app here) can change it, or stop it "
                         "with unsubscribe; schedule shows it. **Look something up:** mention me with a theme or words, "
                         "e.g. neglect, or police information sharing."))  # fmt: skip
    else:
        body.append(text("**Look something up:** type a theme or words here, e.g. neglect, or police information "
                         "sharing. Worried about a child now? Say so: I show how to act first."))  # fmt: skip
    body.append(text(f"**Privacy:** replies in a weekly post's thread are kept as reflections, with names masked, for "
                     f"{view.retention_days} days and can be deleted; summaries show numbers and questions only, never "
                     "anyone's words. Please leave out names and details of the families you work with.",
                     is_subtle=True))  # fmt: skip
    return activity(body, "SCR Learning is here: weekly learning from Serious Case Reviews, lookups, and how your "
                          "reflections are kept", marker)  # fmt: skip


@dataclass(frozen=True)
class SharedReflection:
    """A reflection its author chose, in the Reflect dialog, to share in the weekly post's thread (already
    masked); ``author`` is the name Teams gave for them, or empty."""

    author: str
    stood_out: str
    practice: str = ""
    action: str = ""


def shared_reflection_activity(view: SharedReflection, marker: Marker | None = None) -> dict[str, Any]:
    """A shared reflection as Slack posts it (``reflect_blocks.shared_reflection_message``): who shared it, then
    their words, escaped: everything here was typed by a person."""
    who = view.author or "a team member"
    lines = [f"**What stood out:** {escape(view.stood_out)}"]
    if view.practice:
        lines.append(f"**For our practice:** {escape(view.practice)}")
    if view.action:
        lines.append(f"**I'll do differently:** {escape(view.action)}")
    body = [text(f"Reflection shared by {escape(who)}", is_subtle=True), *(text(line) for line in lines)]
    return activity(body, f"Reflection shared by {who}: {view.stood_out}", marker)


def render(corpus: Corpus, view: Any, marker: Marker | None = None) -> dict[str, Any]:
    """One of the core's views as an activity (the delivery port's ``post``)."""
    if isinstance(view, Welcome):
        return welcome_activity(view, marker)
    if isinstance(view, SharedReflection):
        return shared_reflection_activity(view, marker)
    if isinstance(view, WeeklyPost):
        point = corpus.by_id[view.point_id]
        body = point_body(corpus, point, questions=3, header="Learning point of the week")
        body.insert(1, text(f"Week commencing {view.week_start.day} {view.week_start:%B %Y}", is_subtle=True))
        body.append(text(f"**Talk it through in this thread.** Reply to this post (mention me, or all replies if "
                         f"your team owner allowed it) with what stood out for you. On {view.summary_when} I'll post "
                         "a short summary: numbers and questions only, never anyone's words. Please leave out names "
                         "and details of the families you work with."))  # fmt: skip
        return activity(body, f"Learning point of the week: {point.title}", marker, actions=[reflect_action(point)])
    if isinstance(view, ThreadSummary):
        s = view.stats
        lines = [f"**This week's discussion:** {s.reflections} reflections from {s.people} people."]
        lines += [f"- {escape(q)} ({n})" for q, n in s.questions[:3]]
        if view.quiz.answered:
            lines.append(f"**Knowledge checks:** {view.quiz.answered} answered by {view.quiz.people} people."
                         if view.quiz.shown else "**Knowledge checks:** fewer than 3 people answered this week, so no "
                         "figures are shown.")  # fmt: skip
        return activity([text(line) for line in lines], f"Summary: {view.point.title}", marker)
    if isinstance(view, KnowledgeCheck):
        return check_activity(corpus, view, marker)
    raise TypeError(f"no Teams rendering for {type(view).__name__}")


VERB_REFLECT = "scr_reflect"  # the weekly post's Reflect button (its data's "scr"): opens bot.teams.dialogs' form


def reflect_action(point: Point) -> SubmitAction:
    """The weekly post's Reflect button: an Action.Submit that asks Teams for a dialog (``task/fetch``); its
    title and tooltip say what it does for a screen reader."""
    return SubmitAction(title="Reflect", tooltip="Reflect privately on this learning point",
                        data={"msteams": {"type": "task/fetch"}, "scr": VERB_REFLECT, "point": point.id})  # fmt: skip


# ----- knowledge checks -----------------------------------------------------------------------------------
VERB_ANSWER = "scr_quiz_answer"  # an answer button's Action.Execute verb; its data names check, day and option
LETTERS = "ABCD"


def _options(check: Check) -> str:
    return "\n".join(f"- **{LETTERS[i]}.** {escape(o)}" for i, o in enumerate(check.options))


def check_activity(corpus: Corpus, view: KnowledgeCheck, marker: Marker | None = None) -> dict[str, Any]:
    """A knowledge check in a personal chat: the question, lettered options, and an Action.Execute button for
    each (its title the letter, its tooltip the option read in full). The point's title waits for the answer,
    as on Slack: some titles give the answer away. The fallback reads the question and every option."""
    check = view.check
    point = corpus.point(check.point)
    source = corpus.briefings[point.source.briefing].short_title if point else "the briefings"
    body = [text("Your knowledge check", weight="Bolder", size="Medium", style="heading")]
    if point and point.content_note:
        body.append(text(f"Content note: {escape(point.content_note)}", is_subtle=True))
    body += [text(f"**{escape(check.question)}**"), text(_options(check)),
             text(f"From the {escape(source)}; the learning point comes with the answer. Only you see your answers; "
                  "your team sees only totals. Type *quiz off* here to stop these.", is_subtle=True, size="Small")]  # fmt: skip
    fallback = f"Knowledge check: {check.question} " + " ".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(check.options))
    buttons = [ExecuteAction(title=LETTERS[i], tooltip=f"Answer {LETTERS[i]}: {o}", verb=VERB_ANSWER,
                             data={"c": check.id, "d": view.sent_day, "o": i}) for i, o in enumerate(check.options)]  # fmt: skip
    return activity(body, fallback, marker, actions=buttons, speak=fallback)


def answered_card(corpus: Corpus, check: Check, chosen: int, *, progress: Card | None, already: bool = False) -> dict[str, Any]:
    """What replaces the check once answered (the invoke's answer): right or not, the explanation, the point it
    comes from with its citation, and when it returns; or, pressed again, the first answer, which is kept."""
    right = 0 <= chosen < len(check.options) and check.options[chosen] == check.answer
    verdict = "**Right.**" if right else f"**Not quite.** The answer is **{escape(check.answer)}**."
    picked = escape(check.options[chosen]) if 0 <= chosen < len(check.options) else "?"
    body = [text("Your knowledge check", weight="Bolder", size="Medium", style="heading"),
            text(f"**{escape(check.question)}**"), text(f"You chose: {picked}"), text(verdict),
            text(escape(check.explanation))]  # fmt: skip
    if progress is not None:
        days = BOX_DAYS[progress.box - 1]
        body.append(text(f"This one comes back in about {days} day{'s' if days != 1 else ''}.", is_subtle=True))
    if already:
        body.append(text("You had already answered this check; your first answer is the one kept.", is_subtle=True))
    point = corpus.point(check.point)
    if point is not None:
        body += [text(f"**{escape(point.title)}**", separator=True), text(escape(point.summary)),
                 text(f"Source: {escape(corpus.citation(point))}", is_subtle=True, size="Small")]  # fmt: skip
    fallback = (("Right. " if right else f"Not quite: the answer is {check.answer}. ") + check.explanation
                + (" You had already answered this check; your first answer is the one kept." if already else ""))  # fmt: skip
    return card(body, fallback, speak=fallback)  # an invoke's answer carries the card itself, not an activity


UNAVAILABLE = ("This knowledge check is not available: it is not one I sent you. Your next check comes here "
               "on a quiz day.")  # fmt: skip


def unavailable_card() -> dict[str, Any]:
    """The answer to a press of a check that was never sent to the person pressing it: calm, nothing recorded."""
    body = [text("Your knowledge check", weight="Bolder", size="Medium", style="heading"), text(UNAVAILABLE)]
    return card(body, UNAVAILABLE, speak=UNAVAILABLE)


# ----- the search-based message extension ------------------------------------------------------------------
THUMBNAIL_TYPE = "application/vnd.microsoft.card.thumbnail"


def answer_card(corpus: Corpus, answer: Answer, contact: str | None = None) -> dict[str, Any]:
    """A lookup's answer as the card itself (what a message extension inserts), as ``answer_activity`` shows it."""
    card_content: dict[str, Any] = answer_activity(corpus, answer, contact)["attachments"][0]["content"]
    return card_content


def extension_result(title: str, line: str, content: dict[str, Any]) -> dict[str, Any]:
    """One row of a message extension's list: a preview (title and one line, plain text: Teams does not read
    Markdown in a thumbnail's text) and the Adaptive Card inserted when it is chosen."""
    return {"contentType": CARD_TYPE, "content": content,
            "preview": {"contentType": THUMBNAIL_TYPE, "content": {"title": title, "text": line}}}  # fmt: skip


def extension_answer(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``composeExtension/query`` invoke's answer: the results as a list."""
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": results}}
