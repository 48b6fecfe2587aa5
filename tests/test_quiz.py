"""Spaced knowledge checks without Slack: the Leitner schedule, working hours, answers and team aggregates,
and the sender against the local Slack with a controlled clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from bot.config import WorkingHours, parse_days, parse_hours
from bot.content.corpus import Corpus
from bot.learning.quiz import (
    BOX_DAYS,
    Answer,
    Card,
    QuizStore,
    after_answer,
    after_sending,
    candidate_order,
    choose,
    weeks_between,
)
from bot.learning.quiz_sender import QuizSender
from bot.slack.app import make_client
from bot.slack.delivery import SlackDeliveries
from bot.slack.quiz_blocks import parse_answer_value, summary_lines
from bot.storage.store import Workspace
from fakeslack import FakeSlack as LocalSlack

LONDON = ZoneInfo("Europe/London")
TUESDAY = datetime(2026, 11, 24, 11, 0, tzinfo=LONDON)  # a quiz day, within working hours
WS = Workspace("T0QUIZ")


# ----- the Leitner schedule ---------------------------------------------------------------------
def midnight(d: datetime) -> float:
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def test_known_checks_move_up_and_come_back_later_missed_ones_go_back_to_box_one() -> None:
    now = TUESDAY.replace(hour=16, minute=45).timestamp()  # late in the day: it is still due that morning
    card = after_answer(None, "k", True, now)
    assert (card.box, card.due) == (2, midnight(TUESDAY + timedelta(days=BOX_DAYS[1])))
    card = after_answer(card, "k", True, now)
    card = after_answer(card, "k", True, now)
    card = after_answer(card, "k", True, now)
    card = after_answer(card, "k", True, now)  # stays in the top box
    assert (card.box, card.due, card.right) == (5, midnight(TUESDAY + timedelta(days=BOX_DAYS[4])), 5)
    card = after_answer(card, "k", False, now)
    assert (card.box, card.due, card.wrong) == (1, midnight(TUESDAY + timedelta(days=1)), 1)


def test_a_check_sent_but_not_answered_counts_as_missed() -> None:
    card = after_sending(Card("k", box=4, due=0), "k", TUESDAY.timestamp())
    # Left unanswered it is missed: back to box 1, so the next quiz day it is first in line.
    assert (card.box, card.due, card.sent) == (1, midnight(TUESDAY + timedelta(days=1)), TUESDAY.timestamp())
    wednesday = (TUESDAY + timedelta(days=1)).timestamp()
    other = Card("o", box=2, due=midnight(TUESDAY))
    assert choose({"k": card, "o": other}, ["o", "k"], wednesday) == "k"
    # Answered after all (before the next send): it counts from the box it was sent from.
    assert after_answer(Card(**vars(card)), "k", True, wednesday).box == 5
    # Sent again: the first send was missed and stays missed. Answered right now, it goes up from box 1.
    card = after_sending(card, "k", wednesday)
    assert card.box == 1
    assert after_answer(Card(**vars(card)), "k", True, wednesday).box == 2
    assert after_answer(Card(**vars(card)), "k", False, wednesday).box == 1


def test_a_check_missed_twice_and_answered_right_on_its_third_send_is_in_box_2() -> None:
    """The old code restored the box of the first send when a later copy was answered (box 4 -> 5), erasing both misses."""
    day = timedelta(days=1)
    card = Card("y", box=4, due=0)
    for n in range(3):
        card = after_sending(card, "y", (TUESDAY + n * day).timestamp())
    assert after_answer(card, "y", True, (TUESDAY + 2 * day).timestamp() + 60).box == 2


def test_choose_prefers_due_checks_in_the_lowest_box_then_new_ones() -> None:
    cards = {"a": Card("a", box=3, due=50), "b": Card("b", box=1, due=90), "c": Card("c", box=1, due=500)}
    assert choose(cards, ["a", "b", "c", "d"], now=100) == "b"  # due, lowest box
    assert choose({"c": cards["c"]}, ["c", "d"], now=100) == "d"  # nothing due: a new one
    assert choose({"c": cards["c"]}, ["c"], now=100) is None  # everything known and not yet due


def test_candidates_start_with_the_teams_weekly_point_and_are_stable_per_team(corpus: Corpus) -> None:
    order = candidate_order(corpus, "C0TEAM", ["p19-data-social-care"])
    assert set(order[:3]) == {c.id for c in corpus.checks_for("p19-data-social-care")}
    assert sorted(order) == sorted(c.id for c in corpus.checks)
    assert order == candidate_order(corpus, "C0TEAM", ["p19-data-social-care"])
    assert candidate_order(corpus, "C0TEAM") != candidate_order(corpus, "C0OTHER")


# ----- working hours ----------------------------------------------------------------------------
def test_checks_are_sent_only_mid_week_within_working_hours_in_local_time() -> None:
    hours = WorkingHours()
    assert hours.may_send(TUESDAY)
    assert not hours.may_send(TUESDAY.replace(hour=8))  # before work
    assert not hours.may_send(TUESDAY.replace(hour=10, minute=0))  # before the quiz time (10:30)
    assert not hours.may_send(TUESDAY.replace(hour=17))  # after work
    assert not hours.may_send(TUESDAY - timedelta(days=1))  # Monday: not a quiz day
    assert not hours.may_send(TUESDAY + timedelta(days=4))  # Saturday
    # 10:45 UTC in summer is 11:45 in London: inside; 16:30 UTC in summer is 17:30: outside.
    summer = datetime(2026, 7, 14, 16, 30, tzinfo=ZoneInfo("UTC"))
    assert not hours.may_send(summer) and hours.may_send(summer.replace(hour=10, minute=45))


def test_working_hours_settings_are_parsed_and_bad_ones_explained() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("tue, thu") == frozenset({1, 3})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_hours("8:30-16:00")[0].hour == 8
    with pytest.raises(ValueError, match="weekday"):
        parse_days("someday")
    with pytest.raises(ValueError, match="after the start"):
        parse_hours("17:00-09:00")


def test_weeks_between_lists_iso_weeks() -> None:
    assert weeks_between(datetime(2026, 11, 2, tzinfo=LONDON), datetime(2026, 11, 24, tzinfo=LONDON), "Europe/London") == [
        "2026-W45", "2026-W46", "2026-W47", "2026-W48"]


# ----- answers and aggregates -------------------------------------------------------------------
@pytest.fixture
def store(redis_client: redis.Redis) -> QuizStore:
    return QuizStore(redis_client, 365, clock=lambda: TUESDAY.timestamp())


def answer(check: str, correct: bool, channel: str = "C0TEAM", day: str = "2026-11-24") -> Answer:
    return Answer(check=check, point="p", correct=correct, chosen="x", sent_day=day,
                  answered_at=TUESDAY.timestamp(), channel=channel)  # fmt: skip


def test_an_answer_is_recorded_once_however_often_the_button_is_pressed(store: QuizStore) -> None:
    assert store.record_answer(WS, "U1", answer("k1", False), "2026-W48") is not None
    assert store.record_answer(WS, "U1", answer("k1", True), "2026-W48") is None  # second click
    (only,) = store.answers(WS, "U1")
    assert only.correct is False
    assert store.cards(WS, "U1")["k1"].box == 1
    assert store.aggregate(WS, ["C0TEAM"], ["2026-W48"]).answered == 1


def test_aggregates_hide_small_groups_and_name_only_hard_checks_with_enough_answers(store: QuizStore,
                                                                                    corpus: Corpus) -> None:
    hard, easy = corpus.checks[0].id, corpus.checks[1].id
    store.record_answer(WS, "U1", answer(hard, False), "2026-W48")
    store.record_answer(WS, "U2", answer(hard, False), "2026-W48")
    two = store.aggregate(WS, ["C0TEAM"], ["2026-W48"])
    assert (two.answered, two.people, two.shown) == (2, 2, False)
    assert "fewer than 3 people" in summary_lines(corpus, two) and "2" not in summary_lines(corpus, two)
    store.record_answer(WS, "U3", answer(hard, True), "2026-W48")
    store.record_answer(WS, "U3", answer(easy, True), "2026-W48")
    store.record_answer(WS, "U9", answer(easy, False, channel="C0OTHER"), "2026-W48")  # another team: not counted
    agg = store.aggregate(WS, ["C0TEAM"], ["2026-W48"])
    assert (agg.answered, agg.right, agg.people, agg.shown) == (4, 2, 3, True)
    assert [(h.check, h.answered, h.right) for h in agg.hard] == [(hard, 3, 1)]  # easy: only 1 answer, not named
    text = summary_lines(corpus, agg)
    assert "4 answered by 3 people" in text and "(1 of 3 right)" in text


def test_forget_deletes_a_persons_quiz_record_but_not_team_counts(store: QuizStore) -> None:
    store.opt_in(WS, "U1", "C0TEAM")
    store.record_answer(WS, "U1", answer("k1", True), "2026-W48")
    assert store.forget(WS, "U1") == 1
    assert store.answers(WS, "U1") == [] and store.cards(WS, "U1") == {} and store.person(WS, "U1") is None
    agg = store.aggregate(WS, ["C0TEAM"], ["2026-W48"])
    assert (agg.answered, agg.people) == (1, 0)  # the count stays; who answered does not
    assert not any("U1" in store.r.smembers(k) for k in store.r.scan_iter("*people*"))
    assert not list(store.r.scan_iter("*U1*"))  # nothing keyed by the person is left


def test_answer_button_values_round_trip_and_junk_is_refused() -> None:
    assert parse_answer_value('{"c": "k", "d": "2026-11-24", "o": 2}') == ("k", "2026-11-24", 2)
    assert parse_answer_value("not json") is None and parse_answer_value('{"c": "k"}') is None


# ----- the sender, with a controlled clock ----------------------------------------------------
@pytest.fixture
def local_slack() -> Iterator[LocalSlack]:
    server = LocalSlack().serve()
    yield server
    server.close()


def test_sender_sends_one_a_day_only_in_hours_and_brings_a_missed_check_back_sooner(
        store: QuizStore, local_slack: LocalSlack, corpus: Corpus) -> None:  # fmt: skip
    sender = QuizSender(store, SlackDeliveries(make_client("xoxb-test", local_slack.url), corpus), corpus, WorkingHours())
    store.opt_in(WS, "U1", "C0TEAM")
    assert sender.deliver_due(TUESDAY.replace(hour=8)) == []  # before working hours: nothing
    (first,) = sender.deliver_due(TUESDAY)
    assert first.outcome == "sent"
    assert [s.outcome for s in sender.deliver_due(TUESDAY + timedelta(hours=2))] == ["already"]  # one a day
    dms = local_slack.channel_messages("DU1")
    assert len(dms) == 1 and "Your knowledge check" in str(dms[0]["blocks"])
    # Missed: answered wrongly, it comes back the next quiz day (Wednesday).
    store.record_answer(WS, "U1", Answer(first.check, "p", False, "x", "2026-11-24", TUESDAY.timestamp(), "C0TEAM"),
                        "2026-W48")  # fmt: skip
    (wed,) = sender.deliver_due(TUESDAY + timedelta(days=1))
    assert (wed.outcome, wed.check) == ("sent", first.check)
    # Known: answered rightly, it moves up a box and does not come back the next day; a new check comes instead.
    store.record_answer(WS, "U1", Answer(first.check, "p", True, "x", "2026-11-25",
                                         (TUESDAY + timedelta(days=1)).timestamp(), "C0TEAM"), "2026-W48")  # fmt: skip
    (thu,) = sender.deliver_due(TUESDAY + timedelta(days=2))
    assert thu.outcome == "sent" and thu.check != first.check
    assert sender.deliver_due(TUESDAY + timedelta(days=3)) == []  # Friday is not a quiz day
    # Opted out: nothing more.
    store.opt_out(WS, "U1")
    assert sender.deliver_due(TUESDAY + timedelta(days=7)) == []


def test_a_send_slack_refused_is_retried_but_an_unknown_outcome_is_not_resent(store: QuizStore,
                                                                            local_slack: LocalSlack, corpus: Corpus) -> None:
    client = make_client("xoxb-test", local_slack.url)
    client.retry_handlers = []  # see each failure as the sender does after slack_sdk's retries run out
    sender = QuizSender(store, SlackDeliveries(client, corpus), corpus, WorkingHours())
    store.opt_in(WS, "U1", "C0TEAM")
    local_slack.fail("chat.postMessage", status=429, retry_after=0)
    assert [s.outcome for s in sender.deliver_due(TUESDAY)] == ["retry"]
    assert [s.outcome for s in sender.deliver_due(TUESDAY)] == ["sent"]  # Slack did nothing, so it is sent now
    local_slack.fail("chat.postMessage", status=500, error="internal_error")
    assert [s.outcome for s in sender.deliver_due(TUESDAY + timedelta(days=1))] == ["retry"]
    assert [s.outcome for s in sender.deliver_due(TUESDAY + timedelta(days=1))] == ["already"]  # might have arrived


def test_the_clocks_sweep_sends_checks_when_its_clock_says_so(redis_server, redis_client: redis.Redis,  # noqa: ANN001
                                                              local_slack: LocalSlack, tmp_path) -> None:  # noqa: ANN001
    from bot.config import load_settings
    from bot.ops.clock import Clock
    from bot.services import Services

    (tmp_path / "none").mkdir()
    settings = load_settings({"REDIS_URL": redis_server.url, "SCR_SCHEDULES_DIR": str(tmp_path / "none")}, dotenv=False)
    now = [TUESDAY.replace(hour=9)]
    clock = Clock(Services.create(settings), make_client("xoxb-test", local_slack.url), clock=lambda: now[0])
    QuizStore(redis_client).opt_in(WS, "U1", "C0TEAM")
    clock.sweep()
    assert local_slack.channel_messages("DU1") == []  # 09:00 on a Tuesday: before the quiz time
    now[0] = TUESDAY
    clock.sweep()
    clock.sweep()
    assert len(local_slack.channel_messages("DU1")) == 1  # sent once, whatever the number of sweeps


def test_simultaneous_presses_in_two_processes_record_one_answer(store: QuizStore) -> None:
    """Two requests for the same answer at once (a double click served by two workers): one answer, one count."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [QuizStore(redis.Redis(connection_pool=store.r.connection_pool), 365) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: s.record_answer(WS, "U1", answer("k1", False), "2026-W48"), clients))
    assert sum(r is not None for r in results) == 1
    agg = store.aggregate(WS, ["C0TEAM"], ["2026-W48"])
    assert (agg.answered, store.cards(WS, "U1")["k1"].wrong) == (1, 1)


