"""Mask likely identifying details before a reflection is stored.

Reflections are about learning, not about families: the regulators ask for anonymised reflective
accounts, and a team chat is no place for case details. Before anything is stored we mask people's
names (with or without a title, "Mrs Jones", "mum Kayleigh", "Jenny Smith"), UK and international
phone numbers in any common format (each of a run; international ones checked by Google's `phonenumbers`), NHS numbers (only those with a valid
check digit, so ordinary numbers are left alone), postcodes, dates (possible dates of birth), email
addresses, social media handles, street addresses, school or nursery names and vehicle registrations. SCR-style pseudonyms
("Child A", "Mother B", "Mr C"), roles and safeguarding vocabulary are left as they are. The author
is told privately what was masked and why.

It is a safety net, not a guarantee: it works from patterns and a first-name gazetteer
(`bot.reflections.gazetteer`), so it can miss a rare name written in lower case or an unusual address, and it
deliberately leaves names that are also ordinary words ("Will", "May", "Hope", "Grace") alone unless
something else marks them as a name ("mum Grace", "Grace Smith", "Hope (4)"). README says the same.

How: every detector finds spans in the original text, in priority order (an email before a handle,
an NHS number before a phone number, an address before a name); a span that overlaps one already
taken is dropped; the text is rebuilt once. Protected spans (pseudonyms, published case names) take
part in that contest so nothing inside them is masked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import phonenumbers

from bot.reflections.gazetteer import Gazetteer, gazetteer
from bot.reflections.name_words import MOSTLY_NAMES, ORDINARY_FIRST_NAMES, ORDINARY_SURNAMES, PLACES_AND_DATES

LABELS = {
    "name": "a name",
    "email": "an email address",
    "handle": "a social media handle",
    "phone": "a phone number",
    "nhs": "an NHS number",
    "postcode": "a postcode",
    "date": "a date (possibly a date of birth)",
    "address": "a street address",
    "school": "a school or nursery name",
    "vehicle": "a vehicle registration",
}
REPLACEMENT = {
    "name": "[name removed]",
    "email": "[email removed]",
    "handle": "[handle removed]",
    "phone": "[phone number removed]",
    "nhs": "[NHS number removed]",
    "postcode": "[postcode removed]",
    "date": "[date removed]",
    "address": "[address removed]",
    "school": "[school removed]",
    "vehicle": "[vehicle reg removed]",
}
KEEP = ""  # the kind of a protected span: kept as written

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ----- words -----------------------------------------------------------------------------------
# Never a name, whatever the gazetteer says (some are names somewhere: "Sudi", "Al", "Theres").
VOCABULARY = _words(
    """
    child children baby babies mum mummy mother dad daddy father parent parents carer carers family families
    social worker workers health visitor visitors gp gps dsl dsls marac mash mappa camhs lado iro cin cp cpp
    lac cla sudi sids cse cce fgm dv da ehcp senco send sen icpc rcpc plo ofsted nspcc cafcass childline nhs
    ed hv sw early help police school schools nursery hospital court team section plan strategy meeting
    conference review practice learning safeguarding neglect abuse home visit case report unit ward clinic
    centre service services board partnership trust council authority agency panel lscb lscp scr cspr
    serious protection need needs looked care theres al ras mosovo et midwife nurse paediatrician consultant
    health-visitor teacher head headteacher designated lead officer constable sergeant inspector detective
    nicu scbu picu
    """
)
FUNCTION_WORDS = _words(
    """
    the a an and but or so we i he she they it this that these those there then when while after before if
    as at in on to of for with from by his her their our my your its was were is are be been had has have
    did do does not no yes also all any some each every both one two who what which where why how mr mrs ms
    """
)
# Words that, right before a capitalised word, mark it as a person's name even if no list knows it.
KIN = _words(
    """
    mum mummy mother mom dad daddy father stepdad stepmum stepfather stepmother step-dad step-mum son sons
    daughter daughters brother brothers sister sisters sibling siblings half-brother half-sister twin
    partner boyfriend girlfriend husband wife ex ex-partner nan nana nanna gran granny grandma grandmother
    grandad grandpa grandfather aunt auntie aunty uncle cousin niece nephew lodger neighbour friend called
    named nicknamed aka childminder babysitter
    """
)
# Weaker cues: enough for a name that is also a word ("baby Hope"), not for any capitalised word
# ("child Protection").
CUES = KIN | _words("child baby toddler infant boy girl teenager pupil student carer")
CALENDAR = _words(
    """
    january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday easter christmas ramadan eid diwali
    """
)
# A token after one of these is part of an institution's name ("St Thomas'", "Queen Elizabeth").
ORG_PREFIX = _words("st saint queen king prince princess royal lady lord mount port fort san santa")
NATIONALITIES = _words(
    """
    polish romanian british english irish scottish welsh asian black white muslim traveller travellers roma
    gypsy somali syrian afghan kurdish eritrean nigerian ghanaian pakistani bangladeshi indian chinese
    vietnamese albanian lithuanian latvian turkish arab jewish christian catholic hindu sikh european african
    caribbean foster host birth extended wider whole other same next first second third new previous
    """
)
# Surnames that are also words but, next to a first name, are nearly always the surname ("Jenny Smith").
WORD_SURNAMES = _words(
    """
    smith brown white green wood hall baker walker wright turner cooper hill king ward price clay mason
    fisher hunter miller butler carter parker young black grey gray long little bell rose lee reed
    """
)
# Published case names from national reviews and inquiries, laws named after children, and
# safeguarding organisations named after people: team learning refers to them by name.
PUBLIC_CASES = (
    "Victoria Climbié", "Victoria Climbie", "Peter Connelly", "Baby Peter", "Daniel Pelka", "Khyra Ishaq",
    "Hamzah Khan", "Keanu Williams", "Arthur Labinjo-Hughes", "Star Hobson", "Logan Mwangi", "Ellie Butler",
    "Dylan Seabridge", "Poppi Worthington", "Maria Colwell", "Jasmine Beckford", "Sarah's Law", "Clare's Law",
    "Sarah’s Law", "Clare’s Law", "Lucy Faithfull Foundation", "Great Ormond Street", "Alder Hey",
)  # fmt: skip

# ----- patterns --------------------------------------------------------------------------------


def _word_start(*words: str) -> str:
    """An alternation of literal words, each only at the start of a word (what a leading ``\\b`` says).

    Written as ``Child(?<!\\wChild)|...`` rather than ``\\b(?:Child|...)``: a pattern that begins with
    literals lets the regex engine skip to the next possible first letter, while a leading ``\\b`` (or
    ignoring case) makes it try a full match at every position: several times slower on a 40 KB reply.
    """
    return "|".join(f"{re.escape(w)}(?<!\\w{re.escape(w)})" for w in words)


PSEUDONYM_HEADS = (
    "Child", "Baby", "Mother", "Father", "Sibling", "Family", "Adult", "Parent", "Person", "Young Person", "Case",
    "Subject", "Mr", "Mrs", "Ms", "Miss", "Male", "Female", "Boy", "Girl", "Infant", "Carer",
)  # fmt: skip
PROTECTED = re.compile(  # "Child A", not "Mr J Smith"
    rf"(?:{_word_start(*PSEUDONYM_HEADS)})\s+[A-Z]\d?(?![\w'’.]|\.?\s+[A-Z][a-z])"
)
# Matched against the lower-cased text (see ``_lower``), like every ``*_LOW`` pattern: ignoring case
# in the pattern itself costs a full match attempt at every position.
PUBLIC_CASES_LOW = re.compile("|".join(re.escape(name.lower()) for name in PUBLIC_CASES))
EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")  # what _emails finds (its pieces below)
EMAIL_LOCAL_RUN = re.compile(r"[\w.+\-]+")  # matched on the reversed text, back from an "@"
EMAIL_WORD = re.compile(r"\w")
EMAIL_DOMAIN = re.compile(r"[\w\-]+(?:\.[\w\-]+)+\b")
# An "@" that a domain with a dot can follow: each is read up to the next character that is not a domain
# character (an "@" is not), so finding them all is linear; only these are looked at one by one.
EMAIL_AT = re.compile(r"@(?=[\w\-]+\.[\w\-])")
# A run of digits with the separators people write in phone numbers; one character class, so linear.
DIGIT_RUN = re.compile(r"[+(]*\d[\d()\-. \t/]*")
DIGIT_GROUP = re.compile(r"\d+")
PHONE_MAX_DIGITS = 15  # E.164
PHONE_GAP = 3  # at most this many separators between two groups of one number ("0161 - 496", ") ")
HANDLE = re.compile(r"(?<![\w@<|/.])@[A-Za-z0-9_][A-Za-z0-9_.]{1,29}(?<!\.)")
NHS = re.compile(r"(\d(?<!\d\d)\d\d)[\s\-]?(\d{3})[\s\-]?(\d{4})(?!\d)")  # no leading lookbehind: faster
# UK vehicle registrations. The current format (since 2001, "AB12 CDE") is masked wherever it is written
# in capitals; in any case, and the older prefix ("A123 BCD") and suffix ("ABC 123D") formats, only after
# a word about a vehicle ("reg", "car", "plate"...): on their own those shapes are too close to "Y6 SAT".
_REG_NOW = r"[A-Z]{2}\d{2} ?[A-Z]{3}"
_REG_OLD = r"[A-Z]\d{1,3} ?[A-Z]{3}|[A-Z]{3} ?\d{1,3}[A-Z]"
VEHICLE = re.compile(rf"(?<![\w/])(?:{_REG_NOW})(?![\w/])")
VEHICLE_CUED_LOW = re.compile(
    r"\b(?:reg(?:istration)?|(?:number )?plates?|vehicle|car|van|motorbike|moped|taxi|lorry)(?:\s+(?:no|number))?"
    rf"\.?:?\s+(?:was\s+|is\s+)?(?P<reg>{_REG_NOW.lower()}|{_REG_OLD.lower()})(?![\w/])"
)
POSTCODE_LOW = re.compile(r"\b(?:[a-z]{1,2}\d[a-z\d]?|gir)\s*\d[a-z]{2}\b")
_MONTH = (  # lower case: the date patterns are matched against the lower-cased text
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
DATE_LOW = re.compile(
    rf"(?<![\w/.\-])(?:"
    rf"\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})"  # 3/4/2019, 03.04.19
    rf"|{_YEAR}[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:[12]\d|3[01]|0?[1-9])"  # 2019-04-03
    rf"|(?P<d1>{_DAY})(?:\s+of)?\s+(?P<m1>{_MONTH})(?:,?\s+(?P<y1>{_YEAR}|'\d\d))?"  # 3rd (of) April (2019)
    rf"|(?P<m2>{_MONTH})\s+(?P<d2>{_DAY})(?:,?\s+(?P<y2>{_YEAR}))?"  # April 3rd(, 2019)
    rf")(?![\w/\-])"
)
BIRTH_DATE_LOW = re.compile(
    rf"\b(?:born|dob|d\.o\.b\.?|date of birth|birthday)\s*[:\-]?\s*(?:in\s+|on\s+)?"
    rf"(?P<date>(?:{_MONTH}\s+)?{_YEAR}|{_MONTH})\b"
)
_SUFFIX_ALL = (
    r"Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Cl|Drive|Dr|Way|Crescent|Cres|Court|Ct|Place|Pl|Gardens|Gdns"
    r"|Terrace|Grove|Walk|Mews|Square|Sq|Row|Hill|Park|View|Rise"
)
_SUFFIX_STRONG = r"Street|Road|Avenue|Lane|Crescent|Drive|Gardens|Terrace|Grove|Mews|Close"
# Every suffix above, lower case (each street pattern needs one of them): see ``_any_in``.
STREET_SUFFIXES_LOW = tuple(_SUFFIX_ALL.lower().split("|"))
STRONG_SUFFIXES_LOW = tuple(_SUFFIX_STRONG.lower().split("|"))
STREET_NUMBERED = re.compile(rf"\b\d{{1,4}}[a-zA-Z]?,?\s+(?:[A-Z][a-z'’]+\s+){{1,3}}(?:{_SUFFIX_ALL})\b")
STREET_ANY_CASE_LOW = re.compile(
    rf"\b\d{{1,4}}[a-z]?,?\s+(?P<words>(?:[a-z'’]+\s+){{1,2}})(?:{_SUFFIX_STRONG.lower()}|rd|ave|st)\b"
)
STREET_UNNUMBERED = re.compile(rf"\b(?P<words>(?:[A-Z][a-z'’]+\s+){{1,2}})(?:{_SUFFIX_STRONG})\b")
FLAT_LOW = re.compile(r"\bflat\s+\d{1,4}[a-z]?\b")
ESTATE = re.compile(r"\b(?P<words>(?:[A-Z][a-z'’]+\s+){1,2})[Ee]state\b")
SCHOOL_KINDS_LOW = ("primary", "academy", "nursery", "infant", "junior", "college", "school", "secondary")
SCHOOL = re.compile(
    r"(?<![\w'’\-])(?P<words>(?:(?:St\.?|Saint)\s+)?(?:[A-Z][\w'’\-]+\s+){1,3})"
    r"(?:Primary|Academy|Nursery|Infants?|Junior|College|School|Pre-?[Ss]chool|High\s+School|Secondary)"
    r"(?:\s+(?:School|Academy))?\b"
)
_TITLES = (
    r"Mr|Mrs|Ms|Miss|Mx|Dr|Master|Mister|Madam|Sir|Dame|Rev|Revd|Prof|Cllr|PC|DC|DS|DI|DCI|DCS|Sgt|Sergeant|Insp"
    r"|Inspector|PCSO|Det"
)
TITLED = re.compile(rf"\b(?:{_TITLES})\.?\s+(?:[A-Z]\.?\s+){{0,2}}[A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+)?")
# A title in any case, then a name starting in lower case ("mrs jones"): matched against the lower-cased
# text, the name's case checked in the original; the name is a lookahead so that a candidate whose name
# turns out capitalised does not hide one that starts inside it.
TITLED_LOWER_LOW = re.compile(r"\b(?P<title>mr|mrs|mx|ms|miss|dr|sir|madam|dame)\.?\s+(?=(?P<name>[a-z][\w'’\-]+))")
FAMILY_OF = re.compile(
    r"\b[Tt]he\s+(?P<name>[A-Z][\w'’\-]+)\s+(?:family|families|household|children|siblings|twins|boys|girls|home)\b"
)
TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
AGE_AFTER = re.compile(r"\s*(?:\(\s*\d{1,2}\s*(?:yrs?|years?|months?|m|y)?\s*\)|,?\s+aged?\s+\d)")
PSEUDONYM_AFTER = re.compile(r"\s+(?:[A-HJ-Z]|\d{1,2})(?![\w'’])")
ET_AL_AFTER = re.compile(r"\s+et\.?\s+al\b")
MANY_DIGITS = re.compile(r"\d(?:[\s\-().]*\d){8}")
SCHOOL_GENERIC = _words(
    """
    the a an her his their our my your this that primary secondary special virtual forest nursery infant
    infants junior high grammar sunday boarding independent free local sixth form further education early
    years pupil referral hospital royal medical university community church catholic c e of new previous
    current old mainstream alternative residential day home private state faith girls boys mixed all
    through upper lower middle first welsh english each every same different other another both which what
    whose at in to from when after before if as on then so but and we i she he they it while where because
    police policing nursing social work safeguarding training leadership national regional county city
    """
)
ADDRESS_STOP = _words(
    """
    the a an at in on to of for and or with from by times time weeks week days day months month years year
    hours hour minutes minute mins min hrs hr miles mile km yards metres doors houses streets more other very
    visits children people staff sessions calls nights
    """
)

Span = tuple[int, int, str]


@dataclass
class Masked:
    text: str
    found: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(self.found)

    def explanation(self) -> str:
        """What was masked, in words, for the private note to the author."""
        parts = [f"{LABELS[k]}" + (f" (×{n})" if n > 1 else "") for k, n in self.found.items()]
        return ", ".join(parts)


def nhs_number_is_valid(digits: str) -> bool:
    """The NHS number check digit: modulus 11 with weights 10..2 over the first nine digits."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def mask(text: str) -> Masked:
    """The text with identifying details replaced, and a count of what was replaced, by kind."""
    text = text or ""
    names = gazetteer()
    low = _lower(text)
    taken = _Taken(len(text))
    detectors: tuple[Callable[[str, str], Iterator[Span]], ...] = (
        _protected, _emails, _handles, _nhs_numbers, _dates, _phones, _addresses, _vehicles, _postcodes, _schools,
        _titled_names,
    )  # fmt: skip
    for detector in detectors:
        taken.take(detector(text, low))
    taken.take(_names(text, names, taken))
    taken.take(_family_names(text, names))
    found: Counter[str] = Counter()
    out, pos = [], 0
    for start, end, kind in sorted(taken.spans):
        if kind == KEEP:
            continue
        out += [text[pos:start], REPLACEMENT[kind]]
        found[kind] += 1
        pos = end
    out.append(text[pos:])
    return Masked("".join(out), found)


