"""Block Kit messages for lookups, built with slack_sdk's models so Slack's limits are checked.

Every string a user typed is passed through ``escape`` before it is shown, so "<!channel>"
in a query can never ping a channel. Content text is escaped too: it is plain prose, and an
"&" or "<" in it must display as written.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from functools import lru_cache
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.briefings.builder import MINUTES, NoMatch, Part, SevenMinuteBriefing
from bot.content.corpus import LOCAL_LABEL, Corpus, Point
from bot.content.currency import period_label, since_line
from bot.search.lookup import PAGE_SIZE, WHERE_TO_LOOK, Answer
from bot.search.safety import SafetyNote

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000

ACTION_SHARE = "scr_share"
ACTION_ANOTHER = "scr_another"
ACTION_SHOW = "scr_show"
ACTION_MORE = "scr_more"
ACTION_REFLECT = "scr_reflect"
ACTION_READ_MORE = "scr_read_more"


def escape(text: str) -> str:
    """Escape Slack's control characters (&, <, >) so user text cannot form mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(text, SECTION_LIMIT), verbatim=True)


def _nav_value(query: str, offset: int) -> str:
    return json.dumps({"q": query[:500], "o": offset}, ensure_ascii=False)[:BUTTON_VALUE_LIMIT]


@lru_cache(maxsize=64)
def _button_template(text: str, action_id: str, style: str | None) -> dict[str, Any]:
    return ButtonElement(text=text, action_id=action_id, value="-", style=style).to_dict()


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    """A button validated by slack_sdk once per kind, with this message's value filled in."""
    if len(value) > BUTTON_VALUE_LIMIT:
        raise ValueError("button value over Slack's 2000-character limit")
    return {**_button_template(text, action_id, style), "value": value}


def actions(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(buttons)}


@lru_cache(maxsize=4096)
def _entry_template(
    point_id: str, title: str, group: str | None, local: bool = False, why: str | None = None
) -> dict[str, Any]:
    prefix = f"_{escape(group)}_ · " if group else ""
    suffix = f" · _{LOCAL_LABEL}_" if local else ""
    why_line = f"\n_{escape(why)}_" if why else ""
    return SectionBlock(
        text=_md(f"{prefix}{escape(title)}{suffix}{why_line}"),
        accessory=ButtonElement(text="Show", action_id=ACTION_SHOW, value="-"),
    ).to_dict()


def period_text(corpus: Corpus, point: Point) -> str:
    """What the point's briefing covers, as a reader takes it in under the citation ("Briefing covers incidents
    from 1 April 2011 to 31 March 2014"): the practice it describes is of that time, not necessarily today's."""
    briefing = corpus.briefings[point.source.briefing]
    label = period_label(briefing)
    # "Incidents from..." reads on as "incidents from..."; an acronym ("SCRs published...") stays as written.
    if label[:1].isupper() and not label[1:2].isupper():
        label = label[0].lower() + label[1:]
    return f"Briefing covers {label}"


def currency_context(corpus: Corpus, point: Point) -> ContextBlock:
    """One context block under a point's citation: its briefing's period and, when a verified change in
    content/changes.yaml touches the point, one "Since this briefing: ..." line, so nobody takes a 2011-14
    arrangement for today's. Derived from content alone, so cached answers stay right (keyed by its version)."""
    lines = [f":date: {escape(period_text(corpus, point))}"]
    since = since_line(corpus, point)
    if since:
        lines.append(f":clock3: {escape(since)}")
    return ContextBlock(elements=[_md("\n".join(lines))])


def point_blocks(
    corpus: Corpus,
    point: Point,
    *,
    questions: int = 1,
    reflect_button: bool = False,
    share_button: bool = True,
    another: tuple[str, int] | None = None,
    header: str | None = None,
) -> list[Block | dict[str, Any]]:
    """A learning point in full: content note first, then title, summary, key messages, quote,
    reflective question(s), the citation with its briefing's period (and what has changed since), and
    the buttons asked for."""
    out: list[Block | dict[str, Any]] = list(_point_body(corpus, point.id, questions, header))
    buttons = []
    if share_button:
        buttons.append(button("Share in channel", ACTION_SHARE, point.id))
    if another is not None:
        buttons.append(button("Another", ACTION_ANOTHER, _nav_value(*another)))
    if reflect_button:
        buttons.append(button("Reflect", ACTION_REFLECT, point.id, style="primary"))
    if buttons:
        out.append(actions(*buttons))
    return out


