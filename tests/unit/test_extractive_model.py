"""The deterministic extractive test model: source choice, citation and streaming."""

from __future__ import annotations

import pytest

from llmops.testing.extractive import NO_ANSWER, answer, stream_tokens

pytestmark = pytest.mark.unit


def prompt(question: str, *sources: str) -> str:
    lines = "\n".join(f"[{n}] {text}" for n, text in enumerate(sources, start=1))
    return f"Sources:\n{lines}\n\nQuestion: {question}\n"


def test_the_source_with_most_overlap_is_answered_and_cited() -> None:
    """The best-matching source's first sentence comes back with its number."""
    text = prompt(
        "When do unused vacation days expire?",
        "(IT) Laptops are encrypted. Vacation is not an IT topic.",
        "(Handbook — Leave) Unused vacation days expire on March 31. Carry-over needs approval.",
        "(Benefits) Health insurance starts on day one.",
    )
    assert answer(text) == "Unused vacation days expire on March 31. [2]"


def test_the_same_prompt_always_gives_the_same_answer() -> None:
    """No randomness."""
    text = prompt("how are laptops secured", "(IT) Laptops are encrypted with BitLocker.", "(HR) Other.")
    assert answer(text) == answer(text) == "Laptops are encrypted with BitLocker. [1]"


def test_ties_go_to_the_first_source() -> None:
    """Equal overlap keeps the earlier source, so citations are stable."""
    text = prompt("password reset", "(A) Password reset is self-service.", "(B) Password reset needs a ticket.")
    assert answer(text).endswith("[1]")


def test_markdown_heading_marks_in_a_source_are_not_part_of_the_answer() -> None:
    """A chunk that starts with its heading answers with the prose."""
    text = prompt("how do I install the agent", "(Guide) ## Install Run the installer to install the agent. Then.")
    assert answer(text) == "Run the installer to install the agent. [1]"


def test_the_last_question_is_the_one_answered() -> None:
    """Earlier questions in the prompt are history, not the question."""
    text = prompt("printer", "(A) The printer is on floor two.", "(B) Coffee is free.").replace(
        "Question: printer", "Question: where is the printer\n\nQuestion: is coffee free"
    )
    assert answer(text) == "Coffee is free. [2]"


@pytest.mark.parametrize(
    "text",
    [
        "Sources:\n\nQuestion: what is the vacation policy?\n",
        prompt("what is the vacation policy?", "(IT) Laptops are encrypted."),
        prompt("what is it?", "(A) What is it?"),
        "[1] (A) Vacation expires in March.\n",
    ],
)
def test_no_sources_no_overlap_or_no_question_is_no_answer(text: str) -> None:
    """The model refuses rather than inventing; stopwords alone are not overlap."""
    assert answer(text) == NO_ANSWER


@pytest.mark.parametrize("text", ["Unused vacation days expire on March 31. [2]", "  a  b\n c ", "", NO_ANSWER])
def test_stream_tokens_concatenate_back_to_the_answer(text: str) -> None:
    """Streaming loses and adds nothing."""
    tokens = list(stream_tokens(text))
    assert "".join(tokens) == text
    assert all(tokens)


def test_stream_tokens_are_word_pieces() -> None:
    """Each piece is one word with its trailing whitespace."""
    assert list(stream_tokens("Vacation expires. [1]")) == ["Vacation ", "expires. ", "[1]"]
