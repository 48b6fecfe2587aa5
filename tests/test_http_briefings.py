"""`/scr briefing` end to end: signed HTTP into the running bot, Slack's side on the local fake. The
facilitator's private preview, Swap (another point of the same theme, in place) and Run in channel (the
seven parts collapsed, the questions in the thread)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from blockkit import assert_no_user_markup, assert_valid_message, dumps
from conftest import BotProcess, wait_for
from fakeslack import FakeSlack


def button(msg: dict, action_id: str) -> dict:
    for block in msg["blocks"]:
        for el in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
            if el.get("action_id") == action_id:
                return el
    raise AssertionError(f"no {action_id} button in {dumps(msg)[:300]}")


def swap_buttons(msg: dict) -> list[dict]:
    return [b["accessory"] for b in msg["blocks"] if (b.get("accessory") or {}).get("action_id") == "scr_briefing_swap"]


def test_preview_is_private_with_seven_parts_swaps_and_run(bot: BotProcess) -> None:
    resp = bot.command("briefing neglect")
    assert resp.status == 200
    msg = resp.json()
    assert msg["response_type"] == "ephemeral"
    assert_valid_message(msg)
    text = dumps(msg)
    for n, heading in enumerate(["Background", "Why it matters", "Key information", "Key information",
                                 "Key information", "Things to note", "What to do"], start=1):  # fmt: skip
        assert f"*{n} · {heading}" in text
    assert "About 7 minutes" in text and ":books:" in text and "SCRs published April 2017 to September 2019" in text
    assert len(swap_buttons(msg)) == 3
    assert button(msg, "scr_briefing_run")


def test_no_match_is_one_clear_line(bot: BotProcess) -> None:
    msg = bot.command("briefing zzqx <!channel>").json()
    assert msg["response_type"] == "ephemeral"
    assert msg["text"].startswith("No theme or learning point matches")
    assert_no_user_markup(msg)
    assert "Try `/scr briefing" in bot.command("briefing").json()["text"] or "Say what" in bot.command("briefing").json()["text"]


def test_swap_replaces_one_key_point_in_place(bot: BotProcess, module_slack: FakeSlack) -> None:
    first = bot.command("briefing neglect").json()
    value = swap_buttons(first)[1]["value"]
    before = json.loads(value)["b"]["k"]
    url = module_slack.response_url()
    assert bot.action("scr_briefing_swap", value, response_url=url).status == 200
    body = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None), timeout=5.0)
    assert body["replace_original"] is True and body["response_type"] == "ephemeral"
    assert_valid_message(body)
    after = json.loads(button(body, "scr_briefing_run")["value"])["k"]
    assert after[0] == before[0] and after[2] == before[2] and after[1] not in before


def test_run_posts_the_briefing_collapsed_and_the_questions_in_its_thread(bot: BotProcess, module_slack: FakeSlack) -> None:
    preview = bot.command("briefing information sharing", channel="C0BRIEF", user="U0LEAD").json()
    before = len(module_slack.channel_messages("C0BRIEF"))
    url = module_slack.response_url()
    run = button(preview, "scr_briefing_run")["value"]
    assert bot.action("scr_briefing_run", run, channel="C0BRIEF", user="U0LEAD", response_url=url).status == 200
    post = wait_for(lambda: module_slack.channel_messages("C0BRIEF")[before:], timeout=5.0)[0]
    assert_valid_message(post)
    text = dumps(post)
    assert "7-minute briefing: Information sharing" in text and "About 7 minutes" in text and "<@U0LEAD>" in text
    assert "scr_briefing" not in text  # no preview buttons in the channel
    assert "questions are in the thread" in text
    assert len(text) < len(dumps(preview))  # collapsed: shorter than the full preview
    thread = wait_for(lambda: module_slack.thread("C0BRIEF", post["ts"])[1:], timeout=5.0)
    questions = [b for b in preview["blocks"] if "*6 · Things to note*" in (b.get("text") or {}).get("text", "")][0]
    for line in questions["text"]["text"].splitlines()[1:]:
        assert line in dumps(thread[0])
    done = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None), timeout=5.0)
    assert "Posted" in done["text"] and done["replace_original"] is True


def test_run_where_the_bot_is_not_a_member_says_how_to_fix(bot: BotProcess, module_slack: FakeSlack) -> None:
    module_slack.channel_errors["C0NOBRIEF"] = "not_in_channel"
    preview = bot.command("briefing neglect", channel="C0NOBRIEF").json()
    url = module_slack.response_url()
    bot.action("scr_briefing_run", button(preview, "scr_briefing_run")["value"], channel="C0NOBRIEF", response_url=url)
    reply = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None), timeout=5.0)
    assert "/invite" in reply["text"] and reply.get("replace_original") in (False, "false")


def test_briefing_handout_sends_the_one_page_pdf_privately_after_the_ack(bot: BotProcess, module_slack: FakeSlack) -> None:
    """`/scr briefing neglect handout` (issue 24 item 4): the ack says it is on its way; the PDF arrives as a
    file in the person's own DM, and only there."""
    before = len(module_slack.files)
    url = module_slack.response_url()
    resp = bot.command("briefing neglect handout", user="U0HAND", response_url=url)
    assert resp.status == 200
    said = resp.json()
    assert said["response_type"] == "ephemeral" and "handout" in said["text"] and "direct message" in said["text"]
    sent = wait_for(lambda: [f for f in module_slack.files[before:] if f.get("channel")], timeout=20)
    assert [f["channel"] for f in sent] == ["DU0HAND"]
    content = sent[0]["content"]
    assert content.startswith(b"%PDF-") and b"/Count 1" in content  # one page
    assert module_slack.filenames[sent[0]["id"]].endswith(".pdf")
    assert "Neglect" in (sent[0].get("title") or "")
    assert not [r for r in module_slack.responses if r.get("_url") == url]  # nothing went wrong to report