@lru_cache(maxsize=2048)
def _point_body(corpus: Corpus, point_id: str, questions: int, header: str | None) -> tuple[dict[str, Any], ...]:
    """The unchanging part of a point's message, validated by slack_sdk once and then reused:
    validation is most of the cost of an answer, and content does not change while the bot runs."""
    point = corpus.by_id[point_id]
    blocks: list[Block] = []
    if header:
        blocks.append(HeaderBlock(text=PlainTextObject(text=_clip(header, HEADER_LIMIT), emoji=True)))
    if point.content_note:
        blocks.append(
            ContextBlock(elements=[_md(f":information_source: *Content note:* {escape(point.content_note)}")])
        )
    local = corpus.is_local(point)
    if local:
        publisher = escape(corpus.briefings[point.source.briefing].publisher)
        blocks.append(ContextBlock(elements=[_md(f":round_pushpin: *{LOCAL_LABEL}* · from {publisher}, not the national analysis")]))
    title_block = (
        SectionBlock(text=_md(f"*{escape(point.title)}*"))
        if header
        else HeaderBlock(text=PlainTextObject(text=_clip(point.title, HEADER_LIMIT), emoji=False))
    )
    blocks.append(title_block)
    blocks.append(SectionBlock(text=_md(escape(point.summary))))
    bullets = "\n".join(f"• {escape(m)}" for m in point.key_messages)
    blocks.append(SectionBlock(text=_md(f"*Key messages*\n{bullets}")))
    if point.quote:
        source = "From the local source" if local else "From the briefing"
        blocks.append(SectionBlock(text=_md(f"*{source}:*\n>“{escape(point.quote)}”")))
    qs = point.questions[:questions]
    label = "Reflect" if len(qs) == 1 else "Questions for your team"
    q_text = "\n".join(f"• {escape(q)}" for q in qs) if len(qs) > 1 else f"_{escape(qs[0])}_"
    blocks.append(SectionBlock(text=_md(f":thought_balloon: *{label}*\n{q_text}")))
    themes = ", ".join(corpus.themes[t].label for t in point.themes if t in corpus.themes)
    blocks.append(
        ContextBlock(
            elements=[_md(f":books: {escape(corpus.citation(point))}"), _md(f"Themes: {escape(themes)} · `{point.id}`")]
        )
    )
    blocks.append(currency_context(corpus, point))
    return tuple(b.to_dict() for b in blocks)


def help_blocks(corpus: Corpus) -> list[Block]:
    themes = sorted(corpus.themes.values(), key=lambda t: t.label)
    counts = {t.id: len(corpus.points_for(theme=t.id)) for t in themes}
    theme_lines = ", ".join(f"{t.label} (`{t.id}`)" for t in themes)
    sectors = ", ".join(f"{s.label} (`{s.id}`)" for s in corpus.sectors.values())
    examples = "\n".join(
        [
            "• `/scr neglect`: the best points on a theme",
            "• `/scr police`: points for a sector, grouped by theme",
            "• `/scr health dv`: a sector and a theme together",
            "• `/scr search was not brought`: free-text search",
            "• `/scr week`: this channel's learning point of the week",
            "• `/scr random`, `/scr themes`, `/scr sectors`",
            "• `/scr subscribe`, `/scr schedule`, `/scr unsubscribe`: the weekly post in this channel",
            "• `/scr reflections`: this channel's reflection over the last 8 weeks",
            "• `/scr export`, `/scr forget me`: your own reflective-practice record",
            "• `/scr quiz on` / `off`: a short knowledge check by DM mid-week, spaced so what you miss comes back sooner",
            "• `/scr digest`: this channel's figures from the learning lead's monthly digest; the workspace's readers "
            "get every channel's (`/scr digest list`, `/scr digest add @someone`)",
            "• `/scr briefing neglect`: a 7-minute team briefing to preview and run here; `/scr actions`: the "
            "actions agreed at this channel's briefings (their facilitator and admins only)",
            "• `/scr admins`, `/scr audit`: who may change a channel's weekly post and the digest readers "
            "(whoever set it up, workspace admins, the bot's admins), and a record of every change",
        ]
    )
    return [
        HeaderBlock(text=PlainTextObject(text="Learning from Serious Case Reviews")),
        SectionBlock(
            text=_md(
                f"I bring short, cited learning points from the national analyses of Serious Case Reviews "
                f"({len(corpus.points)} points from {len(corpus.briefings)} briefings) into your team's week, "
                "and help you look learning up when you need it. Answers are visible only to you unless you share them."
            )
        ),
        SectionBlock(text=_md(f"*Try*\n{examples}")),
        SectionBlock(text=_md(_clip(f"*Themes*\n{theme_lines}", SECTION_LIMIT))),
        SectionBlock(text=_md(f"*Sectors*\n{sectors}")),
        ContextBlock(
            elements=[
                _md(
                    f"{sum(1 for c in counts.values() if c)} themes · Sources: Research in Practice / "
                    "University of East Anglia briefings. If this material brings up difficult feelings, "
                    "talk to your supervisor or your employer's support service."
                )
            ]
        ),
    ]


