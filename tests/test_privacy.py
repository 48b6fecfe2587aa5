"""Masking reflections, as practitioners write them: what must go and what must stay.

Each row is a sentence of the kind a police officer, health visitor, teacher or social worker might
post under a weekly learning point, with the identifying fragments that must be gone after masking
and the words that must survive it (pseudonyms, roles, safeguarding vocabulary, everyday words that
are also names). A row with nothing to remove must come back unchanged. The numbers are from
Ofcom's drama ranges and the NHS numbers are test numbers with valid check digits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bot.content.corpus import load_corpus
from bot.reflections import gazetteer as gazetteer_module
from bot.reflections.gazetteer import _read_faker, gazetteer
from bot.reflections.masking import mask
from bot.reflections.name_words import DICTIONARY_FIRST_NAMES, MOSTLY_NAMES, ORDINARY_SURNAMES

ROOT = Path(__file__).resolve().parent.parent

# (sector, sentence, must be gone, must stay)
CASES: list[tuple[str, str, list[str], list[str]]] = [
    # ----- the misses reported in issue 9 --------------------------------------------------------
    ("social care", "Visited Jenny Smith and her son Tyler at home.", ["Jenny", "Smith", "Tyler"], ["Visited", "her son", "at home"]),
    ("health", "Baby born 2019-04-03, seen by the health visitor at 10 days.", ["2019-04-03"], ["health visitor", "10 days"]),
    ("health", "Mum asked us to ring her on (020) 7946 0958 instead.", ["7946", "0958"], ["Mum asked us"]),
    ("social care", "Spoke to mrs jones at 12 acacia avenue about the referral.", ["jones", "acacia"], ["Spoke to", "the referral"]),
    ("health", "mum Kayleigh said she had no one to call at night.", ["Kayleigh"], ["mum", "no one to call"]),
    # ----- names without a title -----------------------------------------------------------------
    ("education", "Jayden's attendance dropped to 61% after Easter.", ["Jayden"], ["attendance dropped to 61%", "Easter"]),
    ("education", "Our DSL flagged that Ellie-Mae was often hungry at breakfast club.", ["Ellie-Mae"], ["Our DSL", "breakfast club"]),
    ("social care", "Dad Oluwaseun told me the baby slept in the bed with them.", ["Oluwaseun"], ["Dad", "slept in the bed"]),
    ("police", "Attended a DA call; stepdad Darren was intoxicated and aggressive.", ["Darren"], ["DA call", "stepdad"]),
    ("health", "visited jenny smith and her son tyler today, no concerns raised", ["jenny", "smith", "tyler"], ["visited", "no concerns raised"]),
    ("social care", "Muhammad and Aisha were both on CP plans for neglect.", ["Muhammad", "Aisha"], ["CP plans", "neglect"]),
    ("education", "Kacey-Leigh Brown in Year 4 disclosed to her teacher.", ["Kacey", "Brown"], ["Year 4", "disclosed to her teacher"]),
    ("police", "The Kowalczyk family were known to us from previous call-outs.", ["Kowalczyk"], ["family were known"]),
    ("social care", "The Smith children were placed with their nan.", ["Smith"], ["children were placed", "nan"]),
    ("health", "Baby Tyler (6 weeks) was brought to A&E with a bruise.", ["Tyler"], ["6 weeks", "A&E", "bruise"]),
    ("social care", "Grace (4) and her brother were left alone overnight.", ["Grace"], ["(4)", "her brother", "left alone overnight"]),
    ("health", "baby Hope had a torn frenulum that nobody asked about.", ["Hope"], ["baby", "torn frenulum"]),
    ("education", "Will Robinson told his form tutor he did not want to go home.", ["Will Robinson"], ["form tutor", "go home"]),
    ("social care", "Her daughter Summer was not brought to three appointments.", ["Summer"], ["Her daughter", "not brought"]),
    ("police", "Shannon Matthews was reported missing again on Friday.", ["Shannon", "Matthews"], ["reported missing", "Friday"]),
    ("health", "Zainab's mum was worried about her weight.", ["Zainab"], ["mum was worried"]),
    ("social care", "Brandon and Chantelle have a new baby due in the spring.", ["Brandon", "Chantelle"], ["new baby", "spring"]),
    ("police", "I took a statement from Liam Thompson, the lodger.", ["Liam", "Thompson"], ["took a statement", "the lodger"]),
    ("police", "Jordan's dad is in HMP Leeds and the family didn't tell school.", ["Jordan"], ["HMP Leeds"]),
    # ----- titles in any case ------------------------------------------------------------------------
    ("social care", "Mrs Okafor was not told about the strategy meeting.", ["Okafor"], ["strategy meeting"]),
    ("health", "dr patel at the surgery made the referral to CAMHS.", ["patel"], ["surgery", "CAMHS"]),
    ("police", "PC Hughes and DS Morgan attended the address.", ["Hughes", "Morgan"], ["attended the address"]),
    ("social care", "mr and mrs kowalski did not engage with Early Help.", ["kowalski"], ["Early Help"]),
    ("education", "Miss Ahmed, the class teacher, noticed the bruising first.", ["Ahmed"], ["class teacher", "bruising"]),
    ("police", "Mr J Walker was arrested for breach of the order.", ["Walker"], ["arrested", "breach of the order"]),
    # ----- phone numbers -----------------------------------------------------------------------------
    ("health", "GP surgery number 0113 496 0000, ask for the duty doctor.", ["496 0000"], ["GP surgery", "duty doctor"]),
    ("social care", "Mum's mobile is 07700 900123 but she rarely answers.", ["900123"], ["rarely answers"]),
    ("police", "Grandad gave us +44 7700 900456 as a contact number.", ["900456"], ["Grandad", "contact number"]),
    ("health", "Dad's number was 07700900789 on the discharge letter.", ["07700900789"], ["discharge letter"]),
    ("social care", "Call 020-7946-0321 to reach the foster carer.", ["7946"], ["foster carer"]),
    # ----- NHS numbers, dates -----------------------------------------------------------------------
    ("health", "NHS no 943 476 5919 was on the wrong record.", ["5919"], ["wrong record"]),
    ("health", "DOB 3/4/2019, weight on the 2nd centile.", ["3/4/2019"], ["2nd centile"]),
    ("social care", "He was born on 3rd April 2016 and moved schools twice.", ["April 2016"], ["moved schools twice"]),
    ("health", "The baby was born in April 2019, six weeks early.", ["April 2019"], ["six weeks early"]),
    ("police", "The incident happened on 14 February, the day before the ICPC.", ["14 February"], ["ICPC"]),
    ("education", "She was excluded on March 3rd, 2020 for fighting.", ["March 3rd"], ["excluded", "fighting"]),
    ("health", "date of birth 12.06.2018, no red book seen", ["12.06.2018"], ["no red book seen"]),
    # ----- addresses, postcodes, schools, contacts ----------------------------------------------------
    ("social care", "They moved to 14b Elm Road, LS6 2QT, in the summer.", ["Elm", "LS6"], ["moved to", "summer"]),
    ("police", "Officers forced entry at flat 7, 22 hawthorn close.", ["hawthorn", "flat 7"], ["forced entry"]),
    ("social care", "The family lives on Acacia Avenue near the park.", ["Acacia"], ["near the park"]),
    ("police", "Several calls came from the Meadowbank Estate last winter.", ["Meadowbank"], ["Several calls", "last winter"]),
    ("education", "The DSL at Oakfield Primary School raised it with us.", ["Oakfield"], ["The DSL", "raised it"]),
    ("education", "He moved from St Mary's Catholic Primary to Greenway Academy.", ["Mary", "Greenway"], ["moved from"]),
    ("health", "Mum emailed kayleigh.b@example.com asking for the notes.", ["kayleigh.b", "example.com"], ["Mum emailed"]),
    ("police", "The older boy was being groomed via @tyler_xo on snapchat.", ["tyler_xo"], ["groomed", "snapchat"]),
    # ----- vehicle registrations (attack 9) -------------------------------------------------------------
    ("police", "The car, reg AB12 CDE, was seen outside the school at 3pm.", ["AB12", "CDE"], ["The car", "outside the school"]),
    ("social care", "Dad's van (registration ab12cde) was parked on the drive all day.", ["ab12cde"], ["Dad's van", "parked on the drive"]),
    ("police", "A PNC check on LB07 SEO came back to a different address.", ["LB07", "SEO"], ["PNC check", "different address"]),
    ("police", "An old Escort, reg A123 BCD, was stopped on the bypass.", ["A123", "BCD"], ["old Escort", "stopped on the bypass"]),
    ("police", "Uncle's car was registration ABC 123D, long since scrapped.", ["ABC 123D"], ["long since scrapped"]),
    ("education", "Y6 SAT results and the Year 10 mocks were both discussed at the TAF.", [], []),
    # ----- what must stay: pseudonyms, roles, vocabulary, everyday words that are names ---------------
    ("social care", "Child A and Baby X were both subject to a child protection plan.", [], []),
    ("police", "Mother B and Mr C refused the Section 47 medical.", [], []),
    ("education", "Will the DSL be at the core group meeting on Monday?", [], []),
    ("social care", "May I suggest we invite the health visitor to the strategy meeting?", [], []),
    ("health", "There is hope that Early Help will reduce repeat referrals.", [], []),
    ("social care", "Grace and humility matter when families feel judged.", [], []),
    ("police", "We should mark the date of the MARAC in our diaries.", [], []),
    ("education", "Hope for the best but plan for the worst, as our head says.", [], []),
    ("health", "Bill the time to the CP medical, not the routine clinic.", [], []),
    ("social care", "It reminded me of the Arthur Labinjo-Hughes and Star Hobson review.", [], []),
    ("police", "Sarah's Law and Clare's Law requests were not made in any case.", [], []),
    ("health", "Safer sleep advice was given at every contact, as Brandon et al. recommend.", [], []),
    ("police", "Does the Lucy Faithfull Foundation run sessions in our area?", [], []),
    ("education", "May's training day and the June INSET both covered this.", [], []),
    ("social care", "The GP, the DSL, the social worker and the IRO all attended the RCPC.", [], []),
    ("education", "We met 3 times in 2017 and again in April 2019 when the review was published.", [], []),
    ("police", "The 2011-14 review found 293 cases; 66 in depth.", [], []),
    ("health", "A RAG rating of Amber was agreed at the MASH.", [], []),
    ("social care", "The Polish family had no recourse to public funds.", [], []),
    ("police", "We will not miss school refusal as a sign of neglect again.", [], []),
    ("health", "Don't assume another agency is already acting on it.", [], []),
    ("social care", "Referred to the LADO after the allegation against the childminder.", [], []),
    ("education", "The Virtual School Head and the SENCO agreed an EHCP review.", [], []),
    ("police", "The College of Policing and the Police Academy both cover this in training.", [], []),
    ("health", "SUDI and SIDS risk factors were discussed with both parents.", [], []),
    ("police", "Over 2 hours at the address, we saw no food in the house.", [], []),
    ("social care", "Joy and sadness were both present in the room.", [], []),
    ("education", "Our team of 12 reviewed page 15 of the briefing together.", [], []),
    ("health", "NHS number 943 476 5910 is not a valid NHS number.", [], []),
    ("social care", "The family court made a care order in June.", [], []),
    ("health", "nana said the baby had been in nicu for a week after the birth", [], []),
    ("health", "Sister Jones on the ward was worried about the bruising.", ["Jones"], ["on the ward", "bruising"]),
    ("police", "Rather than label a young person street-wise, ask what is driving them.", [], []),
]  # fmt: skip


@pytest.mark.parametrize(("sector", "text", "gone", "stays"), CASES, ids=[f"{i:02d}-{c[0]}" for i, c in enumerate(CASES)])
def test_reflection_sentences(sector: str, text: str, gone: list[str], stays: list[str]) -> None:
    result = mask(text)
    if not gone:
        assert result.text == text and not result.changed, f"{sector}: over-masked: {result.text!r}"
        return
    assert result.changed
    for fragment in gone:
        assert fragment not in result.text, f"{sector}: {fragment!r} survived in {result.text!r}"
    for fragment in stays:
        assert fragment in result.text, f"{sector}: {fragment!r} was lost from {result.text!r}"


def test_the_table_is_large_and_balanced() -> None:
    assert len(CASES) >= 60
    assert {c[0] for c in CASES} == {"police", "health", "education", "social care"}
    assert sum(1 for c in CASES if not c[2]) >= 20  # enough must-stay rows to see over-masking


def test_what_was_masked_is_counted_by_kind_for_the_note() -> None:
    result = mask("Mum Kayleigh (07700 900123) lives at 3 Elm Road, LS6 2QT; Tyler's DOB is 2019-04-03.")
    assert result.found == {"name": 2, "phone": 1, "address": 1, "postcode": 1, "date": 1}
    assert result.explanation() == (
        "a name (×2), a phone number, a street address, a postcode, a date (possibly a date of birth)"
    )


def test_masking_is_stable_and_leaves_no_fragment_of_a_name() -> None:
    once = mask("Visited Jenny Smith-Jones and mum Kayleigh at 12 Acacia Avenue.").text
    assert once == "Visited [name removed] and mum [name removed] at [address removed]."
    assert mask(once).text == once  # masking the masked text changes nothing


def test_learning_points_written_in_our_own_words_are_left_alone() -> None:
    """The learning points are practitioner prose with no one's details in them, the same register as
    the reflections they prompt: masking should change none of them, except that a full date is
    always masked, even a review period ("1 April 2011"), since a date next to a child is a likely
    date of birth."""
    corpus = load_corpus(ROOT / "content")
    texts = [t for p in corpus.points for t in (p.title, p.summary, *p.key_messages, *p.questions, p.quote) if t]
    assert len(texts) > 500
    over = [(t, mask(t).text) for t in texts if set(mask(t).found) - {"date"}]
    assert over == []


# ----- the word lists stay in step with the gazetteer ----------------------------------------------
WORD_LIST = Path("/usr/share/dict/british-english")


@pytest.mark.skipif(not WORD_LIST.exists(), reason="Debian's wbritish word list is not installed (CI installs it)")
def test_every_name_that_is_an_everyday_word_is_listed() -> None:
    """A Faker upgrade that adds a name which is also an English word ("brave") must be listed in
    bot/reflections/name_words.py, or lower-case text would start losing everyday words."""
    words = {w.strip() for w in WORD_LIST.read_text(encoding="utf-8", errors="ignore").split() if w.islower()}
    names = gazetteer()
    missing_first = sorted(n for n in names.first if n in words and n not in DICTIONARY_FIRST_NAMES | MOSTLY_NAMES)
    missing_last = sorted(n for n in names.last - names.first if n in words and n not in ORDINARY_SURNAMES)
    assert not missing_first and not missing_last, (missing_first[:50], missing_last[:50])


def test_the_gazetteer_knows_common_uk_names() -> None:
    names = gazetteer()
    assert len(names.first) > 10_000 and len(names.last) > 10_000
    for name in ("kayleigh", "tyler", "jayden", "aisha", "muhammad", "oliver", "amelia", "zainab", "kacper", "cerys",
                 "oluwaseun", "maisie"):
        assert name in names.first, name


def test_the_child_process_reads_the_same_lists_as_an_import_would() -> None:
    """The lists come from a short-lived child process (to keep Faker's modules out of the bot's
    memory); reading them in this process, the fallback, must give the same names."""
    first, last = _read_faker()
    names = gazetteer()
    assert names.first == frozenset(first) | gazetteer_module.UK_EXTRA_FIRST_NAMES and names.last == frozenset(last)


def test_the_lists_still_load_when_no_child_process_can_run(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(gazetteer_module, "_cached", None)
    monkeypatch.setattr("sys.executable", "/nonexistent/python3")
    names = gazetteer()
    assert "kayleigh" in names.first and len(names.first) > 10_000
    assert "reading them here" in caplog.text
    assert mask("mum Kayleigh").text == "mum [name removed]"


@pytest.mark.parametrize("text, numbers", [
    ("tel 01603 123456 07700 900123", ["01603 123456", "07700 900123"]),
    ("ring 0161 496 0000, 07700-900-123 or +44 (0)20 7946 0000", ["0161 496 0000", "07700-900-123", "7946 0000"]),
])  # fmt: skip
def test_every_phone_number_in_a_run_is_masked(text: str, numbers: list[str]) -> None:
    out = mask(text)
    assert out.found["phone"] == len(numbers), out
    assert not [n for n in numbers if n in out.text], out.text


def _best_ms(fn: Any, text: str, calls: int = 3) -> float:
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        fn(text)
        best = min(best, (time.perf_counter() - start) * 1000)
    return best


def test_a_crafted_40_kb_reply_has_every_number_masked_at_linear_cost() -> None:
    """A run of 2,857 hyphenated mobile numbers: each one masked; a reply 4x longer costs about 4x, not 16x."""
    out = mask("0770-090-0123-" * 2857)
    assert out.found["phone"] == 2857 and "0123" not in out.text
    # The e-mail pattern used to backtrack over every dotted word with no "@" after it (quadratic).
    for unit in ("0770-090-0123-", "x."):
        short, long = _best_ms(mask, unit * (10_000 // len(unit))), _best_ms(mask, unit * (40_000 // len(unit)))
        assert long < 8 * short + 20, (unit, short, long)


def test_a_crafted_40_kb_reply_is_masked_in_linear_time() -> None:
    """A run of hyphenated capitalised words ("Ellie-Mae-Ellie-Mae-...") made the school pattern read to the
    end of the run from every capital: 6 s for 40 KB. Now every crafted 40 KB reply costs tens of ms; the
    bound here is generous (a loaded machine) but far below the quadratic cost."""
    import time

    for unit in ("Ellie-Mae-", "0770-090-0123-", "x.", "a@", "jenny smith "):
        text = unit * (40_000 // len(unit))
        started = time.perf_counter()
        out = mask(text)
        assert time.perf_counter() - started < 1.0, unit
        assert "0770" not in out.text
