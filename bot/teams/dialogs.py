"""The Reflect dialog (a Teams task module): the weekly post's Reflect button, the form, and its answers.

The button is an ``Action.Submit`` whose data asks Teams for a dialog (``msteams.type`` ``task/fetch``); Teams
sends a ``task/fetch`` invoke and opens the card our answer carries. Its Save sends a ``task/submit`` invoke
with what was typed and the form's own data (the point, where it was opened, and a random id of this dialog,
which is what makes a second Save of the same dialog the same reflection). Every input has a label; the card
has a plain-text fallback. What a person typed comes back into the form (after an error) only as an input's
value, which Teams does not render as Markdown.
"""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import CardElement, Choice, ChoiceSetInput, SubmitAction, TextInput

from bot.content.corpus import Corpus, Point
from bot.reflections.store import PRIVATE, SHARED
from bot.teams.cards import CARD_TYPE, card, escape, text

VERB_SAVE = "scr_reflection"  # the dialog's Save
MINUTES = (5, 10, 15, 20, 30, 45, 60, 90)  # as Slack's Reflect form offers (bot.slack.reflect_blocks)
DEFAULT_MINUTES = 10
FIELD_LIMIT = 2000  # as Slack's form: a reflection, not an essay
ACTION_LIMIT = 500
FIELDS = ("stood_out", "practice", "action")
# Who sees it (as Slack's form asks): offered only when the dialog was opened from a weekly post's thread.
SHARE_CHOICES = ((SHARED, "Share in the thread with my team"), (PRIVATE, "Keep private (only in my record)"))


def form(corpus: Corpus, point: Point, *, dialog: str, channel: str | None, thread: str | None,
         values: dict[str, str] | None = None, error: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The Reflect form for ``point``: labelled inputs, Save; ``values`` kept and ``error`` shown on a retry."""
    values = values or {}
    in_thread = bool(channel and thread)
    body: list[CardElement] = [
        text("Reflect", weight="Bolder", size="Medium", style="heading"),
        text(f"**{escape(point.title)}**"),
        text(("It goes in your record (type *export* in my chat for your CPD record); choose below whether your "
              "team sees it in this thread too. " if in_thread else
              "Only you see this reflection: it goes in your record (type *export* in my chat for your CPD record), "
              "never in the channel or its summary. ")
             + "Please leave out names and details of the families you work with: names and similar details are "
               "masked before saving, but masking can miss things.", is_subtle=True, size="Small"),
    ]  # fmt: skip
    if error:
        body.append(text(escape(error), color="Attention", weight="Bolder", id="scr-error"))
    body += [
        TextInput(id="stood_out", label="What stood out for you?", is_multiline=True, is_required=True,
                  error_message="Write a few words about what stood out for you.", max_length=FIELD_LIMIT,
                  value=values.get("stood_out", "")),
        TextInput(id="practice", label="What does it mean for your practice, or your team's?", is_multiline=True,
                  max_length=FIELD_LIMIT, value=values.get("practice", "")),
        TextInput(id="action", label="One thing you will do or check differently", max_length=ACTION_LIMIT,
                  value=values.get("action", "")),
        ChoiceSetInput(id="minutes", label="Time spent (for your CPD record)", style="compact",
                       value=values.get("minutes") or str(DEFAULT_MINUTES),
                       choices=[Choice(title=f"{m} minutes", value=str(m)) for m in MINUTES]),
    ]  # fmt: skip
    if in_thread:
        chosen = values.get("visibility")
        body.append(ChoiceSetInput(id="visibility", label="Who sees it?", style="expanded", is_required=True,
                                   value=chosen if chosen in (SHARED, PRIVATE) else PRIVATE,
                                   choices=[Choice(title=title, value=value) for value, title in SHARE_CHOICES]))  # fmt: skip
    data = {"scr": VERB_SAVE, "point": point.id, "dialog": dialog, "channel": channel or "", "thread": thread or ""}
    return card(body, f"Reflect on {point.title}: what stood out for you, what it means for your practice, one "
                      "action, the time spent" + (", and whether to share it in the thread or keep it private." if in_thread
                      else ". Only you see it."), actions=[SubmitAction(title="Save", data=data)])  # fmt: skip


def dialog(content: dict[str, Any]) -> dict[str, Any]:
    """A ``task/fetch`` (or a ``task/submit`` that must show the form again) answer: open this card."""
    return {"task": {"type": "continue", "value": {"title": "Reflect", "width": "medium", "height": "large",
                                                   "card": {"contentType": CARD_TYPE, "content": content}}}}  # fmt: skip


def done(message: str) -> dict[str, Any]:
    """A ``task/submit`` answer that closes the dialog and shows ``message`` (plain text)."""
    return {"task": {"type": "message", "value": message}}
