"""Block Kit for reflection: the Reflect modal, the App Home tab, the weekly summary and participation.

Built with slack_sdk's models so Slack's limits are checked. Anything a person wrote is escaped
before it is shown back.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.content.corpus import Corpus, Point
from bot.reflections.store import (
    DEFAULT_MINUTES,
    PRIVATE,
    SHARED,
    Reflection,
    ThreadStats,
    WeekStats,
    iso_date,
)
from bot.slack.blocks import _clip, _md, escape

CALLBACK_REFLECTION = "scr_reflection"
ACTION_EXPORT = "scr_export"
ACTION_FORGET = "scr_forget"
ACTION_HOME_REFLECT = "scr_reflect"
MINUTES = (5, 10, 15, 20, 30, 45, 60, 90)
HOME_BLOCK_LIMIT = 100
FIELD_LIMIT = 2000


CHECKING = ":hourglass_flowing_sand: Checking whether you can also share this in the channel's thread…"


def reflection_modal(corpus: Corpus, point: Point, *, channel: str | None, thread_ts: str | None,
                     retention_days: int, checking: bool = False) -> dict[str, Any]:  # fmt: skip
    """Three questions, time spent, and whether to share in the thread or keep it private.
    ``checking``: the form opened at once (a trigger_id lasts 3 s) while where it may be shared is still
    being checked; it is replaced (``views.update``) when that is known."""
    in_thread = bool(channel and thread_ts)
    visibility = [Option(value=PRIVATE, label="Keep private (only in my record)")]
    if in_thread:
        visibility.insert(0, Option(value=SHARED, label="Share in the thread with my team"))
    blocks: list[Block] = [
        SectionBlock(text=_md(f"*{escape(point.title)}*\n{escape(point.summary)}")),
        ContextBlock(elements=[_md(f":books: {escape(corpus.citation(point))}")]),
        InputBlock(block_id="stood_out", label="What stood out for you?",
                   element=PlainTextInputElement(action_id="value", multiline=True, max_length=FIELD_LIMIT)),
        InputBlock(block_id="practice", label="What does it mean for your practice, or your team's?", optional=True,
                   element=PlainTextInputElement(action_id="value", multiline=True, max_length=FIELD_LIMIT)),
        InputBlock(block_id="action", label="One thing you will do or check differently", optional=True,
                   element=PlainTextInputElement(action_id="value", multiline=False, max_length=500)),
        InputBlock(block_id="minutes", label="Time spent (for your CPD record)",
                   element=StaticSelectElement(action_id="value",
                                               options=[Option(value=str(m), label=f"{m} minutes") for m in MINUTES],
                                               initial_option=Option(value=str(DEFAULT_MINUTES),
                                                                     label=f"{DEFAULT_MINUTES} minutes"))),
        InputBlock(block_id="visibility", label="Who sees it?",
                   element=RadioButtonsElement(action_id="value", options=visibility, initial_option=visibility[-1])),
        *([ContextBlock(elements=[_md(CHECKING)])] if checking else []),
        ContextBlock(elements=[_md(
            "Please leave out names and details of the children and families you work with. Names, dates, phone "
            "numbers, addresses and similar details are masked before saving, but masking can miss things. "
            f"Reflections are kept for {retention_days} days; export or delete yours from my Home tab."
        )]),
    ]  # fmt: skip
    meta = json.dumps({"point": point.id, "channel": channel, "thread_ts": thread_ts if in_thread else None})
    return View(type="modal", callback_id=CALLBACK_REFLECTION, title="Reflect", submit="Save", close="Cancel",
                private_metadata=meta, blocks=blocks).to_dict()  # fmt: skip


def saved_view(note: str) -> dict[str, Any]:
    return View(type="modal", title="Reflect", close="Done", blocks=[SectionBlock(text=_md(note))]).to_dict()


def shared_reflection_message(user: str, refl: Reflection) -> dict[str, Any]:
    parts = [f"*What stood out:* {escape(refl.stood_out)}"]
    if refl.practice:
        parts.append(f"*For our practice:* {escape(refl.practice)}")
    if refl.action:
        parts.append(f"*I'll do differently:* {escape(refl.action)}")
    blocks = [
        ContextBlock(elements=[_md(f":thought_balloon: Reflection shared by <@{user}>")]),
        SectionBlock(text=_md(_clip("\n".join(parts), 3000))),
    ]
    return {"text": f"Reflection shared by <@{user}>", "blocks": [b.to_dict() for b in blocks]}


def summary_message(point: Point, stats: ThreadStats, quiz: str = "") -> dict[str, Any]:
    """The week's summary in the thread: counts and the questions discussed, never anyone's words;
    ``quiz`` is the knowledge checks' aggregate line (already suppressed for small groups), if any."""
    if stats.reflections == 0:
        text = (
            "This week's thread had no reflections, and that's fine: busy weeks happen. The questions above stay "
            "here if the team wants to come back to them, for example in supervision or a team meeting."
        )
    else:
        people = f"{stats.people} {'person' if stats.people == 1 else 'people'}"
        text = f"This week the team shared *{stats.reflections} reflection{'s' if stats.reflections != 1 else ''}* from *{people}*."
        if stats.questions:
            top = "\n".join(f"• {escape(q)} ({n})" for q, n in stats.questions[:2])
            text += f"\n*The questions that drew most discussion:*\n{top}"
        text += "\nThank you for making time to reflect together: it is how learning from reviews reaches practice."
    blocks = [
        HeaderBlock(text=PlainTextObject(text="This week's reflection")),
        SectionBlock(text=_md(text)),
        *([SectionBlock(text=_md(quiz))] if quiz else []),
        ContextBlock(elements=[_md(f"On: {escape(point.title)} · Private reflections are never included or counted.")]),
    ]
    return {"text": "This week's reflection summary", "blocks": [b.to_dict() for b in blocks]}


