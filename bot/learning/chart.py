"""The digest's participation chart, as a PNG.

matplotlib is the well-kept plotting library for this; it is imported here, lazily, only when a
chart is drawn (a monthly job), so lookups and start-up never pay for loading it. The Agg backend
renders to memory with no display, which is what a server process has.
"""

from __future__ import annotations

import io

from bot.learning.digest import Digest, MonthRow
from bot.learning.quiz import MIN_GROUP

SERIES = (("posts", "Weekly posts"), ("reflections", "Reflections shared"), ("people", "People reflecting"),
          ("checks", "Knowledge checks answered"))  # fmt: skip
HIDDEN = "<3"


def people_behind(row: MonthRow, name: str) -> int | None:
    """How many people a figure stands for (None: weekly posts, which are the bot's, not anyone's)."""
    return {"reflections": row.people, "people": row.people, "checks": row.check_people}.get(name)


def plotted(digest: Digest) -> list[tuple[str, list[int], list[bool]]]:
    """Per series: its label, the bar heights drawn, and which months' bars are hidden. A figure is hidden by the
    number of people behind it, exactly as the text does (``bot.learning.digest``): 5 answers from 2 people are
    "fewer than 3" in the text, so no bar is drawn for them either."""
    series = []
    for name, label in SERIES:
        values, hidden = [], []
        for m in digest.months:
            v, behind = getattr(m, name), people_behind(m, name)
            hide = behind is not None and v > 0 and behind < MIN_GROUP
            values.append(0 if hide else v)
            hidden.append(hide)
        series.append((label, values, hidden))
    return series


def participation_png(digest: Digest, title: str) -> bytes:
    """Grouped bars per month. A figure behind fewer than 3 people gets no bar, only a "<3" label, so the
    picture never shows a figure the text suppresses."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # a Figure, not pyplot: no global state across threads

    months = [m.month for m in digest.months]
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    width = 0.2
    suppressed = False
    for i, (label, values, hidden) in enumerate(plotted(digest)):
        xs = [x + (i - 1.5) * width for x in range(len(months))]
        ax.bar(xs, values, width, label=label)
        for x, hide in zip(xs, hidden, strict=True):
            if hide:
                suppressed = True
                ax.annotate(HIDDEN, (x, 0), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(months)), months)
    ax.set_ylabel("Count")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if suppressed:
        fig.text(0.01, 0.01, f"Figures from fewer than {MIN_GROUP} people are shown as {HIDDEN}, so no one can be "
                             "identified.", fontsize=8)  # fmt: skip
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
