"""A bare Bolt app whose listeners only ack: the baseline for bench_lookup.py and bench_ingest.py.

Served exactly like the bot (Flask adapter under gunicorn, one gthread worker), so the comparison
isolates what the bot's own work adds. BARE_PROCESS_BEFORE_RESPONSE picks Bolt's ack mode.
"""

from __future__ import annotations

import os

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient

from bot.slack.web import GunicornServer


def main() -> None:
    app = App(
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=os.environ.get("BARE_PROCESS_BEFORE_RESPONSE") == "1",
    )

    @app.command("/scr")
    def scr(ack):  # noqa: ANN001, ANN202
        ack(text="ok")

    @app.event("message")
    def message(ack):  # noqa: ANN001, ANN202
        ack()

    web = Flask("bare")
    handler = SlackRequestHandler(app)
    web.add_url_rule("/slack/events", "events", lambda: handler.handle(request), methods=["POST"])
    web.add_url_rule("/healthz", "healthz", lambda: "ok")
    GunicornServer(web, {"bind": f"127.0.0.1:{os.environ['PORT']}", "workers": 1, "worker_class": "gthread",
                         "threads": 8, "errorlog": "-", "loglevel": "warning"}).run()


if __name__ == "__main__":
    main()
