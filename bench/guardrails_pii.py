"""Pattern-PII quality on generated data: recall and precision per type, and what redaction leaves behind.

Data: Faker (seed 2026) in five locales writes e-mail addresses, card numbers, IBANs, US SSNs and phone numbers
into varied sentences; as many sentences carry look-alike numbers that are not personal data (order and ticket
numbers, prices, versions, dates, ISBNs), and a fixed list of harder decoys follows once each (labelled ids
shaped like phone numbers, Luhn-invalid card numbers, dates and times in other notations, coordinates, ZIP+4
codes). The set is regenerated identically on every run and written to `bench/results/pii_dev.jsonl`.

Counting: a gold entity is found when a finding of its type overlaps it; a finding is correct when it overlaps
a gold entity of its type. Redaction runs the default input policy and searches the result for every original
string.

    .venv/bin/pip install -e ".[bench]" && .venv/bin/python bench/guardrails_pii.py
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from faker import Faker

from services.guardrails import core, pii
from services.guardrails.policy import DEFAULT_POLICY

RESULTS = Path(__file__).parent / "results" / "pii_dev.jsonl"
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES")
TEMPLATES = (
    "Please send the invoice to {}.",
    "My details: {} - thanks for the quick help.",
    "Can you update my account, the right one is {} (changed last week)?",
    "{} is what the form asked for, is that safe to share?",
    "Contact: {}; reachable weekdays.",
    "I typed {} but the page rejected it.",
)
DECOYS = (
    "Order 4471-2231-0098 shipped on 2026-03-14.",
    "Ticket #88231 was merged into #88230 yesterday.",
    "The laptop costs 1 299,00 EUR incl. VAT, model 2024.11.5.",
    "Use version 3.12.4 with build 20240611.1 for the release.",
    "ISBN 978-3-16-148410-0 is the second edition.",
    "Room 4.032 on floor 4, extension 2231.",
    "Invoice INV-2026-000123 totals 4 500 USD.",
    "Serial AB12-CD34-EF56-GH78 is under warranty until 2027-01-31.",
)
HARD_DECOYS = (
    "Customer no. 0301 2345 678 asked for a refund.",
    "Order #0471-2231-0098 was split into two parcels.",
    "Account 0123 456 7890 was closed in 2024.",
    "Invoice number 0221-4567-8901 is overdue.",
    "Policy 0161 496 0000 renews in May.",
    "Serial no. 0044 2079 4609 58 is registered.",
    "Patient ID 4471 2231 009 was discharged.",
    "Tracking number 1Z 999 AA1 01 2345 6784 arrives Monday.",
    "The card 4111 1111 1111 1112 failed the checksum.",
    "The ZIP code 94103-1234 covers the area.",
    "Meeting moved from 14.03.2026 to 03/21/2026 at 09:30.",
    "Pay 1.234.567 EUR by 31-12-2026.",
    "Coordinates 48.137154, 11.576124 mark the office.",
    "Scores went from 0.8765 to 0.91234 between 2019-2024.",
    "Version 10.0.19045.3803 of Windows is installed.",
    "Timestamp 20260314 101530 marks the upload.",
)
"""Look-alikes the random decoys lack, appended once each so the generated sentences above stay as they were."""


def generate(count: int = 500, seed: int = 2026) -> list[dict[str, object]]:
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + i)
    makers = {
        "EMAIL_ADDRESS": lambda f: f.email(),
        "CREDIT_CARD": lambda f: f.credit_card_number(),
        "IBAN_CODE": lambda f: f.iban(),
        "US_SSN": lambda _: fakers["en_US"].ssn(),
        "PHONE_NUMBER": lambda f: f.phone_number(),
    }
    samples: list[dict[str, object]] = []
    for n in range(count):
        if n % 2:
            samples.append({"text": rng.choice(DECOYS), "entities": []})
            continue
        kind = rng.choice(sorted(makers))
        value = makers[kind](fakers[rng.choice(LOCALES)])
        template = rng.choice(TEMPLATES)
        start = template.index("{}")
        samples.append({"text": template.format(value), "entities": [[kind, start, start + len(value), value]]})
    return samples + [{"text": text, "entities": []} for text in HARD_DECOYS]


def main() -> None:
    samples = generate()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("".join(json.dumps(s) + "\n" for s in samples))
    gold_total, gold_found, predicted, correct = Counter(), Counter(), Counter(), Counter()
    leaked = 0
    for sample in samples:
        text = str(sample["text"])
        entities = [tuple(e) for e in sample["entities"]]  # type: ignore[attr-defined]
        findings = pii.scan_pii(text)
        for kind, start, end, _ in entities:
            gold_total[kind] += 1
            gold_found[kind] += any(f.category == kind and f.start < end and f.end > start for f in findings)
        for f in findings:
            predicted[f.category] += 1
            correct[f.category] += any(
                kind == f.category and f.start < end and f.end > start for kind, start, end, _ in entities
            )
        redacted = core.check_input(text, DEFAULT_POLICY).redacted_text or text
        leaked += sum(1 for *_, value in entities if str(value) in redacted)
    print(f"{len(samples)} sentences, {sum(gold_total.values())} entities, seed 2026, locales {', '.join(LOCALES)}")
    print("| type | entities | recall | findings | precision |")
    print("|---|---|---|---|---|")
    for kind in sorted(set(gold_total) | set(predicted)):
        recall = f"{gold_found[kind] / gold_total[kind]:.1%}" if gold_total[kind] else "-"
        precision = f"{correct[kind] / predicted[kind]:.1%}" if predicted[kind] else "-"
        print(f"| {kind} | {gold_total[kind]} | {recall} | {predicted[kind]} | {precision} |")
    print(f"original PII strings left after redaction: {leaked}")


if __name__ == "__main__":
    main()
