"""Personal data: pattern types with validators (e-mail, Luhn-checked cards, mod-97 IBANs, US SSNs, phone numbers
by libphonenumber's numbering plans, IPv4) and, where a policy turns it on, names and places found by Presidio's
NER model; replaced by `<TYPE>` placeholders or stable per-tenant pseudonyms."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import phonenumbers

from llmops.pii.masking import pseudonym
from services.guardrails.lazy import Lazy
from services.guardrails.scanners import Finding, placeholder, without_overlaps

if TYPE_CHECKING:
    from llmops.pii.presidio import PresidioDetector

NER_ENTITIES = ("PERSON", "LOCATION", "NRP")
"""What only a language model finds (the pattern types above are cheaper and validated)."""
NER_MAX_CHARS = 20_000
"""spaCy's cost grows with the text: past this the NER pass reads the start only (patterns read everything)."""


def _ner_detector() -> PresidioDetector:
    from llmops.pii.presidio import PresidioDetector

    return PresidioDetector(min_score=0.4, entities=NER_ENTITIES)


NER = Lazy(_ner_detector)
"""Presidio on spaCy's small English model, loaded on the first policy that turns `pii_ner` on (~2 s)."""

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<!\+)\b(?:\d[ -]?){11,18}\d\b")  # "+44 121 …" is a phone, whatever Luhn says
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN")
"""Regions whose national formats are recognised without a country code; `+` numbers are read for any region."""

_PHONE_GROUP = r"\(\s?\+?\d{1,6}\s?\)"  # an area code or trunk prefix in parentheses: "(020)", "(0)", "(+44)"
_PHONE_SEPARATOR = r"(?:[ \u00a0]?[-./\u2010-\u2015][ \u00a0]?|[ \u00a0]{1,2})"
_PHONE_CANDIDATE = re.compile(
    # Starts a token (not inside a word, an id such as INV-2026-…, a version or an amount), then digit groups
    # joined by the separators phone numbers are written with, then an optional extension. Every repetition
    # starts with a non-digit, so the pattern cannot backtrack catastrophically on long digit runs.
    rf"(?<![\w+#$€£¥.,/-])(?:\+\s?)?(?:{_PHONE_GROUP}|\d+)"
    rf"(?:{_PHONE_SEPARATOR}?{_PHONE_GROUP}|{_PHONE_SEPARATOR}\d+|(?<=\))\d+){{0,12}}"
    r"(?:\s?,?\s?(?:ext\.?|extension|x|\#)\s?\d{1,6})?(?!\w|[.,]\d)",
    re.IGNORECASE,
)
_PHONE_EXTENSION = re.compile(r"\s?,?\s?(?:ext\.?|extension|x|\#)\s?\d{1,6}$", re.IGNORECASE)
_NOT_A_PHONE = re.compile(
    r"\d{4}([-./])\d{1,2}\1\d{1,2}"  # ISO-style date
    r"|\d{1,2}([-./])\d{1,2}\2\d{2}(?:\d{2})?"  # day-month-year, month/day/year
    r"|\d{1,3}(?:\.\d{1,3}){3}"  # IPv4 address (its own scanner)
    r"|\d+[.,]\d+"  # a decimal number
)
_AREA_CODE_IN_PARENS = re.compile(r"\(\d{2,}\)")  # "(020) …", "(555) …"; the trunk "(0)" alone is not one
_TRUNK_AREA_CODE = re.compile(r"\(0\d{1,5}\)(?:[ \u00a0./-]?\d{2,}){1,3}")
"""Trunk and area code in parentheses, then the subscriber number: "(030) 1234567", even where no plan knows it."""
_PHONE_CUE = re.compile(
    r"\b(?:(?:tele|cell|smart|mobile\s?)?phone|tel\b|tél|telef|teléf|mobil|móvil|movil|cell|handy|fax|call|dial"
    r"|whats\s?app|sms|contact|kontakt|rufnummer|portable|hotline)",
    re.IGNORECASE,
)
"""Words that introduce a phone number (a few languages): with one, a plausible unvalidated number counts."""
_ID_LABEL = re.compile(
    r"\b(?:order|invoice|ticket|ref(?:erence)?|serial|isbn|issn|account|acct|tracking|case|sku|part|model|build"
    r"|version|id|customer|client|contract|policy|claim|batch|lot|booking|reservation|confirmation|transaction"
    r"|receipt|item|product|article|patient|member|employee|student|room|flight|zip|post(?:al)?\s?code|page|pp"
    r"|bestell\w*|rechnung\w*|auftrag\w*|kunden\w*|commande|facture|référence|pedido|factura|ordine|fattura)"
    r"(?:\s?(?:no|nr|num|number|nummer|n°|id|code))?\.?\s?[:#]?\s?$",
    re.IGNORECASE,
)
"""A label right before a number that names it as something other than a phone number: "Order no. 0471 …"."""
_CODE_TAIL = re.compile(r"\d[A-Za-z]*[ -]$")  # digits right after "AA1 ": the tail of a longer code, not a phone
_INTERNATIONAL = (
    phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
    phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD,
)


def _breaks_from_end(groups: Sequence[str], within: int) -> set[int]:
    """Where the digit groups break, counted from the last digit, inside the last `within` digits."""
    breaks, remaining = set(), sum(map(len, groups))
    for group in groups[:-1]:
        remaining -= len(group)
        if remaining < within:
            breaks.add(remaining)
    return breaks