def list_blocks(corpus: Corpus, kind: str) -> list[Block]:
    if kind == "themes":
        rows = [
            (t.label, t.id, len(corpus.points_for(theme=t.id)), t.description)
            for t in sorted(corpus.themes.values(), key=lambda t: t.label)
        ]
        title = "Themes"
    else:
        rows = [(s.label, s.id, len(corpus.points_for(sector=s.id)), ", ".join(s.words[:6])) for s in corpus.sectors.values()]
        title = "Sectors"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title))]
    chunk: list[str] = []
    for label, ident, n, desc in rows:
        line = f"*{escape(label)}* (`/scr {ident}`): {n} point{'s' if n != 1 else ''}\n{escape(desc)}"
        if sum(len(x) + 2 for x in chunk) + len(line) > SECTION_LIMIT - 50:
            blocks.append(SectionBlock(text=_md("\n".join(chunk))))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(SectionBlock(text=_md("\n".join(chunk))))
    return blocks


def _suggestion_lines(answer: Answer) -> str:
    return "\n".join(f"• *{escape(s.label)}*: `/scr {escape(s.query)}`" for s in answer.suggestions)


def not_found_blocks(corpus: Corpus, answer: Answer) -> list[Block]:
    typed = escape(answer.query) if answer.query else "that"
    where = f" for *{escape(answer.heading)}*" if answer.heading else ""
    lines = _suggestion_lines(answer)
    if not answer.query:
        opening = "I couldn't find any words to look up there."
    else:
        opening = f"I couldn't find learning points matching “{typed}”{where}."
    return [
        SectionBlock(text=_md(opening)),
        SectionBlock(text=_md(f"*Closest in these briefings*\n{lines}" if lines else
                              "Nothing in these briefings is close to that. Try a theme such as `/scr neglect`.")),
        ContextBlock(elements=[_md("Try `/scr themes` for every theme, or `/scr search` with a few words, e.g. `/scr search was not brought`.")]),
    ]


def command_blocks(answer: Answer) -> list[Block]:
    """A Slack command asked where only lookups run (``scr-bot ask subscribe``): where it does work."""
    name = escape(answer.heading)
    return [SectionBlock(text=_md(f"`/scr {name}` is a command: it works in Slack, or in the offline shell "
                                  f"(`scr-bot shell`, then `/scr {name}`). `scr-bot ask` looks up learning points only."))]


def where_to_look(answer: Answer) -> list[str]:
    """Where practitioners usually look for a topic these briefings do not cover: the topic's own
    national guidance first, then the general pointers."""
    own = list(answer.topic.look) if answer.topic else []
    return [*own, *WHERE_TO_LOOK]