def test_another_workspace_sees_nothing_of_this_ones_checks(store: QuizStore) -> None:
    store.opt_in(WS, "U1", "C0TEAM")
    for user in ("U1", "U2", "U3"):
        store.record_answer(WS, user, answer("k1", True), "2026-W48")
    other = Workspace("T0OTHER")
    assert store.aggregate(other, ["C0TEAM"], ["2026-W48"]).answered == 0
    assert store.answers(other, "U1") == [] and store.person(other, "U1") is None


def test_a_person_slack_will_not_dm_is_not_retried_all_day(store: QuizStore, local_slack: LocalSlack,
                                                          corpus: Corpus) -> None:
    client = make_client("xoxb-test", local_slack.url)
    sender = QuizSender(store, SlackDeliveries(client, corpus), corpus, WorkingHours())
    store.opt_in(WS, "U1", "C0TEAM")
    local_slack.fail("conversations.open", status=200, error="user_not_found")
    assert [s.outcome for s in sender.deliver_due(TUESDAY)] == ["failed"]
    assert [s.outcome for s in sender.deliver_due(TUESDAY + timedelta(minutes=10))] == ["already"]
    assert local_slack.channel_messages("DU1") == []


def test_a_check_on_a_point_with_a_content_note_shows_it_before_the_question(corpus: Corpus) -> None:
    from blockkit import assert_valid_message, dumps
    from bot.slack.quiz_blocks import check_message

    noted = next(c for c in corpus.checks if corpus.point(c.point).content_note)
    msg = check_message(corpus, noted, "2026-11-24")
    assert_valid_message(msg)
    texts = [dumps(b) for b in msg["blocks"]]
    note_at = next(i for i, t in enumerate(texts) if "Content note" in t)
    question_at = next(i for i, t in enumerate(texts) if "A.*" in t)  # the block with the question and options
    assert note_at < question_at
    text = dumps(msg["blocks"])
    assert corpus.point(noted.point).title not in text  # the point comes with the answer, not before
    plain = next(c for c in corpus.checks if not corpus.point(c.point).content_note)
    assert "Content note" not in dumps(check_message(corpus, plain, "2026-11-24")["blocks"])