def _written_as_national_number(number: phonenumbers.PhoneNumber, main: str, region: str) -> bool:
    """Written as phone numbers are written in the region, in two or more groups: with the area code in
    parentheses, after the trunk prefix ("0…", NANP's "1"), or grouped on the plan's own group boundaries."""
    groups = re.findall(r"\d+", main)
    digits, nsn = "".join(groups), phonenumbers.national_significant_number(number)
    trunk = getattr(phonenumbers.PhoneMetadata.metadata_for_region(region), "national_prefix", None) or ""
    prefix = digits[: len(digits) - len(nsn)]
    if len(groups) < 2 or not digits.endswith(nsn) or prefix not in ("", trunk):
        return False
    plan_groups = re.findall(r"\d+", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    on_plan_breaks = _breaks_from_end(groups, len(nsn)) <= _breaks_from_end(plan_groups, len(nsn))
    if _AREA_CODE_IN_PARENS.search(main):
        return on_plan_breaks or len(plan_groups) == 1  # the plan's grouping, or none known for this number
    if prefix:  # trunk and area code, then the subscriber number
        return on_plan_breaks or (len(groups) == 2 and len(digits) >= 9)
    return groups == plan_groups and len(groups) >= 3 and len(digits) >= 10  # "555 867 5309"


def _phone_score(candidate: str, regions: Sequence[str], *, cued: bool) -> float | None:
    """0.85 for a number valid in its plan; 0.75 for one of a possible length written in phone notation
    (international prefix, area code in parentheses, trunk prefix, the plan's grouping) or introduced by a
    phone word (then 0.85 if also in phone notation); None when the digits are not a phone number."""
    main = _PHONE_EXTENSION.sub("", candidate)
    if not 7 <= sum(ch.isdigit() for ch in main) <= 17 or _NOT_A_PHONE.fullmatch(main):
        return None
    if main.startswith(("+", "(+")):
        number = _possible_number(main, None)
        if number is None:
            return None
        return 0.85 if cued or phonenumbers.is_valid_number(number) else 0.75
    notation = plausible = False
    for region in regions:
        number = _possible_number(main, region)
        if number is None:
            continue
        explicit = number.country_code_source in _INTERNATIONAL  # "0044 …": the region's own dialling prefix
        if phonenumbers.is_valid_number(number) and (explicit or _strictly_grouped(main, region)):
            return 0.85
        national = number.country_code_source == phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY or (
            # NANP's trunk "1" is also its country code: "1-555-…" is read as "+1 555 …"
            number.country_code_source == phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN
            and number.country_code == phonenumbers.country_code_for_region(region)
        )
        notation = notation or explicit or (national and _written_as_national_number(number, main, region))
        plausible = plausible or national
    if notation or _TRUNK_AREA_CODE.fullmatch(main):
        return 0.85 if cued else 0.75
    return 0.75 if cued and plausible else None


def _possible_number(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number `text` reads as in `region` (None: it carries its country code), if its length fits the plan."""
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    possible = phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE
    return number if possible else None


def _strictly_grouped(candidate: str, region: str | None) -> bool:
    """libphonenumber's own check: the whole candidate is one number, grouped as its plan groups it."""
    matcher = phonenumbers.PhoneNumberMatcher(candidate, region, leniency=phonenumbers.Leniency.STRICT_GROUPING)
    return any(m.start == 0 and m.end == len(candidate) for m in matcher)


def scan_phone_numbers(text: str, regions: Sequence[str] = PHONE_REGIONS) -> list[Finding]:
    """Phone numbers in international notation, or national ones of `regions` (libphonenumber's metadata,
    offline): digits count when their length fits a numbering plan and they are written or introduced as a
    phone number, and not when a label right before them names them an order, invoice, account … number."""
    findings = []
    for match in _PHONE_CANDIDATE.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        if _ID_LABEL.search(before) or _CODE_TAIL.search(before):
            continue
        score = _phone_score(match.group(0), regions, cued=_PHONE_CUE.search(before) is not None)
        if score is not None:
            findings.append(Finding("pii", "PHONE_NUMBER", score, match.start(), match.end()))
    return findings


def scan_pii(text: str) -> list[Finding]:
    """Email, card (Luhn), IBAN (mod 97), US SSN, phone and IPv4 addresses."""
    findings: list[Finding] = [Finding("pii", "EMAIL_ADDRESS", 0.99, m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 12 <= len(digits) <= 19 and digits[0] in "123456" and luhn_valid(digits):
            findings.append(Finding("pii", "CREDIT_CARD", 0.95, m.start(), m.end()))
    findings += [
        Finding("pii", "IBAN_CODE", 0.97, m.start(), m.end()) for m in _IBAN.finditer(text) if iban_valid(m.group(0))
    ]
    findings += [Finding("pii", "US_SSN", 0.9, m.start(), m.end()) for m in _SSN.finditer(text)]
    findings += scan_phone_numbers(text)
    findings += [Finding("pii", "IP_ADDRESS", 0.8, m.start(), m.end()) for m in _IPV4.finditer(text)]
    return without_overlaps(findings)


def scan_pii_ner(text: str, detector: PresidioDetector | None = None) -> list[Finding]:
    """Names, places and nationality/religious/political groups (Presidio's NER types), English."""
    spans = (detector or NER.get()).detect(text[:NER_MAX_CHARS])
    return [Finding("pii", s.entity_type, round(s.score, 3), s.start, s.end) for s in spans]


Replacement = Callable[[Finding, str], str]


def replacer(mode: str, salt: str) -> Replacement | None:
    """How redacted personal data reads: `<TYPE>` placeholders (None: the default), or per-tenant pseudonyms."""
    if mode != "pseudonym":
        return None

    def replace(finding: Finding, original: str) -> str:
        return pseudonym(finding.category, original, salt) if finding.scanner == "pii" else placeholder(finding)

    return replace