def test_briefing_handout_with_no_match_says_why_and_sends_nothing(bot: BotProcess, module_slack: FakeSlack) -> None:
    before = len(module_slack.files)
    said = bot.command("briefing zzqx handout").json()
    assert "No theme" in said["text"]
    time.sleep(1.0)
    assert module_slack.files[before:] == []


@pytest.mark.parametrize("lost", [500, "reset"])
def test_run_whose_answer_is_lost_is_found_in_the_channel_and_completed_once(
        bot: BotProcess, module_slack: FakeSlack, redis_server: Any, lost: int | str) -> None:  # fmt: skip
    """Slack posts the briefing, then its answer is lost (a 500, a reset connection): the bot looks for its
    own post, records the session and adds the questions for it, says it was posted, and keeps the claim, so a
    second click says it was already run instead of posting a second copy."""
    channel = f"C0LOST{str(lost).upper()}"
    preview = bot.command("briefing neglect", channel=channel, user="U0LEAD").json()
    run = button(preview, "scr_briefing_run")["value"]
    module_slack.accept_then("chat.postMessage", lost, channel=channel)
    url = module_slack.response_url()
    assert bot.action("scr_briefing_run", run, channel=channel, user="U0LEAD", response_url=url).status == 200
    done = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None), timeout=15.0)
    assert "Posted" in done["text"], done["text"]
    posts = module_slack.channel_messages(channel)
    assert len(posts) == 1
    thread = wait_for(lambda: module_slack.thread(channel, posts[0]["ts"])[1:], timeout=5.0)
    assert len(thread) == 1 and "Questions for the team" in dumps(thread[0])
    r = redis_server.client()
    sessions = [m for k in r.scan_iter("*:sessions") for m in r.zrange(k, 0, -1) if str(m).startswith(f"{channel}:")]
    assert sessions == [f"{channel}:{posts[0]['ts']}"]

    again = module_slack.response_url()
    bot.action("scr_briefing_run", run, channel=channel, user="U0LEAD", response_url=again)
    reply = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == again), None), timeout=5.0)
    assert "already been run" in reply["text"]
    time.sleep(0.5)
    assert len(module_slack.channel_messages(channel)) == 1
    assert len(module_slack.thread(channel, posts[0]["ts"])) == 2


def test_run_whose_answer_is_lost_and_channel_cannot_be_read_says_not_sure_and_keeps_the_claim(
        bot: BotProcess, module_slack: FakeSlack) -> None:  # fmt: skip
    """The post's answer is lost and the search for it fails too: "not sure yet, check the channel", and the
    claim is kept, so pressing Run again cannot post a second copy."""
    channel = "C0LOSTUNSURE"
    preview = bot.command("briefing neglect", channel=channel, user="U0LEAD").json()
    run = button(preview, "scr_briefing_run")["value"]
    module_slack.accept_then("chat.postMessage", 500, channel=channel)
    module_slack.fail("conversations.history", 500, retry_after=None, error="internal_error", times=20, channel=channel)
    url = module_slack.response_url()
    bot.action("scr_briefing_run", run, channel=channel, user="U0LEAD", response_url=url)
    done = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == url), None), timeout=30.0)
    assert "check the channel before running it again" in done["text"], done["text"]
    again = module_slack.response_url()
    bot.action("scr_briefing_run", run, channel=channel, user="U0LEAD", response_url=again)
    reply = wait_for(lambda: next((r for r in module_slack.responses if r.get("_url") == again), None), timeout=5.0)
    assert "already been run" in reply["text"]
    assert len(module_slack.channel_messages(channel)) == 1