def test_many_processes_sweeping_at_once_send_one_check(store: QuizStore, local_slack: LocalSlack,
                                                        corpus: Corpus) -> None:
    """Several clock processes (or web dynos running the scheduler) at the same moment: one DM, not several."""
    from concurrent.futures import ThreadPoolExecutor

    store.opt_in(WS, "U1", "C0TEAM")
    local_slack.delay["chat.postMessage"] = 0.2  # a slow Slack widens the window for a double send
    senders = [QuizSender(QuizStore(redis.Redis(connection_pool=store.r.connection_pool)),
                          SlackDeliveries(make_client("xoxb-test", local_slack.url), corpus), corpus, WorkingHours()) for _ in range(6)]  # fmt: skip
    with ThreadPoolExecutor(6) as pool:
        outcomes = [s.outcome for result in pool.map(lambda s: s.deliver_due(TUESDAY), senders) for s in result]
    assert sorted(outcomes) == ["already"] * 5 + ["sent"]
    assert len(local_slack.channel_messages("DU1")) == 1


def test_answers_past_the_retention_period_are_deleted(redis_client: redis.Redis) -> None:
    now = [TUESDAY.timestamp()]
    store = QuizStore(redis_client, 30, clock=lambda: now[0])
    store.record_answer(WS, "U1", answer("k1", True), "2026-W48")
    later = Answer("k2", "p", True, "x", "2026-12-30", TUESDAY.timestamp() + 35 * 86400, "C0TEAM")
    store.record_answer(WS, "U1", later, "2026-W53")
    now[0] = TUESDAY.timestamp() + 36 * 86400
    assert [a.check for a in store.answers(WS, "U1")] == ["k2"]
    assert redis_client.hkeys(QuizStore.answers_key(WS, "U1")) == ["2026-12-30:k2"]  # gone from Redis, not hidden