def not_covered_blocks(corpus: Corpus, answer: Answer) -> list[Block]:
    """An honest answer: these briefings do not discuss the topic, and where practitioners usually look."""
    label = escape(answer.topic.label if answer.topic else answer.heading)
    look = "\n".join(f"• {escape(w[0].upper() + w[1:])}" for w in where_to_look(answer))
    blocks: list[Block] = []
    if answer.notice:
        blocks.append(ContextBlock(elements=[_md(escape(answer.notice))]))
    blocks += [
        SectionBlock(text=_md(f"*{label}* is not covered by these {len(corpus.briefings)} Serious Case Review "
                              "briefings, so I have no learning points on it.")),
        SectionBlock(text=_md(f"*Where practitioners usually look*\n{look}")),
    ]
    lines = _suggestion_lines(answer)
    if lines:
        blocks.append(SectionBlock(text=_md(f"*Related learning these briefings do have*\n{lines}")))
    blocks.append(ContextBlock(elements=[_md("If a child may be at risk now, follow your local safeguarding "
                                             "procedures and talk to your safeguarding lead.")]))
    return blocks


def safety_blocks(note: SafetyNote, contact: str | None) -> list[Block]:
    """How to act now on a concern about a child, before any learning: the steps in content/safety.yaml,
    the workspace's contact line (or where to find one), and the official advice they are worded from."""
    advice = note.advice
    steps = "\n".join(f"• {escape(step)}" for step in advice.steps)
    who = f"*Who to contact here:* {escape(contact)}" if contact else escape(advice.no_contact)
    cited = [f"<{r.url}|{escape(r.label)}>" for r in (advice.source, *advice.also)]
    return [
        HeaderBlock(text=PlainTextObject(text=_clip(advice.title, HEADER_LIMIT))),
        SectionBlock(text=_md(escape(advice.intro))),
        SectionBlock(text=_md(steps)),
        SectionBlock(text=_md(f":round_pushpin: {who}")),
        ContextBlock(elements=[_md(f"Worded from {cited[0]}" + (f"; see also {'; '.join(cited[1:])}" if cited[1:] else "")
                                   + ".")]),
        DividerBlock(),
    ]


def answer_blocks(corpus: Corpus, answer: Answer, *, reflect_button: bool = False,
                  contact: str | None = None) -> list[Block | dict[str, Any]]:
    """The ephemeral reply to a lookup: the top point in full, then up to four more, then paging. A live
    concern about a child is answered first with how to act now (``contact``: the workspace's own line)."""
    if answer.safety is not None:
        learning = _answer_blocks(corpus, answer, reflect_button=reflect_button)
        return [*safety_blocks(answer.safety, contact), *learning][:MAX_BLOCKS]
    return _answer_blocks(corpus, answer, reflect_button=reflect_button)


def _answer_blocks(corpus: Corpus, answer: Answer, *, reflect_button: bool = False) -> list[Block | dict[str, Any]]:
    if answer.kind == "help":
        return help_blocks(corpus)
    if answer.kind in ("themes", "sectors"):
        return list_blocks(corpus, answer.kind)
    if answer.kind == "week" and answer.top is None:
        return [
            SectionBlock(
                text=_md(
                    "No learning point of the week has been posted in this channel yet. "
                    "A team lead can start one with `/scr subscribe` (for example `/scr subscribe monday 09:30`)."
                )
            )
        ]
    if answer.kind == "not_covered":
        return list(not_covered_blocks(corpus, answer))
    if answer.kind == "command":
        return list(command_blocks(answer))
    top = answer.top
    if top is None:
        return list(not_found_blocks(corpus, answer))
    blocks: list[Block | dict[str, Any]] = []
    if answer.notice:
        blocks.append(ContextBlock(elements=[_md(escape(answer.notice))]))
    total = len(answer.results)
    if answer.kind in ("theme", "sector", "intersection", "search", "safety"):
        where = f"{answer.offset + 1} of {total}"
        blocks.append(ContextBlock(elements=[_md(f"*{escape(answer.heading)}* · result {where}")]))
    another = (answer.query, answer.offset + 1) if answer.offset + 1 < total else None
    if answer.kind == "random":
        another = ("random", 0)
    if top.id in answer.why:
        blocks.append(ContextBlock(elements=[_md(f":mag: {escape(answer.why[top.id])}")]))
    blocks += point_blocks(corpus, top, reflect_button=reflect_button, another=another)
    rest = answer.rest
    if rest:
        blocks.append(DividerBlock())
        blocks.append(SectionBlock(text=_md("*More learning*")))
        for i, p in enumerate(rest, start=answer.offset + 1):
            entry = _entry_template(p.id, p.title, answer.labels.get(p.id), corpus.is_local(p), answer.why.get(p.id))
            blocks.append({**entry, "accessory": {**entry["accessory"], "value": _nav_value(answer.query, i)}})
    nav = []
    if answer.offset > 0:
        nav.append(button("Back", ACTION_MORE, _nav_value(answer.query, max(0, answer.offset - PAGE_SIZE))))
    if answer.has_more:
        nav.append(button("More", ACTION_MORE, _nav_value(answer.query, answer.offset + PAGE_SIZE)))
    if nav:
        blocks.append(actions(*nav))
    return blocks[:MAX_BLOCKS]


