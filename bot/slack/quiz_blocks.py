"""Block Kit for knowledge checks: the check by DM, the answer with its explanation, and the quiz lines
of the weekly summary and App Home. Built with slack_sdk's models so Slack's limits are checked."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.content.corpus import Check, Corpus
from bot.learning.quiz import BOX_DAYS, Aggregate, Answer, Card
from bot.slack.blocks import ACTION_READ_MORE, _clip, _md, currency_context, escape

ACTION_ANSWER = "scr_quiz_answer"  # one per option: scr_quiz_answer_0, _1, _2, _3
ACTION_PAUSE = "scr_quiz_pause"  # App Home: pause knowledge checks for the chosen number of weeks
ACTION_RESUME = "scr_quiz_resume"  # App Home: start them again now
PAUSE_CHOICES = (1, 2, 4, 8, 12)  # weeks
LETTERS = "ABCD"


def answer_value(check: Check, sent_day: str, option: int) -> str:
    return json.dumps({"c": check.id, "d": sent_day, "o": option})


def parse_answer_value(value: str) -> tuple[str, str, int] | None:
    try:
        data = json.loads(value)
        return str(data["c"]), str(data["d"]), int(data["o"])
    except (ValueError, KeyError, TypeError):
        return None


def check_message(corpus: Corpus, check: Check, sent_day: str) -> dict[str, Any]:
    """The DM a person gets: the question, lettered options and a button for each. The point's title is not
    shown until after answering: some titles would give the answer away."""
    point = corpus.point(check.point)
    source = corpus.briefings[point.source.briefing].short_title if point else "the briefings"
    options = "\n".join(f"*{LETTERS[i]}.* {escape(o)}" for i, o in enumerate(check.options))
    note = [ContextBlock(elements=[_md(f":information_source: *Content note:* {escape(point.content_note)}")])] \
        if point and point.content_note else []
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text="Your knowledge check")),
        *note,  # before the question, as on the point itself
        SectionBlock(text=_md(f"*{escape(check.question)}*\n{options}")),
        ActionsBlock(block_id=f"quiz-{check.id}", elements=[
            ButtonElement(text=LETTERS[i], action_id=f"{ACTION_ANSWER}_{i}", value=answer_value(check, sent_day, i))
            for i in range(len(check.options))
        ]),
        ContextBlock(elements=[_md(
            f"From the {escape(source)}; the learning point comes with the answer. Only you see your answers; "
            "your team sees only totals. `/scr quiz off` stops these."
        )]),
    ]  # fmt: skip
    return {"text": f"Knowledge check: {check.question}", "blocks": [b.to_dict() for b in blocks]}


def answered_message(corpus: Corpus, check: Check, chosen: int, *, card: Card | None, already: bool = False) -> dict[str, Any]:
    """What replaces the check once answered: right or not, the explanation, the point with its briefing's
    period (and what has changed since), and when it returns."""
    right = check.options[chosen] == check.answer if 0 <= chosen < len(check.options) else False
    point = corpus.point(check.point)
    verdict = (":white_check_mark: *Right.*" if right
               else f":large_blue_circle: *Not quite.* The answer is *{escape(check.answer)}*.")  # fmt: skip
    lines = [f"*{escape(check.question)}*", f"You chose: {escape(check.options[chosen]) if 0 <= chosen < len(check.options) else '?'}",
             verdict, escape(check.explanation)]  # fmt: skip
    if card is not None:
        days = BOX_DAYS[card.box - 1]
        lines.append(f"_This one comes back in about {days} day{'s' if days != 1 else ''}._")
    if already:
        lines.append("_You had already answered this check; your first answer is the one kept._")
    blocks: list[Block] = [SectionBlock(text=_md(_clip("\n".join(lines), 3000)))]
    if point is not None:
        blocks.append(SectionBlock(
            text=_md(f":books: *{escape(point.title)}*\n{escape(_clip(point.summary, 600))}\n_{escape(corpus.citation(point))}_"),
            accessory=ButtonElement(text="Read the point", action_id=ACTION_READ_MORE, value=point.id),
        ))  # fmt: skip
        blocks.append(currency_context(corpus, point))  # the explanation is of its time: say when, and what changed
    return {"text": "Right." if right else f"Not quite: the answer is {check.answer}.", "blocks": [b.to_dict() for b in blocks]}


def summary_lines(corpus: Corpus, agg: Aggregate) -> str:
    """The weekly summary's quiz part: counts only, and nothing at all behind fewer than 3 people."""
    if agg.answered == 0:
        return ""
    if not agg.shown:
        return ("*Knowledge checks:* fewer than 3 people answered this week, so no figures are shown "
                "(small numbers could identify people).")  # fmt: skip
    text = f"*Knowledge checks:* {agg.answered} answered by {agg.people} people this week."
    hard = [(corpus.check(h.check), h) for h in agg.hard[:2] if corpus.check(h.check)]
    if hard:
        text += "\n*Worth another look together:*\n" + "\n".join(
            f"• {escape(c.question)} ({h.right} of {h.answered} right)" for c, h in hard)  # fmt: skip
    return text


def pause_controls(paused_until: float, now: float) -> Block:
    """Leave or sickness: pause checks for some weeks (a select), or, while paused, resume now (a button)."""
    if paused_until > now:
        return ActionsBlock(elements=[ButtonElement(text="Resume knowledge checks now", action_id=ACTION_RESUME, value="resume")])
    choose = StaticSelectElement(
        action_id=ACTION_PAUSE, placeholder=PlainTextObject(text="Pause checks for…"),
        options=[Option(text=PlainTextObject(text=f"{n} week{'s' if n != 1 else ''}"), value=str(n)) for n in PAUSE_CHOICES],
    )  # fmt: skip
    return ActionsBlock(elements=[choose])


def home_blocks(corpus: Corpus, answers: list[Answer], opted_in: bool, paused_until: float = 0.0,
                now: float = 0.0) -> list[Block]:  # fmt: skip
    """App Home: the person's own check history (only they see it), and whether their checks are paused."""
    right = sum(a.correct for a in answers)
    head = f"*Your knowledge checks* ({len(answers)} answered, {right} right)"
    paused = opted_in and paused_until > now
    if paused:
        when = f"<!date^{int(paused_until)}^{{date_long}}|{time.strftime('%d %B %Y', time.gmtime(paused_until))}>"
        status = f":pause_button: Paused until {when}: no knowledge checks until then."
    elif opted_in:
        status = "You get a short check mid-week by DM. `/scr quiz off` stops them; on leave, pause them below."
    else:
        status = "`/scr quiz on` sends you one short check mid-week by DM, spaced so that what you miss comes back sooner."
    blocks: list[Block] = [SectionBlock(text=_md(head)), ContextBlock(elements=[_md(status)])]
    if opted_in:
        blocks.append(pause_controls(paused_until, now))
    for a in answers[:5]:
        check = corpus.check(a.check)
        if check is None:
            continue
        mark = ":white_check_mark:" if a.correct else ":large_blue_circle:"
        blocks.append(SectionBlock(text=_md(f"{mark} *{a.sent_day}* · {escape(_clip(check.question, 200))}")))
    return blocks

