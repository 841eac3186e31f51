"""The gateway's pure logic: question validation, grounded prompt, citations."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.gateway.core import Limits, Source, cited_sources, rag_variables, validate_question

pytestmark = pytest.mark.unit


def source(number: int, text: str = "text") -> Source:
    return Source(number, f"c{number}", f"d{number}", 1, f"Doc {number}", f"kb://{number}", text, 0.5, ["Doc", "Part"])


def test_defaults_fill_zero_values() -> None:
    """0 means the server default."""
    q = validate_question("  What?  ", " ds ", 0, 0, 0.0, Limits())
    assert (q.text, q.dataset, q.top_k, q.max_tokens) == ("What?", "ds", 4, 200)


@pytest.mark.parametrize(
    ("query", "top_k", "max_tokens", "temperature", "needle"),
    [
        ("", 0, 0, 0.0, "query is empty"),
        ("q" * 2001, 0, 0, 0.0, "the limit is 2000"),
        ("q", 11, 0, 0.0, "top_k"),
        ("q", 0, 513, 0.0, "max_tokens"),
        ("q", 0, 0, 2.5, "temperature"),
    ],
)
def test_bad_questions_are_refused(query: str, top_k: int, max_tokens: int, temperature: float, needle: str) -> None:
    """Each refusal names the field."""
    with pytest.raises(InvalidArgument, match=needle):
        validate_question(query, "", top_k, max_tokens, temperature, Limits())


def test_the_rag_prompt_variables_number_the_sources_and_carry_the_question() -> None:
    """The model sees [n] (label) text lines, whitespace collapsed, and the question as asked."""
    variables = rag_variables("Why?", [source(1, "first  body"), source(2, "second")])
    assert variables == {
        "sources": "[1] (Doc 1 — Doc > Part) first body\n[2] (Doc 2 — Doc > Part) second",
        "question": "Why?",
    }


def test_citations_follow_the_answer_and_ignore_numbers_never_offered() -> None:
    """[n] markers map to sources in order of first mention; [9] was not offered."""
    sources = [source(1), source(2), source(3)]
    cited = cited_sources("B is true [2]. A too [1][2]. Also [9].", sources)
    assert [s.number for s in cited] == [2, 1]
    assert cited_sources("no markers", sources) == []


def test_streamed_text_is_released_a_whole_sentence_at_a_time() -> None:
    from services.gateway.core import SentenceReleaser

    releaser = SentenceReleaser()
    pieces = ["Employees get twen", "ty-eight days. Unused da", "ys expire in Mar", "ch! Ask HR [1]", "."]
    released = [releaser.feed(p) for p in pieces]
    assert released == ["", "Employees get twenty-eight days. ", "", "Unused days expire in March! ", ""]
    assert releaser.flush() == "Ask HR [1]."
    assert releaser.flush() == ""


def test_a_line_break_or_a_closing_quote_ends_a_sentence_and_a_decimal_point_does_not() -> None:
    from services.gateway.core import SentenceReleaser

    releaser = SentenceReleaser()
    assert releaser.feed("Version 3.11 is current") == ""
    assert releaser.feed(' ("it is supported.") Next') == 'Version 3.11 is current ("it is supported.") '
    assert releaser.feed(" line\nrest") == "Next line\n"
    assert releaser.flush() == "rest"


def test_spacing_is_split_off_so_a_checker_sees_only_the_text() -> None:
    from services.gateway.core import split_whitespace

    assert split_whitespace("  Fine. \n") == ("  ", "Fine.", " \n")
    assert split_whitespace("   ") == ("   ", "", "")