def fallback_text(answer: Answer) -> str:
    """The notification / screen-reader text that accompanies the blocks."""
    top = answer.top
    if answer.safety is not None:
        return escape(answer.safety.advice.title)
    if answer.kind == "help":
        return "How to use /scr: learning from Serious Case Reviews"
    if top is not None:
        return escape(top.title)
    if answer.kind == "not_covered" and answer.topic:
        return f"{escape(answer.topic.label)} is not covered by these briefings"
    if answer.kind in ("themes", "sectors"):
        return answer.kind.capitalize()
    if answer.kind == "command":
        return f"/scr {escape(answer.heading)} works in Slack or the shell"
    return f"No learning points matched “{escape(answer.query)}”"


def message(blocks: list[Block | dict[str, Any]], text: str) -> dict[str, Any]:
    """Blocks as dicts (validated by slack_sdk) plus the fallback text Slack requires."""
    return {"text": text, "blocks": [b.to_dict() if isinstance(b, Block) else dict(b) for b in blocks]}


def weekly_post(corpus: Corpus, point: Point, week_start: date, summary_when: str, *, reflect_button: bool = False) -> dict[str, Any]:
    """The learning point of the week: the point in full with questions for the team, the source, an
    invitation to reflect in the thread, and buttons to read more (and to reflect privately)."""
    body = point_blocks(corpus, point, questions=3, share_button=False, header="Learning point of the week")
    intro = ContextBlock(elements=[_md(f":calendar: Week commencing {week_start.day} {week_start:%B %Y}")])
    invitation = SectionBlock(
        text=_md(
            ":speech_balloon: *Talk it through in this thread.* Reply with what stood out for you and what it means "
            f"for your practice. On {summary_when} I'll post a short summary of the discussion: numbers and "
            "questions only, never anyone's words. Please leave out names and details of the families you work with."
        )
    )
    theme = corpus.themes.get(point.themes[0])
    buttons = [button("Read more on this theme", ACTION_READ_MORE, theme.id if theme else point.id)]
    if reflect_button:
        buttons.insert(0, button("Reflect", ACTION_REFLECT, point.id, style="primary"))
    out: list[Block | dict[str, Any]] = [body[0], intro, *body[1:], invitation, actions(*buttons)]
    return message(out, f"Learning point of the week: {escape(point.title)}")


# ----- 7-minute briefings (bot.briefings) -----------------------------------------------------------------
ACTION_BRIEFING_SWAP = "scr_briefing_swap"
ACTION_BRIEFING_RUN = "scr_briefing_run"
PREVIEW_ID = "p"  # in "Run in channel"'s value: the preview it belongs to
BRIEFING_CUE = f":stopwatch: *About {MINUTES} minutes*, face to face: read each part aloud, then talk it through."