def _lower(text: str) -> str:
    """The text in lower case, character for character, so that a match in it is a span of the text.

    The ``*_LOW`` patterns are matched against this instead of ignoring case, which makes the regex
    engine try a full match at every position (a third of the masking time on a 40 KB reply). The few
    characters whose lower case is longer than one character ("İ") are left as they are.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(lc := c.lower()) != 1 else lc for c in text)


class _Taken:
    """Spans accepted so far; a character map makes the overlap test O(span), not O(spans)."""

    def __init__(self, length: int) -> None:
        self.spans: list[Span] = []
        self.used = bytearray(length)

    def free(self, start: int, end: int) -> bool:
        return self.used.find(1, start, end) == -1

    def take(self, candidates: Iterator[Span]) -> None:
        for span in candidates:
            start, end, _ = span
            if start < end and self.free(start, end):
                self.spans.append(span)
                self.used[start:end] = b"\x01" * (end - start)


# ----- detectors -------------------------------------------------------------------------------
def _protected(text: str, low: str) -> Iterator[Span]:
    for m in PROTECTED.finditer(text):
        yield m.start(), m.end(), KEEP
    for m in PUBLIC_CASES_LOW.finditer(low):
        yield m.start(), m.end(), KEEP


def _emails(text: str, low: str) -> Iterator[Span]:
    """What ``EMAIL`` matches, found from each "@" outwards: linear in the text.

    ``EMAIL.finditer`` tries every start position and backtracks over the whole run of name characters
    before failing when no "@" follows: quadratic, seconds of CPU on a crafted 40 KB reply. Here each "@"
    reads back to the start of its local part (never past the previous "@", which is not a local-part
    character) and forward over its domain, so every character is read a bounded number of times.
    """
    if "@" not in text:
        return
    rev = text[::-1]
    n, last_end = len(text), 0
    for at_sign in EMAIL_AT.finditer(text):
        at = at_sign.start()
        run = EMAIL_LOCAL_RUN.match(rev, n - at)
        start = at - (run.end() - run.start()) if run else at
        # EMAIL's leading \b: the local part starts at the run's first word character.
        first = EMAIL_WORD.search(text, start, at)
        domain = EMAIL_DOMAIN.match(text, at + 1)
        if first and domain and first.start() >= last_end:
            last_end = domain.end()
            yield first.start(), domain.end(), "email"


def _handles(text: str, low: str) -> Iterator[Span]:
    for m in HANDLE.finditer(text):
        yield m.start(), m.end(), "handle"


def _nhs_numbers(text: str, low: str) -> Iterator[Span]:
    for m in NHS.finditer(text):
        if nhs_number_is_valid("".join(m.groups())):
            yield m.start(), m.end(), "nhs"


def _dates(text: str, low: str) -> Iterator[Span]:
    for m in DATE_LOW.finditer(low):
        month_group = "m1" if m.start("m1") >= 0 else "m2"
        month = text[m.start(month_group) : m.end(month_group)]  # as written: "may" is a verb, "May" a month
        has_year = bool(m.group("y1") or m.group("y2"))
        day = m.group("d1") or m.group("d2") or ""
        if month and not has_year:
            # "may"/"mar" in lower case are verbs; "May 3" with no year or ordinal is too weak to act on
            if month.rstrip(".") in ("may", "mar"):
                continue
            if m.group("m2") and month.rstrip(".").lower() == "may" and not day[-2:].isalpha():
                continue
        yield m.start(), m.end(), "date"
    for m in BIRTH_DATE_LOW.finditer(low):
        yield m.start("date"), m.end("date"), "date"


def _phones(text: str, low: str) -> Iterator[Span]:
    """Every phone number, including each of several written one after another ("01603 123456 07700 900123").

    ``phonenumbers.PhoneNumberMatcher`` takes a run of digit groups as one candidate and finds at most
    one number in it (so all but one of a run stayed visible), and a long crafted run cost it a third
    of a second. Here a run is split into its digit groups; from each group that can start a number we
    take the longest following groups that make a possible number, mask it, and go on after it. Each
    start looks at most ``PHONE_MAX_DIGITS`` digits ahead: linear in the text.
    """
    if not MANY_DIGITS.search(text):
        return  # cheap: no run of nine or more digits, so no phone number
    for run in DIGIT_RUN.finditer(text):
        groups = [(m.start(), m.end()) for m in DIGIT_GROUP.finditer(text, run.start(), run.end())]
        i = 0
        while i < len(groups):
            found = _phone_at(text, groups, i, run.start())
            if found is None:
                i += 1
                continue
            j, start = found
            yield start, groups[j][1], "phone"
            i = j + 1


def _phone_at(text: str, groups: list[tuple[int, int]], i: int, run_start: int) -> tuple[int, int] | None:
    """(index of the last group, start) of the longest possible phone number starting at group ``i``."""
    start = groups[i][0]
    while start > run_start and text[start - 1] in "+(":
        start -= 1  # "+44", "(01603)"
    lead = text[start:groups[i][0]].replace("(", "")
    # As people write phone numbers: a leading 0, +, 00 or "(0"; at least ten digits. This keeps
    # years, ranges ("2011-14"), counts and invalid NHS numbers out.
    if not (lead == "+" or text[groups[i][0]] == "0"):
        return None
    digits, best, j = 0, None, i
    while j < len(groups):
        if j > i and groups[j][0] - groups[j - 1][1] > PHONE_GAP:
            break
        digits += groups[j][1] - groups[j][0]
        if digits > PHONE_MAX_DIGITS:
            break
        if digits >= 10 and _possible(
            text[start : groups[j][1]], digits, international=lead == "+" or text.startswith("00", groups[i][0])
        ):
            best = j
        j += 1
    return (best, start) if best is not None else None


def _possible(candidate: str, digits: int, *, international: bool) -> bool:
    """A possible number: a UK national number is 0 and ten or eleven digits in all; others ask phonenumbers.

    ``digits`` is the candidate's digit count, which the caller already has: counting them again here
    was a fifth of the masking time on a crafted run of numbers.
    """
    if not international:
        return digits in (10, 11)
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(candidate, "GB"))
    except phonenumbers.NumberParseException:
        return False


def _any_in(low: str, words: tuple[str, ...]) -> bool:
    """Whether any of the words occurs in the lower-cased text: a substring scan in C, microseconds on
    40 KB, so a pattern that needs one of them is not tried at every capitalised word of a text that has none."""
    return any(w in low for w in words)


def _addresses(text: str, low: str) -> Iterator[Span]:
    if _any_in(low, STREET_SUFFIXES_LOW):
        for m in STREET_NUMBERED.finditer(text):
            yield m.start(), m.end(), "address"
        for m in STREET_ANY_CASE_LOW.finditer(low):
            if not any(w.lower() in ADDRESS_STOP for w in m.group("words").split()):
                yield m.start(), m.end(), "address"
    patterns = (STREET_UNNUMBERED,) if _any_in(low, STRONG_SUFFIXES_LOW) else ()
    patterns += (ESTATE,) if "estate" in low else ()
    for pattern in patterns:
        for m in pattern.finditer(text):
            words = m.group("words").split()
            while words and words[0].lower() in SCHOOL_GENERIC | {"high", "main", "housing"}:
                words.pop(0)
            if words:
                start = m.end() - len(m.group(0)) + m.group(0).index(words[0])
                yield start, m.end(), "address"
    for m in FLAT_LOW.finditer(low):
        yield m.start(), m.end(), "address"


def _vehicles(text: str, low: str) -> Iterator[Span]:
    for m in VEHICLE_CUED_LOW.finditer(low):
        yield m.start("reg"), m.end("reg"), "vehicle"
    for m in VEHICLE.finditer(text):
        yield m.start(), m.end(), "vehicle"


def _postcodes(text: str, low: str) -> Iterator[Span]:
    for m in POSTCODE_LOW.finditer(low):
        # "in 2017 3rd" style false positives are avoided by requiring the outward code to start with letters
        token = m.group(0).replace(" ", "")
        if token[0].isalpha() and any(c.isdigit() for c in token[:4]):
            yield m.start(), m.end(), "postcode"


def _schools(text: str, low: str) -> Iterator[Span]:
    if not _any_in(low, SCHOOL_KINDS_LOW):
        return
    for m in SCHOOL.finditer(text):
        words = m.group("words").split()
        while words and words[0].lower().strip(".") in SCHOOL_GENERIC:
            words.pop(0)
        if any(w.lower().strip(".'’s") not in SCHOOL_GENERIC | {"st", "saint"} for w in words):
            start = m.start() + m.group(0).index(words[0])
            yield start, m.end(), "school"


def _titled_names(text: str, low: str) -> Iterator[Span]:
    names = gazetteer()
    for m in TITLED.finditer(text):
        yield m.start(), m.end(), "name"
    last_end = 0
    for m in TITLED_LOWER_LOW.finditer(low):
        if m.start() < last_end or not "a" <= text[m.start("name")] <= "z":
            continue  # inside an earlier candidate's name, or the name is capitalised (TITLED's)
        last_end = m.end("name")
        title, name = m.group("title"), m.group("name")
        if name in FUNCTION_WORDS or name in VOCABULARY:
            continue
        if title in ("mr", "mrs", "mx") or _is_name_word(name, names):
            yield m.start(), m.end("name"), "name"


def _is_name_word(low: str, names: Gazetteer) -> bool:
    """A lower-case word that is a name and not also an everyday word."""
    if low in VOCABULARY or low in ORDINARY_FIRST_NAMES or low in ORDINARY_SURNAMES or low in MOSTLY_NAMES:
        return low in WORD_SURNAMES
    return low in names.first or low in names.last


def _is_first_name(low: str, names: Gazetteer, *, cap: bool) -> bool:
    if low in names.first:
        return True
    # "Ellie-Mae", "Smith-Jones", but not "street-wise"; an apostrophe counts only in a whole name
    # the gazetteer knows ("O'Neill"), never "Don't"
    parts = low.split("-")
    return (
        len(parts) > 1
        and all(p in names.first or p in names.last for p in parts)
        and (cap or not any(p in ORDINARY_FIRST_NAMES or p in ORDINARY_SURNAMES for p in parts))
    )


def _names(text: str, names: Gazetteer, taken: _Taken) -> Iterator[Span]:
    """First names from the gazetteer, with what marks an ambiguous one as a name, and the surname after.

    Whether a word can start a name at all is decided once per distinct word, and only those tokens are
    looked at in context: a 40 KB reply has thousands of tokens but few distinct words, and a crafted one
    ("a@a@a@...") has one.
    """
    words = TOKEN.findall(text)
    starts = {w for w in set(words) if _may_start_name(w, names)}
    candidates = [k for k, w in enumerate(words) if w in starts]
    if not candidates:
        return
    tokens = list(TOKEN.finditer(text))
    i = 0
    for k in candidates:
        if k < i:
            continue  # already taken as a surname
        tok = tokens[k]
        i = k + 1
        word = tok.group(0)
        cap = word[0].isupper()
        low = word.lower()
        start, end = tok.span()
        if word[-2:] in ("'s", "’s"):
            word, low, end = word[:-2], low[:-2], end - 2
        known = _is_first_name(low, names, cap=cap)
        prev = _adjacent_before(text, tokens, i - 1)
        prev_low = prev.lower() if prev else ""
        if not known and not (cap and prev_low in KIN):
            continue
        if not taken.free(start, end):
            continue
        if prev_low in ORG_PREFIX or PSEUDONYM_AFTER.match(text, end) or ET_AL_AFTER.match(text, end):
            continue
        if known:
            if cap:
                is_name = low not in ORDINARY_FIRST_NAMES or (
                    prev_low in CUES
                    or bool(AGE_AFTER.match(text, end))
                    or ((nxt := _adjacent_after(text, tokens, i - 1)) is not None and _known_surname(nxt.group(0), names))
                    or (end < tok.end() and low not in CALENDAR)  # "Hope's", "Kent's", not "May's"
                )
            elif low in ORDINARY_FIRST_NAMES:
                is_name = False
            elif low in MOSTLY_NAMES or len(low) < 4:
                is_name = prev_low in CUES
            else:
                is_name = True
        else:  # not in the gazetteer: a capitalised word right after a family word ("mum Kayleigh")
            is_name = low not in ORDINARY_FIRST_NAMES and low not in NATIONALITIES
        if not is_name:
            continue
        # the surname(s) after it
        while i < len(tokens) and (nxt := _adjacent_after(text, tokens, i - 1)) is not None:
            if not _surname(nxt.group(0), names, capitalised=cap):
                break
            end = nxt.end() - (2 if nxt.group(0)[-2:] in ("'s", "’s") else 0)
            i += 1
        yield start, end, "name"


def _may_start_name(word: str, names: Gazetteer) -> bool:
    """What ``_names`` asks of a token before it looks at the words around it."""
    cap = word[0].isupper()
    low = word.lower()
    if not cap and low not in names.first and "-" not in low and "'" not in low and "’" not in low:
        return False  # most words: cheap way out
    if word[-2:] in ("'s", "’s"):
        word, low = word[:-2], low[:-2]
    if (len(word) > 1 and word.isupper()) or low in VOCABULARY or low in FUNCTION_WORDS or low in KIN:
        return False  # "nana", "nan" and "sister" are family words here, not names
    return cap or _is_first_name(low, names, cap=cap)


def _known_surname(word: str, names: Gazetteer) -> bool:
    """A capitalised surname the gazetteer knows ("Grace Smith"), not a word ("Hope House")."""
    return _surname(word, names, capitalised=True) and word.removesuffix("'s").lower() in names.last


def _surname(word: str, names: Gazetteer, *, capitalised: bool) -> bool:
    if word[-2:] in ("'s", "’s"):
        word = word[:-2]
    low = word.lower()
    if low in VOCABULARY or low in FUNCTION_WORDS or low in PLACES_AND_DATES or low in NATIONALITIES:
        return False
    if capitalised:
        if not word[:1].isupper() or (len(word) > 1 and word.isupper()):
            return False
        if low in ORDINARY_SURNAMES or low in ORDINARY_FIRST_NAMES:
            return low in WORD_SURNAMES
        return True  # a capitalised word after a first name: most likely the surname ("Jenny Kowalczyk")
    return word.islower() and _is_name_word(low, names) and low in names.last


def _adjacent_before(text: str, tokens: list[re.Match[str]], i: int) -> str | None:
    if i == 0:
        return None
    prev = tokens[i - 1]
    gap = text[prev.end() : tokens[i].start()]
    return prev.group(0) if gap.strip(" ,") == "" else None


def _adjacent_after(text: str, tokens: list[re.Match[str]], i: int) -> re.Match[str] | None:
    if i + 1 >= len(tokens):
        return None
    nxt = tokens[i + 1]
    gap = text[tokens[i].end() : nxt.start()]
    return nxt if gap and gap.strip(" ") == "" else None


def _family_names(text: str, names: Gazetteer) -> Iterator[Span]:
    """ "the Smith family", "the Kowalczyk children"."""
    for m in FAMILY_OF.finditer(text):
        low = m.group("name").lower()
        if low in VOCABULARY or low in FUNCTION_WORDS or low in NATIONALITIES or low in PLACES_AND_DATES:
            continue
        if (low in ORDINARY_SURNAMES or low in ORDINARY_FIRST_NAMES) and low not in WORD_SURNAMES:
            continue
        yield m.start("name"), m.end("name"), "name"
