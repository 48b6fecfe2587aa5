"""``bot.once``: marking done and dropping the attempt is one step, so no failure between them can lead
to a second post (issue 9, item 2). Real redis-server; the failure is real too: the first process's
Redis user loses the right to run scripts while its post is on its way to Slack, so the step that marks it done
fails after Slack has acted, as in a Redis blip at the worst moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.content.corpus import Corpus
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.storage import keys
from bot.weekly.poster import WeeklyPoster
from bot.weekly.schedules import Schedule
from conftest import RedisServer, wait_for
from fakeslack import FakeSlack

MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/London"))
SCHEDULE = Schedule(id="ward-7", team="T0AAA", channel="C0WARD7", sectors=("health",))


@pytest.fixture
def no_scripts(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """A client that may run scripts (claiming, the check right before sending) until a post reaches Slack, and
    not after: the step that marks done never executes."""
    redis_client.execute_command("ACL", "SETUSER", "noscripts", "on", "nopass", "~*", "&*", "+@all")
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, username="noscripts", password="x",
                         decode_responses=True)  # fmt: skip
    yield client
    client.close()
    redis_client.execute_command("ACL", "DELUSER", "noscripts")


def test_a_failure_while_marking_done_never_leads_to_a_second_post(no_scripts: redis.Redis, redis_client: redis.Redis,
                                                                   slack: FakeSlack, corpus: Corpus) -> None:
    slack.clock = MONDAY.timestamp
    slack.delay["chat.postMessage"] = 0.5

    def revoke_scripts_once_slack_has_the_post() -> None:
        wait_for(lambda: any(m == "chat.postMessage" for m, _ in slack.started))
        redis_client.execute_command("ACL", "SETUSER", "noscripts", "-@scripting")

    revoker = threading.Thread(target=revoke_scripts_once_slack_has_the_post)
    revoker.start()
    first = WeeklyPoster(no_scripts, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, lease_seconds=1)
    (result,) = first.deliver_all([SCHEDULE], MONDAY)
    revoker.join()
    assert result.outcome == "retry"  # posted, but could not record it as done
    assert len(slack.channel_messages("C0WARD7")) == 1
    time.sleep(1.2)  # the claim's lease lapses
    second = WeeklyPoster(redis_client, SlackDeliveries(make_client("xoxb-test", slack.url), corpus), corpus, lease_seconds=1)
    again = second.deliver(SCHEDULE, MONDAY)
    assert len(slack.channel_messages("C0WARD7")) == 1  # the attempt survived, so Slack was asked first
    assert again.outcome == "recovered"
    claim = second.claim_key(SCHEDULE, "2026-W48")
    assert not redis_client.exists(keys.attempt(claim)) and second.once.state(claim)["state"] == "done"