def participation_message(corpus: Corpus, weeks: list[WeekStats]) -> dict[str, Any]:
    if not weeks:
        return {"response_type": "ephemeral",
                "text": "No learning points have been posted in this channel in the last 8 weeks. "
                        "`/scr subscribe` starts a weekly post."}  # fmt: skip
    total = sum(w.reflections for w in weeks)
    lines = [f"*Last 8 weeks in this channel:* {len(weeks)} post{'s' if len(weeks) != 1 else ''}, "
             f"{total} reflection{'s' if total != 1 else ''} shared"]  # fmt: skip
    for w in weeks:
        point = corpus.point(w.point)
        title = escape(point.title) if point else w.point
        lines.append(f"• {w.week}: {title}: {w.reflections} reflection{'s' if w.reflections != 1 else ''}, "
                     f"{w.people} {'person' if w.people == 1 else 'people'}")  # fmt: skip
    busiest = [w for w in sorted(weeks, key=lambda w: -w.reflections) if w.reflections][:3]
    if busiest:
        lines.append("*Most discussed:* " + "; ".join(
            escape(corpus.point(w.point).title) if corpus.point(w.point) else w.point for w in busiest))
    blocks = [SectionBlock(text=_md(_clip("\n".join(lines), 3000))),
              ContextBlock(elements=[_md("Counts include only reflections shared in the thread.")])]
    return {"response_type": "ephemeral", "text": lines[0], "blocks": [b.to_dict() for b in blocks]}


def home_view(corpus: Corpus, *, this_week: list[tuple[str, dict[str, Any]]], mine: list[Reflection],
              team: list[tuple[str, list[WeekStats]]], retention_days: int) -> dict[str, Any]:  # fmt: skip
    """The App Home tab: this week's points in my channels, my reflections, my team's participation."""
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text="Learning from Serious Case Reviews"))]
    blocks.append(SectionBlock(text=_md("*This week in your channels*")))
    if not this_week:
        blocks.append(ContextBlock(elements=[_md("No weekly learning point in your channels yet. A team lead can start "
                                                 "one with `/scr subscribe` in a channel.")]))  # fmt: skip
    for channel, record in this_week[:5]:
        point = corpus.point(record.get("point", ""))
        if point is None:
            continue
        value = json.dumps({"point": point.id, "channel": channel, "thread_ts": record.get("ts")})
        blocks.append(SectionBlock(
            text=_md(f"<#{channel}> · {escape(record.get('week', ''))}\n*{escape(point.title)}*"),
            accessory=ButtonElement(text="Reflect", action_id=ACTION_HOME_REFLECT, value=value),
        ))  # fmt: skip
    blocks += [DividerBlock(), SectionBlock(text=_md(f"*Your reflections* ({len(mine)})"))]
    if not mine:
        blocks.append(ContextBlock(elements=[_md("Nothing yet. Reply in a weekly post's thread, or press Reflect.")]))
    for refl in mine[:10]:
        point = corpus.point(refl.point)
        title = escape(point.title) if point else refl.point
        where = "shared in the thread" if refl.shared else "private"
        snippet = escape(_clip(" ".join(refl.body.split()), 180))
        blocks.append(SectionBlock(text=_md(f"*{iso_date(refl.created_at)}* · {title} · _{where}_\n{snippet}")))
    if len(mine) > 10:
        blocks.append(ContextBlock(elements=[_md(f"…and {len(mine) - 10} more in your exported record.")]))
    blocks += [
        ActionsBlock(elements=[
            ButtonElement(text="Export my record", action_id=ACTION_EXPORT, value="md", style="primary"),
            ButtonElement(text="Delete my record", action_id=ACTION_FORGET, value="all", style="danger",
                          confirm=ConfirmObject(title="Delete your record?", confirm="Delete everything", deny="Keep it",
                                                text=f"This deletes all {len(mine)} of your reflections in this workspace. "
                                                     "It can't be undone.")),
        ]),
        ContextBlock(elements=[_md(f"Export sends your reflections to you as Markdown and CSV for your CPD / revalidation "
                                   f"log. Reflections are deleted automatically after {retention_days} days.")]),
    ]  # fmt: skip
    if team:
        blocks += [DividerBlock(), SectionBlock(text=_md("*Your team's reflection (last 8 weeks)*"))]
        for channel, weeks in team[:5]:
            posts = len(weeks)
            refl = sum(w.reflections for w in weeks)
            blocks.append(SectionBlock(text=_md(f"<#{channel}>: {posts} post{'s' if posts != 1 else ''}, "
                                                f"{refl} reflection{'s' if refl != 1 else ''} shared")))  # fmt: skip
    return View(type="home", blocks=blocks[:HOME_BLOCK_LIMIT]).to_dict()
