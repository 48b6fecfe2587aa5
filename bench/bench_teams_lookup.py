"""Teams lookup latency against the Slack /scr path, measured in the same run against the same bot process.

    python bench/bench_teams_lookup.py [--requests 300]

One ``scr-bot run`` (gunicorn, embedded Redis) serving Slack over HTTP and Microsoft Teams from one port, with the
local fake Slack (tests/fakeslack.py) and fake Teams (tests/fake_teams.py). The same queries (the lookup query
table) alternate between the two paths, one keep-alive connection each, so background load on a shared machine
hits both alike:

- Slack: a signed ``/scr <query>`` to /slack/events; the answer is the HTTP response (the time until it is read).
- Teams: a personal-chat message activity to /api/messages with a bearer token signed by the fake's key (the bot
  validates it against the fake's JWKS); the answer is the bot's reply at the fake Bot Connector (the time from
  sending until the fake has received it: the 200, the worker's lookup and card, and the Connector call).

Signing happens before the clock starts on both paths (RS256 for Teams, HMAC for Slack). Target: Teams p99 within
2x Slack's p99.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the fakes and the query table (not shipped in the package)

from bench_lookup import SECRET, free_port, pct, signed_command, start  # noqa: E402
from test_lookup_queries import TABLE  # noqa: E402

from fake_teams import FakeTeams  # noqa: E402
from fakeslack import FakeSlack  # noqa: E402

APP_ID = "00000000-0000-0000-0000-0000000be4c0"
TENANT = "72f988bf-0000-0000-0000-0000000be4c0"
WARM_UP = 20
POLL_S = 0.0002  # how often the Teams side looks for the reply at the fake Connector


def slack_once(conn: http.client.HTTPConnection, text: str) -> float:
    body, headers = signed_command(text)
    t = time.perf_counter()
    conn.request("POST", "/slack/events", body, headers)
    resp = conn.getresponse()
    answer = resp.read()
    elapsed = time.perf_counter() - t
    assert resp.status == 200 and answer, (resp.status, answer[:200])
    return elapsed


def teams_once(conn: http.client.HTTPConnection, teams: FakeTeams, text: str, n: int) -> float:
    activity = teams.personal_message(text, conversation="a:personal-bench", user="29:bench-user")
    activity["id"] = f"bench-{n}-{activity['id']}"
    body = json.dumps(activity)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {teams.token_for(activity)}"}
    t = time.perf_counter()
    conn.request("POST", "/api/messages", body, headers)
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200, resp.status
    deadline = t + 10
    while not teams.replies_to(activity["id"]):
        if time.perf_counter() > deadline:
            raise SystemExit(f"no Teams answer to {text!r} within 10 s")
        time.sleep(POLL_S)
    return time.perf_counter() - t


def bench(n: int) -> None:
    slack = FakeSlack().serve()
    teams = FakeTeams(APP_ID, "bench-teams-password", TENANT).serve()
    tmp = tempfile.mkdtemp(prefix="scr-bench-teams-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SCR_", "REDIS_", "TEAMS_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url, SCR_DATA_DIR=tmp,
               WEB_CONCURRENCY="1", SCR_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), **teams.env())  # fmt: skip
    texts = [row[0] for row in TABLE]
    port = free_port()
    proc = start([sys.executable, "-m", "bot", "run", "--no-scheduler"], env, port)
    lat: dict[str, list[float]] = {"slack": [], "teams": []}
    try:
        s_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        t_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(n + WARM_UP):
            text = texts[i % len(texts)]
            first, second = ("slack", "teams") if i % 2 == 0 else ("teams", "slack")  # alternate who goes first
            for side in (first, second):
                took = slack_once(s_conn, text) if side == "slack" else teams_once(t_conn, teams, text, i)
                if i >= WARM_UP:
                    lat[side].append(took)
        s_conn.close()
        t_conn.close()
    finally:
        proc.terminate()
        proc.wait(15)
        slack.close()
        teams.close()
    print(f"lookup latency, the same {len(texts)} queries on both paths, {n} requests each (after {WARM_UP} warm-up), "
          "one scr-bot run process serving both:")  # fmt: skip
    rows = {"Slack: signed /scr -> HTTP response": lat["slack"],
            "Teams: signed personal-chat activity -> reply at the Connector": lat["teams"]}  # fmt: skip
    for name, values in rows.items():
        print(f"  {name:<64} p50 {statistics.median(values) * 1e3:6.2f} ms   p99 {pct(values, 0.99) * 1e3:6.2f} ms")
    p50 = statistics.median(lat["teams"]) / statistics.median(lat["slack"])
    p99 = pct(lat["teams"], 0.99) / pct(lat["slack"], 0.99)
    print(f"  ratio Teams / Slack: p50 {p50:.2f}x   p99 {p99:.2f}x (target p99 <= 2x): {'met' if p99 <= 2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    bench(args.requests)


if __name__ == "__main__":
    main()
