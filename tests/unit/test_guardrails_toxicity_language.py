"""Guardrails: toxicity and language scanners with their real offline models (alt-profanity-check, py3langid)."""

from __future__ import annotations

import threading

import pytest

from services.guardrails import scanners
from services.guardrails.language import IDENTIFIER, UNDETERMINED, detect_language, scan_language
from services.guardrails.lazy import Lazy
from services.guardrails.toxicity import DETECTOR, MAX_FINDINGS, WINDOW_CHARS, scan_toxicity, sentence_spans

pytestmark = pytest.mark.unit

ONE_MB = 1_000_000


@pytest.mark.parametrize(
    "toxic",
    [
        "You are a stupid idiot.",
        "Shut the fuck up and do what I say.",
        "What a worthless piece of shit this answer is.",
        "f**k you",
        "you absolute a$$hole",
        "Go to hell, you miserable bastard.",
    ],
)
def test_toxic_sentences_are_found(toxic: str) -> None:
    """An insult or profanity, plain or masked, gives one toxicity finding scored in [0.5, 1]."""
    findings = scan_toxicity(toxic)
    assert len(findings) == 1
    assert findings[0].scanner == "toxicity"
    assert findings[0].category == "toxicity"
    assert 0.5 <= findings[0].score <= 1.0


@pytest.mark.parametrize(
    "benign",
    [
        "How does the with statement work?",
        "Please summarise the previous section about decorators.",
        "How do I kill a zombie process on Linux?",
        "Who approves my expense report?",
        "How should I call in sick?",
        "I am a gay man and I need advice about my pension.",
        "As a Muslim woman, what are my rights at work?",
        "My mum has cancer and I need to take leave.",
        "The police said the suspect shot two people before he was arrested.",
        "Thanks, the report is attached.",
    ],
)
def test_benign_sentences_are_not_found(benign: str) -> None:
    """Everyday questions, identity words and news about violence are not toxicity."""
    assert scan_toxicity(benign) == []


def test_the_span_points_at_the_toxic_sentence_and_redaction_removes_only_it() -> None:
    """Scored sentence by sentence: the finding covers the insult, not the question around it."""
    text = "Can you help me plan a trip to Lisbon? You are a useless idiot. I need a quiet hotel near the river."
    [finding] = scan_toxicity(text)
    assert text[finding.start : finding.end] == "You are a useless idiot."
    redacted = scanners.redact(text, [finding])
    assert redacted == "Can you help me plan a trip to Lisbon? <TOXICITY> I need a quiet hotel near the river."


def test_adjacent_toxic_sentences_form_one_finding() -> None:
    """A rant is one stretch, scored by its worst sentence, so redaction removes it whole."""
    text = "Hello there. You are an idiot. Shut the fuck up! Anyway, what is the weather tomorrow?"
    [finding] = scan_toxicity(text)
    assert text[finding.start : finding.end] == "You are an idiot. Shut the fuck up!"


def test_a_low_threshold_reports_benign_sentences_with_low_scores() -> None:
    """`min_score` decides what is reported; every score stays within [0, 1]."""
    findings = scan_toxicity("Thanks for the help. The build is green.", min_score=0.0)
    assert len(findings) == 1  # the two sentences are adjacent, so one stretch
    assert 0.0 <= findings[0].score < 0.5


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00\x01\x02\ufffd", "12345 !!! ???", "🙂🙂🙂"])
def test_empty_and_letterless_input_gives_no_finding(text: str) -> None:
    assert scan_toxicity(text) == []


def test_binary_junk_does_not_crash() -> None:
    """Random bytes decoded as Latin-1: findings, if any, have spans inside the text."""
    junk = bytes(range(256)).decode("latin-1") * 400
    for finding in scan_toxicity(junk):
        assert 0 <= finding.start < finding.end <= len(junk)
        assert 0.0 <= finding.score <= 1.0