def _part_text(part: Part, full: bool) -> str:
    """One part as mrkdwn: its number and heading, a key point's title, and its lines (all of them in the
    preview; the first only in the channel post, so the seven parts fit a phone's screen)."""
    head = f"*{part.number} · {escape(part.heading)}*" + (f": {escape(part.title)}" if part.title else "")
    lines = part.lines if full or part.number in (6, 7) else part.lines[:1]
    if part.number == 1 and not full:
        lines = tuple(line for line in part.lines if line.kind in ("theme", "period"))
    if part.number == 6:
        body = "\n".join(f"• {escape(line.text)}" for line in lines)
        return f"{head}\n{body}" if full else f"{head}\n_The discussion questions are in the thread._"
    body = "\n".join(f">“{escape(line.text)}”" if line.field == "quote" else escape(line.text) for line in lines)
    return f"{head}\n{body}"


def _part_context(part: Part) -> ContextBlock | None:
    lines = []
    if part.citation:
        lines.append(f":books: {escape(part.citation)}")
    if part.since:
        lines.append(f":clock3: {escape(part.since)}")
    return ContextBlock(elements=[_md("\n".join(lines))]) if lines else None


def briefing_preview(briefing: SevenMinuteBriefing) -> dict[str, Any]:
    """The facilitator's private preview: the seven parts in full with their citations, a "Swap" on each
    key part (another point of the same theme), and "Run in channel"."""
    value = briefing.spec.to_value()
    scope = "across briefings" if briefing.across else "from one briefing"
    out: list[Block | dict[str, Any]] = [
        HeaderBlock(text=PlainTextObject(text=_clip(briefing.title, HEADER_LIMIT), emoji=False)),
        ContextBlock(elements=[_md(f"{BRIEFING_CUE}\n:eyes: Preview, only you can see it ({scope}). "
                                   "Swap any key point, then run it in the channel.")]),  # fmt: skip
    ]
    for part in briefing.parts:
        section = SectionBlock(text=_md(_part_text(part, full=True)))
        if part.slot is not None and briefing.swappable[part.slot]:
            swap = json.dumps({"s": part.slot, "b": json.loads(value)}, ensure_ascii=False)
            section.accessory = ButtonElement(text="Swap", action_id=ACTION_BRIEFING_SWAP, value=swap)
        out.append(section)
        if (context := _part_context(part)) is not None:
            out.append(context)
    # "p": this preview's own id, so a double-click on "Run in channel" runs it once (bot.handlers.actions).
    run = json.dumps({**json.loads(value), PREVIEW_ID: secrets.token_hex(8)}, ensure_ascii=False)
    out.append(actions(button("Run in channel", ACTION_BRIEFING_RUN, run, style="primary")))
    return message(out, f"Preview: {escape(briefing.title)}")


def briefing_post(briefing: SevenMinuteBriefing, user: str) -> dict[str, Any]:
    """The briefing as run in a channel: the seven parts collapsed to fit a phone (a key part shows its
    point's title and first line), each cited, with the seven-minute cue. The questions go in the thread."""
    periods = " · ".join(escape(s.period) for s in briefing.sources)
    out: list[Block | dict[str, Any]] = [
        HeaderBlock(text=PlainTextObject(text=_clip(briefing.title, HEADER_LIMIT), emoji=False)),
        ContextBlock(elements=[_md(f"{BRIEFING_CUE}\nRun by <@{user}> · :date: {periods}")]),
    ]
    for part in briefing.parts:
        out.append(SectionBlock(text=_md(_part_text(part, full=False))))
        if (context := _part_context(part)) is not None:
            out.append(context)
    return message(out, escape(briefing.title))


def briefing_questions(briefing: SevenMinuteBriefing) -> dict[str, Any]:
    """Part 6, the discussion questions, as the thread reply under a briefing run in a channel."""
    lines = "\n".join(f"• {escape(line.text)}" for line in briefing.questions)
    text = f":thought_balloon: *Things to note: questions for the team*\n{lines}"
    return message([SectionBlock(text=_md(text))], "Questions for the team")


def briefing_no_match(error: NoMatch) -> dict[str, Any]:
    """Why there is no briefing, in a line, and what to try (each suggestion as a ``/scr briefing`` query)."""
    text = escape(error.message)
    if error.suggestions:
        text += "\nTry: " + ", ".join(f"`/scr briefing {escape(q)}` ({escape(label)})" for label, q in error.suggestions)
    return {"response_type": "ephemeral", "text": text}
