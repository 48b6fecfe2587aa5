"""The evidence a learning lead sees about sessions names nobody: the "<3" rule holds for every count that
could point at a person, each status count judged by the owners behind it (not by all the session's owners).
Real Redis; the digest's own functions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import redis

from bot.briefings.sessions import DONE, OVERDUE, Action, Session, SessionStore
from bot.learning.digest import session_line, session_rows
from bot.storage.keys import Workspace

WS = Workspace("T0EVI")
LONDON = ZoneInfo("Europe/London")


def test_a_status_count_of_one_owner_is_shown_as_under_three_even_among_four_owners(redis_client: redis.Redis,
                                                                                   corpus) -> None:  # noqa: ANN001  # fmt: skip
    store = SessionStore(redis_client, 365)
    at = datetime(2027, 1, 4, 10, tzinfo=LONDON).timestamp()
    store.ensure(WS, Session("C0EVI", f"{int(at)}.000100", "neglect", "7-minute briefing: Neglect", "U0LEAD", at))
    store.attend(WS, f"C0EVI:{int(at)}.000100", ["U0A", "U0B", "U0C", "U0D"])
    for i, (owner, status) in enumerate((("U0A", DONE), ("U0B", DONE), ("U0C", DONE), ("U0D", OVERDUE))):
        a = Action(f"V0E{i}", "C0EVI", f"{int(at)}.000100", "neglect", "x", owner, "2027-01-11", "U0LEAD", at)
        store.add_action(WS, a)
        a.status = status
        store.save(WS, a)
    rows = session_rows(redis_client, WS, "C0EVI", ["2027-01"], 365, "Europe/London")
    line = session_line(corpus, rows[0])
    assert "attended by 4" in line and "actions agreed 4" in line
    assert "done 3" in line  # three people behind it: shown
    assert "overdue <3" in line and "overdue 1" not in line  # one person behind it: never the count
    assert "partly 0" in line and "not yet 0" in line  # nobody: 0 points at no one


def test_the_reports_session_list_never_breaks_the_weekly_table(corpus) -> None:  # noqa: ANN001
    """Markdown ends a table at the first line that is not a row: the session list goes after the rows."""
    from bot.learning.digest import Digest, MonthRow, PostRow, SessionRow, report_markdown

    d = Digest("T0", "C0", [MonthRow("2026-11", 2, 6, 3, 6, 3)], [], [],
               [PostRow("2026-W47", "2026-11-16", "p1", "A point", [], 4, 3),
                PostRow("2026-W48", "2026-11-23", "p2", "Another", [], 4, 3)],
               [SessionRow("2026-11", "neglect", 1, 4, 3, 3, 3, 0, 0, 0, (3, 0, 0, 0))])  # fmt: skip
    lines = report_markdown(corpus, [d], "2026-11").splitlines()
    header = lines.index("| Week | Posted | Learning point | Themes | Reflections shared | People |")
    assert lines[header + 1].startswith("|---")
    assert lines[header + 2].startswith("| 2026-W47 ") and lines[header + 3].startswith("| 2026-W48 ")
    assert any(line.startswith("**7-minute briefings run:**") for line in lines[header + 4:])
