"""Every /scr form and button, end to end: signed HTTP into the running bot, Slack's side on the local fake."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", "Learning from Serious Case Reviews"),
        ("help", "Learning from Serious Case Reviews"),
        ("themes", "Domestic abuse"),
        ("sectors", "Police &amp; criminal justice"),
        ("neglect", "Neglect"),
        ("police", "Police &amp; criminal justice"),
        ("police information sharing", "Information sharing"),
        ("neglect police", "Police &amp; criminal justice · Neglect"),
        ("health dv", "Health · Domestic abuse"),
        ("search was not brought", "was not brought"),
        ("was not brought", "was not brought"),
        ("search sarah's law", "Sarah's law"),
        ("neglet", "“neglet” → neglect"),
        ("polce", "“polce” → police"),
        ("random", "Key messages"),
        ("h14-sudi", "SUDI and co-sleeping"),
        ("week", "No learning point of the week has been posted in this channel yet"),
        ("zzqx", "couldn't find learning points matching"),
        ("fgm", "not covered by these"),
        ("<@U123> neglect", "result 1 of"),
    ],
)
def test_every_grammar_form_over_signed_http(bot: BotProcess, text: str, expect: str) -> None:
    resp = bot.command(text)
    assert resp.status == 200
    msg = resp.json()
    assert msg["response_type"] == "ephemeral"
    assert_valid_message(msg)
    assert expect.lower() in dumps(msg).lower()


def test_user_text_is_escaped_over_http(bot: BotProcess) -> None:
    msg = bot.command("neglect <!channel> <@U999> & <https://x.example|y>").json()
    assert_valid_message(msg)
    assert_no_user_markup(msg)
    msg = bot.command("<!here>").json()
    assert_no_user_markup(msg)
    assert "couldn't find any words to look up" in dumps(msg)  # a mention alone is not a query


def test_10kb_query_is_answered(bot: BotProcess) -> None:
    resp = bot.command("domestic abuse " * 700)
    assert resp.status == 200
    assert_valid_message(resp.json())


def test_another_show_and_more_replace_the_answer(bot: BotProcess, module_slack: FakeSlack) -> None:
    first = bot.command("adolescents").json()
    top_title = first["blocks"][2]["text"]["text"] if first["blocks"][2]["type"] == "header" else None
    for action_id in ("scr_another", "scr_show", "scr_more"):
        url = module_slack.response_url()
        value = button(first, action_id)["value"]
        assert bot.action(action_id, value, response_url=url).status == 200
        body = wait_for(lambda u=url: next((r for r in module_slack.responses if r.get("_url") == u), None), timeout=5.0)
        assert body["replace_original"] is True
        assert_valid_message(body)
        offset = json.loads(value)["o"]
        assert f"result {offset + 1} of" in dumps(body)
        if top_title:
            assert top_title not in [b.get("text", {}).get("text") for b in body["blocks"] if b["type"] == "header"]


def test_share_posts_in_channel_credited_to_the_asker(bot: BotProcess, module_slack: FakeSlack) -> None:
    answer = bot.command("co-sleeping", channel="C0SHARE", user="U0ASKER").json()
    value = button(answer, "scr_share")["value"]
    before = len(module_slack.channel_messages("C0SHARE"))
    assert bot.action("scr_share", value, channel="C0SHARE", user="U0ASKER", response_url=module_slack.response_url()).status == 200
    posted = wait_for(lambda: module_slack.channel_messages("C0SHARE")[before:], timeout=5.0)
    msg = posted[0]
    assert "<@U0ASKER>" in msg["text"]
    assert "Shared by <@U0ASKER>" in dumps(msg)
    assert_valid_message(msg)
    assert "scr_share" not in dumps(msg)  # no share button on a shared post


def test_share_where_the_bot_is_not_a_member_says_how_to_fix(bot: BotProcess, module_slack: FakeSlack) -> None:
    module_slack.channel_errors["C0PRIVATE"] = "not_in_channel"
    answer = bot.command("neglect", channel="C0PRIVATE").json()
    url = module_slack.response_url()
    bot.action("scr_share", button(answer, "scr_share")["value"], channel="C0PRIVATE", response_url=url)
    # This click's own answer: the one sent to its response_url (an earlier test's may still be arriving).
    reply = wait_for(lambda: [r for r in module_slack.responses if r.get("_url") == url], timeout=5.0)[-1]
    assert "/invite" in reply["text"]
    assert reply.get("replace_original") in (False, "false")
