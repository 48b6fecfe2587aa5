"""The digest's participation chart, as a PNG.

matplotlib is the well-kept plotting library for this; it is imported here, lazily, only when a
chart is drawn (a monthly job), so lookups and start-up never pay for loading it. The Agg backend
renders to memory with no display, which is what a server process has.
"""

from __future__ import annotations

import io

from bot.learning.digest import Digest
from bot.learning.quiz import MIN_GROUP

SERIES = (("posts", "Weekly posts"), ("reflections", "Reflections shared"), ("people", "People reflecting"),
          ("checks", "Knowledge checks answered"))  # fmt: skip


def participation_png(digest: Digest, title: str) -> bytes:
    """Grouped bars per month. Counts of people, reflections or answers below 3 are drawn as 0 and marked,
    so the picture never shows a figure the text suppresses."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # a Figure, not pyplot: no global state across threads

    months = [m.month for m in digest.months]
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    width = 0.2
    suppressed = False
    for i, (name, label) in enumerate(SERIES):
        values = []
        for m in digest.months:
            v = getattr(m, name)
            if name != "posts" and 0 < v < MIN_GROUP:
                v, suppressed = 0, True
            values.append(v)
        xs = [x + (i - 1.5) * width for x in range(len(months))]
        ax.bar(xs, values, width, label=label)
    ax.set_xticks(range(len(months)), months)
    ax.set_ylabel("Count")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if suppressed:
        fig.text(0.01, 0.01, f"Counts below {MIN_GROUP} are not shown, so no one can be identified.", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