def lost_send(store: QuizStore, local_slack: LocalSlack, corpus: Corpus, lose: str) -> tuple[QuizSender, str]:
    """A check whose answer Slack lost on Tuesday (``lose``: "reset" after storing it, or a 500 before
    storing it), and the person's later traffic in the DM: (the sender, Tuesday's check). Slack's clock is the test's."""
    local_slack.clock = lambda: TUESDAY.timestamp()
    client = make_client("xoxb-test", local_slack.url)
    client.retry_handlers = []  # see each failure as the sender does after slack_sdk's retries run out
    sender = QuizSender(store, SlackDeliveries(client, corpus), corpus, WorkingHours())
    store.opt_in(WS, "U1", "C0TEAM")
    if lose == "reset":
        local_slack.accept_then("chat.postMessage", "reset")
    else:
        local_slack.fail("chat.postMessage", status=500, error="internal_error")
    (tue,) = sender.deliver_due(TUESDAY)
    assert tue.outcome == "retry" and tue.check is not None
    local_slack.clock = lambda: (TUESDAY + timedelta(hours=1)).timestamp()
    local_slack.post_as("U1", "DU1", "a message from the person, later that day")
    return sender, tue.check


def checks_in_dm(local_slack: LocalSlack) -> list[dict]:
    return [m for m in local_slack.channel_messages("DU1") if "Your knowledge check" in str(m.get("blocks"))]