def test_a_megabyte_of_text_is_scanned_and_one_insult_inside_it_is_found() -> None:
    """1 MB of benign sentences with one insult in the middle: one finding, on the insult."""
    filler = "The quarterly report is ready for review. " * (ONE_MB // 84 + 1)
    text = f"{filler}You are a pathetic moron. {filler}"
    assert len(text) >= ONE_MB
    [finding] = scan_toxicity(text)
    assert text[finding.start : finding.end] == "You are a pathetic moron."


def test_a_megabyte_without_sentence_breaks_is_scanned_in_windows() -> None:
    """No punctuation at all: the text is cut into windows, and nothing is flagged in plain words."""
    text = "lorem ipsum dolor sit amet " * (ONE_MB // 27 + 1)
    spans = sentence_spans(text)
    assert all(end - start <= WINDOW_CHARS for start, end in spans)
    assert scan_toxicity(text) == []


def test_findings_are_capped_and_the_last_one_covers_the_rest() -> None:
    """Many separate toxic sentences: at most MAX_FINDINGS findings, the last reaching the last insult."""
    text = "".join(f"Item {i} is fine. You are an idiot. " for i in range(MAX_FINDINGS + 50))
    findings = scan_toxicity(text)
    assert len(findings) == MAX_FINDINGS
    assert findings[-1].end == text.rindex("idiot.") + len("idiot.")


def test_the_fast_path_agrees_with_scikit_learn() -> None:
    """The replayed arithmetic matched `predict_proba` at load, so the fast path is in use."""
    assert DETECTOR.get().replayed


def test_lazy_builds_its_value_once_under_concurrent_first_use() -> None:
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def build() -> object:
        calls.append(1)
        return object()

    lazy: Lazy[object] = Lazy(build)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(lazy.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)


# --- language -------------------------------------------------------------------------------------------------

SENTENCES = {
    "en": "The deployment failed because the database migration timed out.",
    "de": "Die Bereitstellung ist fehlgeschlagen, weil die Datenbankmigration zu lange gedauert hat.",
    "fr": "Le déploiement a échoué parce que la migration de la base de données a expiré.",
    "es": "El despliegue falló porque la migración de la base de datos agotó el tiempo de espera.",
    "zh": "部署失败了，因为数据库迁移超时。",
    "ru": "Развёртывание не удалось, потому что миграция базы данных превысила время ожидания.",
    "ja": "データベースの移行がタイムアウトしたため、デプロイに失敗しました。",
}


@pytest.mark.parametrize(("code", "text"), SENTENCES.items())
def test_the_language_of_a_sentence_is_detected(code: str, text: str) -> None:
    detected, probability = detect_language(text)
    assert detected == code
    assert 0.9 <= probability <= 1.0


@pytest.mark.parametrize(("code", "text"), [(c, t) for c, t in SENTENCES.items() if c != "en"])
def test_a_sentence_outside_the_allowed_languages_is_reported(code: str, text: str) -> None:
    [finding] = scan_language(text, ["en"])
    assert (finding.scanner, finding.category, finding.detail) == ("language", "language_not_allowed", code)
    assert (finding.start, finding.end) == (0, len(text))
    assert 0.8 <= finding.score <= 1.0


def test_allowed_languages_give_no_finding() -> None:
    assert scan_language(SENTENCES["de"], ["de", "fr"]) == []
    assert scan_language(SENTENCES["en"], ["en-GB"]) == []
    assert scan_language(SENTENCES["zh"], ["zh-Hans"]) == []


def test_an_empty_allowed_list_allows_every_language() -> None:
    assert scan_language(SENTENCES["de"], []) == []


@pytest.mark.parametrize(
    ("short", "code"),
    [
        ("Thanks a lot!", "en"),
        ("ok", "en"),
        ("Merci beaucoup !", "fr"),
        ("Reimposta la mia password", "it"),
        ("Hallo", "de"),
    ],
)
def test_a_few_words_in_an_allowed_language_are_not_reported(short: str, code: str) -> None:
    """The model guesses on a few words ("Thanks a lot!" reads as Spanish): no finding rather than a false alarm."""
    assert scan_language(short, [code]) == []


@pytest.mark.parametrize("short", ["Merci beaucoup !", "Danke schön", "Buenos días", "ok"])
def test_a_few_latin_words_are_too_little_evidence_to_report(short: str) -> None:
    """Below MIN_LETTERS letters in Latin script the scanner does not decide, even against a single allowed language."""
    assert scan_language(short, ["en"]) == []


@pytest.mark.parametrize(("short", "code"), [("你好", "zh"), ("Привет", "ru"), ("감사합니다", "ko")])
def test_a_short_text_in_a_script_no_allowed_language_uses_is_reported(short: str, code: str) -> None:
    [finding] = scan_language(short, ["en", "de"])
    assert finding.detail == code


def test_code_and_capitals_are_not_read_as_a_language() -> None:
    """Identifiers, SQL keywords in capitals and URLs are removed or lowered before the model reads the text."""
    sql = "SELECT u.id, u.email, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id;"
    assert scan_language(sql, ["en"]) == []
    assert scan_language("See https://example.com/docs/setup_guide?lang=de for details on the setup.", ["en"]) == []


@pytest.mark.parametrize("text", ["", "   \n ", "12345 !!! ???", "\x00\x01\x02", "🙂🙂🙂"])
def test_text_without_letters_is_undetermined(text: str) -> None:
    assert detect_language(text) == (UNDETERMINED, 0.0)
    assert scan_language(text, ["en"]) == []


def test_binary_junk_and_a_megabyte_do_not_crash() -> None:
    junk = bytes(range(256)).decode("latin-1") * 400
    code, probability = detect_language(junk)
    assert isinstance(code, str)
    assert 0.0 <= probability <= 1.0
    big = SENTENCES["de"] * (ONE_MB // len(SENTENCES["de"]) + 1)
    assert detect_language(big)[0] == "de"
    assert scan_language(big, ["en"])[0].end == len(big)


def test_the_identifier_is_shared() -> None:
    assert IDENTIFIER.get() is IDENTIFIER.get()
