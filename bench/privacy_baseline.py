"""The masking in bot/reflections/masking.py as it was before names without a title, phonenumbers and the
gazetteer (issue 9): kept only as the baseline that bench/bench_privacy.py measures against."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Master|Mister|Madam|Sir|Dame|Rev|Revd)\.?"
NAME = re.compile(rf"\b{TITLES}\s+[A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+)?")
EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
PHONE = re.compile(
    r"(?<![\w+])(?:\+44\s?\(?0?\)?\s?|0)(?:\d\s?){9,10}(?![\w])"
)
NHS = re.compile(r"(?<!\d)(\d{3})[\s\-]?(\d{3})[\s\-]?(\d{4})(?!\d)")
POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s*\d[A-Z]{2}\b", re.IGNORECASE)
MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
DATE = re.compile(
    rf"\b(?:\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:\d{{4}}|\d{{2}})|\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS}\s+\d{{4}}|{MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b",
    re.IGNORECASE,
)
STREET = re.compile(
    r"\b\d{1,4}[a-zA-Z]?,?\s+(?:[A-Z][a-z']+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Cl|Drive|Dr|Way|"
    r"Crescent|Cres|Court|Ct|Place|Pl|Gardens|Gdns|Terrace|Grove|Walk|Mews|Square|Sq|Row|Hill|Park|View|Rise)\b\.?"
)

LABELS = {
    "name": "a name with a title",
    "email": "an email address",
    "phone": "a phone number",
    "nhs": "an NHS number",
    "postcode": "a postcode",
    "date": "a date (possibly a date of birth)",
    "address": "a street address",
}


def nhs_number_is_valid(digits: str) -> bool:
    """The NHS number check digit: modulus 11 with weights 10..2 over the first nine digits."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


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


def mask(text: str) -> Masked:
    found: Counter[str] = Counter()

    def sub(pattern: re.Pattern[str], kind: str, value: str, s: str, check=None) -> str:  # noqa: ANN001
        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m):
                return m.group(0)
            found[kind] += 1
            return value

        return pattern.sub(repl, s)

    out = text or ""
    out = sub(EMAIL, "email", "[email removed]", out)
    out = sub(NHS, "nhs", "[NHS number removed]", out, check=lambda m: nhs_number_is_valid("".join(m.groups())))
    out = sub(DATE, "date", "[date removed]", out)
    out = sub(PHONE, "phone", "[phone number removed]", out)
    out = sub(STREET, "address", "[address removed]", out)
    out = sub(POSTCODE, "postcode", "[postcode removed]", out, check=_plausible_postcode)
    out = sub(NAME, "name", "[name removed]", out)
    return Masked(out, found)


def _plausible_postcode(m: re.Match[str]) -> bool:
    # "in 2017 3rd" style false positives are avoided by requiring the outward code to start with letters
    token = m.group(0).replace(" ", "")
    return token[0].isalpha() and any(c.isdigit() for c in token[:4])