def test_a_check_that_arrived_though_its_answer_was_lost_is_recorded_as_sent(store: QuizStore, local_slack: LocalSlack,
                                                                             corpus: Corpus) -> None:  # fmt: skip
    sender, tue = lost_send(store, local_slack, corpus, "reset")
    (wed,) = sender.deliver_due(TUESDAY + timedelta(days=1))
    assert wed.outcome == "sent"
    first, second = checks_in_dm(local_slack)  # Tuesday's (it did arrive) and Wednesday's
    assert json.loads(store.r.get(store.day_key(WS, "U1", "2026-11-24"))) == {"check": tue, "ts": first["ts"]}
    # Unanswered, it counts as missed and comes back on Wednesday (box 1), as any check sent and not answered.
    assert wed.check == tue and store.attempt(WS, "U1") is None


def test_an_answered_check_whose_send_was_lost_is_followed_by_a_new_one(store: QuizStore, local_slack: LocalSlack,
                                                                        corpus: Corpus) -> None:  # fmt: skip
    sender, tue = lost_send(store, local_slack, corpus, "reset")
    store.record_answer(WS, "U1", Answer(tue, "p", True, "x", "2026-11-24", TUESDAY.timestamp() + 60, "C0TEAM"),
                        "2026-W48")  # fmt: skip
    (wed,) = sender.deliver_due(TUESDAY + timedelta(days=1))
    assert (wed.outcome, wed.check != tue) == ("sent", True)  # a new check, not Tuesday's again
    card = store.cards(WS, "U1")[tue]
    assert card.box == 2 and card.sent == TUESDAY.timestamp()  # known, one box up; and it was sent on Tuesday


def test_a_check_whose_send_never_arrived_is_sent_on_the_next_quiz_day(store: QuizStore, local_slack: LocalSlack,
                                                                       corpus: Corpus) -> None:  # fmt: skip
    sender, tue = lost_send(store, local_slack, corpus, "500")
    (wed,) = sender.deliver_due(TUESDAY + timedelta(days=1))
    assert (wed.outcome, wed.check) == ("sent", tue)  # not in the conversation: it never arrived, so it comes now
    (only,) = checks_in_dm(local_slack)
    assert store.cards(WS, "U1")[tue].sent == (TUESDAY + timedelta(days=1)).timestamp()
    assert local_slack.ok_calls("conversations.history")  # it was looked for, not assumed
