"""Does this text read as a live concern about a child? The safety net's classifier.

A practitioner who types "a pupil told me her stepdad hurts her what do I do" into ``/scr`` needs to
know how to act now (999, the designated safeguarding lead, local procedures) before any learning, and
a reflection that describes a child on someone's caseload today must not be shared or counted as
learning. This module only decides; it never talks to Slack or Redis, so the same decision is made for
lookups, thread replies and the Reflect form, and it can be tested with a table of sentences
(tests/safety_table.py).

How: a handful of named cues, each a pattern for one way practitioners write about a child they are
worried about now (a disclosure made to them, harm happening now, "I'm worried about a child on my
caseload", "what do I do if a child…"). The first cue that matches is the verdict, with the words that
matched, so a reviewer can see why. Reflections on a case review are usually in the past tense and
about "the child"; cues are written around the first person, the present tense and "a/my/this child",
which is what keeps ordinary learning talk out. A sentence that places itself in the past ("years ago",
"in the review") is not a live concern unless it also says "today" or "just now".

It is a safety net, not a judgement: a missed concern still gets the learning, and a false alarm costs
one calm paragraph of advice. The table's error rates are printed by tests/test_safety.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.content.corpus import Corpus, Point
from bot.content.safety import SafetyAdvice

# A child, as practitioners write one ("a pupil", "one of my Year 9 girls", "my YP").
_CHILD = (r"(?:child|kid|pupil|student|learner|boy|girl|lad|teen|teenager|young person|yp|baby|toddler|infant|"
          r"son|daughter|young man|young woman|client|patient|service user|little one)")
# Words that make "a child" one particular child rather than children in general.
_THIS = r"(?:a|an|my|our|this|that|one|one of (?:my|our|the)|someone in my|a \w+ in my)"
# Someone who may be harming a child, as a child or a practitioner would say it.
_ADULT = (r"(?:step-?dad|step-?father|step-?mum|step-?mother|dad|daddy|father|mum|mummy|mother|mum'?s (?:boyfriend|partner)|"
          r"dad'?s (?:girlfriend|partner)|boyfriend|girlfriend|partner|uncle|auntie|aunt|brother|sister|cousin|grandad|"
          r"grandfather|grandma|nan|carer|foster carer|lodger|neighbour|coach|someone|a man|a woman|an adult|"
          r"an older (?:boy|girl|man)|he|she)")
_NOW = r"(?:today|this morning|this afternoon|tonight|just now|right now|earlier today|an hour ago|yesterday)(?!'s)"
_HARM_NOW = (r"(?:hurts|hits|beats|kicks|punches|slaps|smacks|touches|burns|chokes|strangles|rapes|abuses|starves|"
             r"locks|is (?:hurting|hitting|beating|touching|abusing|starving)|"
             r"has (?:been )?(?:hurting|hitting|beating|touching|abusing|hurt|hit|beaten|touched|abused|raped))")
_CONCERN = (r"(?:disclos\w*|abus\w*|hurt\w*|harm\w*|hit\w*|bruis\w*|injur\w*|marks?|burns?|touch\w*|groom\w*|"
            r"exploit\w*|neglect\w*|black eye|scared|afraid|frightened|unsafe|worried|worry|concern\w*|self-?harm\w*|"
            r"suicid\w*|runaway|missing|assault\w*|rape\w*|beat\w*|violen\w*|threat\w*|kill\w*|nudes|hungry|urgent)")


@dataclass(frozen=True)
class Cue:
    """One way of writing about a live concern: a name a person can read, and the pattern."""

    name: str
    pattern: re.Pattern[str]
    needs_concern: bool = False  # matches only when the text also names a worry (abuse, bruise, disclosed...)
    or_child: bool = False  # ... or, for questions ("what do I do"), names a child ("she", "a pupil")


def _cue(name: str, pattern: str, *, needs_concern: bool = False, or_child: bool = False) -> Cue:
    return Cue(name, re.compile(pattern), needs_concern, or_child)


CUES: tuple[Cue, ...] = (
    _cue("a disclosure made to you",
         rf"\b(?:she|he|{_CHILD})\b[^.?!]{{0,60}}?\b(?:has |had |just |)(?:told|tells|telling|disclosed(?: to)?|"
         r"confided in|said to|whispered to|wrote to|came to)\s+(?:me|us)\b", needs_concern=True),
    _cue("a disclosure made to you",
         rf"\b{_THIS}\s+(?:\w+\s+){{0,2}}?{_CHILD}s?\b[^.?!]{{0,40}}?\b(?:has |have |just |)"
         r"(?:disclosed|made a disclosure|told (?:me|us|her|his|their|a|the|staff|someone))"),
    _cue("a disclosure made to you", rf"\b(?:disclosed to me|disclosure to me|made a disclosure (?:to me|{_NOW}))"),
    _cue("a disclosure made to you", rf"\b(?:she|he) (?:has |just |)(?:disclosed|told (?:me|us|her|his))\b[^.?!]{{0,60}}{_NOW}"),
    _cue("harm to a child happening now", rf"\b{_ADULT}\b[^.?!]{{0,25}}?\b{_HARM_NOW}\s+(?:her|him|them|me|my|us|the baby|the kids|the children|mummy|mum)\b"),
    _cue("harm to a child happening now",
         rf"\b(?:she|he|{_THIS}\s+(?:\w+\s+)?{_CHILD})\s+(?:is|'s|may be|might be|could be|i think is)\s+(?:being|getting)\s+"
         r"(?:abused|hurt|hit|beaten|touched|groomed|exploited|neglected|sexually abused|trafficked|bullied and hurt)"),
    _cue("a child afraid to go home",
         rf"\b(?:(?:she|he|they|{_CHILD})\b(?:[^.?!]{{0,30}}?\s)?\s*(?:is|'s|are|seems|says (?:she|he|they) (?:is|are)) (?:really |very |so |too )?(?:scared|afraid|frightened|terrified) "
         r"(?:of (?:her|his|their) |of going (?:home|back)|to go home|to go back)|(?:doesn'?t|does not|won'?t|will not|refuses to|refused to) "
         r"(?:want to )?go (?:back )?home)"),
    _cue("a child with an injury now",
         r"\b(?:came|comes|come|arrived|turned up|has come|is)\s+(?:in|into \w+|to \w+|back)?\s*(?:today |this morning |again )?"
         r"with\s+(?:a |an |some |another |new |fresh )?(?:bruise|bruises|bruising|mark|marks|burn|burns|injury|injuries|"
         r"cut|cuts|black eye|handprint|fracture|bite mark)"),
    _cue("a child with an injury now",
         r"\b(?:she|he)\s+(?:has|'s got|has got)\s+(?:a |an |some |new |fresh )?(?:bruise|bruises|bruising|marks|burn|"
         r"black eye|handprint|injury)"),
    _cue("a worry about a child now",
         r"\b(?:i'?m|i am|we'?re|we are|i'?ve been|i have been|i feel|i'?m really|i'?m very|i'?m getting)\s+"
         r"(?:really |very |so |quite |a bit |a little |increasingly |)(?:worried|concerned|anxious|scared|uneasy|frightened)\s+"
         rf"(?:about|for)\s+(?:her|him|{_THIS}\s+(?:\w+\s+){{0,2}}?{_CHILD})\b"),
    _cue("a worry about a child now",
         rf"^(?:really |very |so |)(?:worried|concerned) (?:about|for) (?:her|him|{_THIS}\s+(?:\w+\s+){{0,2}}?{_CHILD})\b"),
    _cue("a worry about a child now",
         r"\bi (?:have|'ve got|need to (?:report|raise|share|pass on)|want to (?:report|raise)|must (?:report|raise)|"
         r"think i need to (?:report|raise))\s+(?:a |an |this |my |some )?(?:safeguarding |child protection |cp |urgent )?"
         r"(?:concern|disclosure|worry|worries|referral)"),
    _cue("a worry about a child now",
         rf"\b(?:(?:a|one|this|my)\s+(?:\w+\s+)?)?{_CHILD}\s+(?:on my caseload|in my class|in my tutor group|i (?:work|am working|'m working) with|"
         rf"i (?:teach|support|visit|see|saw|look after|care for|mentor))\b", needs_concern=True),
    _cue("a worry about a child now", rf"\b{_NOW}\b", needs_concern=True),
    _cue("asking what to do now",
         r"\b(?:what (?:do|should|shall|must|can) i do|what do i need to do|what are my next steps|what now|"
         r"who (?:do|should|can) i (?:tell|call|ring|contact|report (?:it |this )?to|speak to|talk to|refer to|go to)|"
         r"how do i (?:report|refer|make a referral|raise (?:a|this|my) concern)|where do i (?:report|refer|go)|"
         r"should i (?:report|call|ring|tell|refer|contact|phone)|do i (?:need|have) to (?:report|tell|refer|call)|"
         r"what (?:do|should) we do now|what to do (?:if|when) (?:a|my|this) (?:\w+ )?" + _CHILD + r"|"
         r"(?:not sure|don'?t know|unsure) what to do|(?:not sure|don'?t know|unsure) who to (?:tell|call|contact))\b",
         needs_concern=True, or_child=True),
)

# Where a sentence says it is about the past or about a published review rather than a child now.
_ELSEWHERE = re.compile(
    r"\b(?:years ago|a long time ago|when i (?:was|first|started|trained)|earlier in my career|"
    r"in my (?:last|previous|old|first) (?:job|role|post|team)|in the (?:case )?review|the review (?:found|says|said)|"
    r"in the briefing|in this briefing|the scr|in training|in a scenario|role-?play)\b"
)
_NOW_RE = re.compile(r"\b(?:today|this morning|this afternoon|tonight|just now|right now|earlier today)(?!'s)\b")
_CONCERN_RE = re.compile(rf"\b{_CONCERN}")
_CHILD_RE = re.compile(rf"\b(?:she|he|her|him|{_CHILD})\b")


@dataclass(frozen=True)
class Verdict:
    """What made the text read as a live concern: the cue's name and the words that matched."""

    cue: str
    matched: str


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, Slack markup (links, mentions) and extra spaces gone."""
    text = re.sub(r"<[^>]*>", " ", text or "")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("&#39;", "'").replace("&amp;", "&")
    text = re.sub(r"\s+", " ", text).strip().lower()
    return re.sub(r"\babt\b", "about", text)


def classify(text: str) -> Verdict | None:
    """A verdict when ``text`` reads as a current concern about a particular child; None otherwise."""
    low = normalise(text)
    if not low:
        return None
    if _ELSEWHERE.search(low) and not _NOW_RE.search(low):
        return None  # a memory, a training scenario or a published review: learning, not a live case
    child = bool(_CHILD_RE.search(low))
    concern = bool(_CONCERN_RE.search(low)) and child
    for cue in CUES:
        if cue.needs_concern and not (concern or (cue.or_child and (child or _CONCERN_RE.search(low)))):
            continue
        found = cue.pattern.search(low)
        if found:
            return Verdict(cue.name, found.group(0).strip())
    return None


@dataclass(frozen=True)
class SafetyNote:
    """The part of an answer shown before anything else: the advice (content/safety.yaml) and why it shows."""

    advice: SafetyAdvice
    verdict: Verdict


def learning(corpus: Corpus) -> list[Point]:
    """The learning that follows the steps (disclosure, listening, voice of the child), chosen by the
    themes and words content/safety.yaml names: points whose own text uses more of the words first,
    practice learning before key data, background never."""
    advice = corpus.safety
    if advice is None:
        return []
    words = [normalise(w) for w in advice.learning.words]
    themes = set(advice.learning.themes)

    def mentions(p: Point) -> int:
        own = normalise(" ".join([p.title, p.summary, *p.key_messages]))
        return sum(1 for w in words if re.search(rf"\b{re.escape(w)}", own))

    chosen = [p for p in corpus.points if p.kind != "background" and (themes & set(p.themes) or mentions(p))]
    order = {p.id: i for i, p in enumerate(corpus.points)}
    return sorted(chosen, key=lambda p: (-mentions(p), p.kind != "practice", not (themes & set(p.themes)), order[p.id]))
