"""Reflections in the domain: masking, storage, retention, isolation, summaries' counts and the CPD export."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest
import redis

from bot.content.corpus import Corpus
from bot.learning import cpd
from bot.reflections.masking import mask, nhs_number_is_valid
from bot.reflections.store import MODAL, PRIVATE, SHARED, THREAD, Reflection, ReflectionStore, message_id
from bot.storage.store import Workspace

T1, T2 = Workspace("T0ONE"), Workspace("T0TWO")
GRID = Workspace("T0ONE", enterprise_id="E0ORG")


def refl(user: str = "U0A", ts: float | None = None, **kw) -> Reflection:  # noqa: ANN003
    ts = ts or time.time()
    base = dict(id=message_id("C0A", f"{ts:.6f}"), user=user, point="h14-sudi", kind=THREAD, visibility=SHARED,
                created_at=ts, updated_at=ts, channel="C0A", thread_ts="100.1", text="It made me think about safer sleep.")
    base.update(kw)
    return Reflection(**base)


# ----- masking ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "gone"),
    [
        ("I saw Mrs Jones yesterday", "name", "Jones"),
        ("Ask Dr. Okafor about it", "name", "Okafor"),
        ("ring 07700 900123 after 5", "phone", "900123"),
        ("on +44 20 7946 0958", "phone", "7946"),
        ("NHS no 943 476 5919", "nhs", "5919"),
        ("nhs 9434765919", "nhs", "9434765919"),
        ("lives near NR4 7TJ", "postcode", "7TJ"),
        ("DOB 12/03/2015", "date", "2015"),
        ("born 3rd March 2016", "date", "2016"),
        ("mail jo.bloggs@example.org", "email", "bloggs"),
        ("visited 14 Acacia Avenue", "address", "Acacia"),
    ],
)
def test_identifying_details_are_masked(text: str, kind: str, gone: str) -> None:
    result = mask(text)
    assert kind in result.found, result
    assert gone not in result.text


@pytest.mark.parametrize(
    "text",
    ["Child A and Baby X were seen", "We met 3 times in 2017", "The 2011-14 review found 293 cases; 66 in depth",
     "NHS number 943 476 5910 is not valid", "Our team of 12", "Section 47 enquiries", "see page 15"],
)
def test_ordinary_text_and_scr_pseudonyms_are_left_alone(text: str) -> None:
    assert mask(text).text == text


def test_nhs_check_digit() -> None:
    assert nhs_number_is_valid("9434765919")
    assert not nhs_number_is_valid("9434765910")
    assert not nhs_number_is_valid("123")


# ----- storage ----------------------------------------------------------------------------------
def test_add_is_idempotent_and_lists_newest_first(redis_client: redis.Redis) -> None:
    store = ReflectionStore(redis_client, 365)
    first, second = refl(ts=1_800_000_000.0), refl(ts=1_800_000_100.0, text="second")
    store.clock = lambda: 1_800_000_200.0
    assert store.add(T1, first) is True
    assert store.add(T1, first) is False  # a retried event: stored once
    store.add(T1, second)
    assert [r.text for r in store.for_user(T1, "U0A")] == ["second", first.text]
    assert len(store.for_thread(T1, "C0A", "100.1")) == 2


def test_update_and_delete(redis_client: redis.Redis) -> None:
    store = ReflectionStore(redis_client, 365)
    r = refl()
    store.add(T1, r)
    store.update(T1, r.id, text="edited")
    assert store.get(T1, r.id).text == "edited"
    store.delete(T1, r.id)
    assert store.get(T1, r.id) is None and store.for_user(T1, "U0A") == [] and store.for_thread(T1, "C0A", "100.1") == []


def test_reflections_expire_after_the_retention_period(redis_client: redis.Redis) -> None:
    now = [1_800_000_000.0]
    store = ReflectionStore(redis_client, 30, clock=lambda: now[0])
    r = refl(ts=now[0])
    store.add(T1, r)
    ttl = redis_client.ttl(f"scr:{{slack:-:T0ONE}}:refl:{r.id}")
    assert 30 * 86400 - 5 <= ttl <= 30 * 86400  # Redis deletes it on time by itself
    now[0] += 30 * 86400 - 60
    assert store.get(T1, r.id) is not None
    now[0] += 61  # past retention: gone from every view, and from Redis
    assert store.get(T1, r.id) is None
    assert store.for_user(T1, "U0A") == [] and store.for_thread(T1, "C0A", "100.1") == []
    assert not redis_client.exists(f"scr:{{slack:-:T0ONE}}:refl:{r.id}")
    assert redis_client.zcard("scr:{slack:-:T0ONE}:refl-user:U0A") == 0
    assert store.add(T1, refl(ts=now[0] - 31 * 86400)) is False  # already past retention: not stored


def test_workspaces_are_isolated_in_one_redis(redis_client: redis.Redis) -> None:
    store = ReflectionStore(redis_client, 365)
    same_ids = dict(user="U0SAME", channel="C0SAME", thread_ts="1.1")
    store.add(T1, refl(text="in one", **same_ids))
    store.add(T2, refl(text="in two", **same_ids))
    store.add(GRID, refl(text="in the grid org", **same_ids))
    assert [r.text for r in store.for_user(T1, "U0SAME")] == ["in one"]
    assert [r.text for r in store.for_user(T2, "U0SAME")] == ["in two"]
    assert [r.text for r in store.for_user(GRID, "U0SAME")] == ["in the grid org"]
    assert store.thread_stats(T1, "C0SAME", "1.1", []).reflections == 1
    assert store.delete_user(T1, "U0SAME") == 1
    assert store.for_user(T2, "U0SAME") and store.for_user(GRID, "U0SAME")


def test_thread_stats_count_shared_only_and_find_discussed_questions(redis_client: redis.Redis, corpus: Corpus) -> None:
    store = ReflectionStore(redis_client, 365)
    point = corpus.by_id["h14-sudi"]
    q0 = point.questions[0]  # "How do we talk with parents about safer sleep in a way that fits their real circumstances?"
    base = 1_800_000_000.0
    store.clock = lambda: base + 1000
    store.add(T1, refl(user="U1", ts=base + 1, text="Talking with parents about safer sleep needs to fit their circumstances"))
    store.add(T1, refl(user="U2", ts=base + 2, text="We could revisit safer sleep with parents when things change"))
    store.add(T1, refl(user="U2", ts=base + 3, text="Thanks all"))
    store.add(T1, refl(user="U3", ts=base + 4, kind=MODAL, visibility=PRIVATE, stood_out="private safer sleep parents"))
    stats = store.thread_stats(T1, "C0A", "100.1", point.questions)
    assert (stats.reflections, stats.people) == (3, 2)  # the private one is never counted
    assert stats.questions[0] == (q0, 2)


# ----- the CPD export --------------------------------------------------------------------------
def test_export_has_the_fields_cpd_records_ask_for(corpus: Corpus) -> None:
    when = datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()
    records = [
        refl(ts=when, text="Co-sleeping on sofas was new to me"),
        refl(ts=when + 60, id="v-V1", kind=MODAL, visibility=PRIVATE, text="", stood_out="Ask about sleep",
             practice="I will ask where the baby sleeps", action="=HYPERLINK(\"x\")", minutes=20),
    ]
    md = cpd.to_markdown(corpus, records, who="Slack user U0A", exported=datetime(2026, 11, 24, tzinfo=UTC))
    point = corpus.by_id["h14-sudi"]
    for expected in ["## 2026-11-23: " + point.title, "**Type of activity:** Reflective discussion with colleagues",
                     "**Time spent:** 10 minutes", "**Time spent:** 20 minutes", "**Reflected with peers:** Yes",
                     "**Reflected with peers:** No (private reflection)", "### What I learned", "Co-sleeping on sofas",
                     "### How this changes my practice", "I will ask where the baby sleeps", "### Reflective questions",
                     point.questions[0], corpus.briefings["health-2011-14"].title, "report p59", "2 entries, 30 minutes"]:
        assert expected in md, expected
    rows = list(csv.DictReader(io.StringIO(cpd.to_csv(corpus, records))))
    assert [r["discussed_with_peers"] for r in rows] == ["yes", "no"]
    assert rows[1]["minutes"] == "20" and rows[1]["learning_point_title"] == point.title
    assert rows[1]["what_i_will_do_differently"].startswith("'=")  # no formula injection in spreadsheets
    assert set(cpd.CSV_FIELDS) == set(rows[0])
