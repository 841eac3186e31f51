"""Inference's pure logic: chat template, parameters, usage and cost."""

from __future__ import annotations

import pytest

from llmops.errors import InvalidArgument
from services.inference.core import (
    FinishReason,
    Limits,
    Message,
    Pricing,
    finish_reason,
    render_chatml,
    usage,
    validate_messages,
    validate_parameters,
    with_canary,
)

pytestmark = pytest.mark.unit


def test_chatml_renders_turns_and_opens_the_assistant_turn() -> None:
    """The prompt ends where the model's answer begins."""
    prompt = render_chatml([Message("system", "Be brief."), Message("user", "Hi")])
    assert prompt == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_parameters_get_defaults_and_bounds() -> None:
    """Zero values take defaults; out-of-range values are refused by name."""
    limits = Limits(default_max_tokens=64, default_repetition_penalty=1.15)
    params = validate_parameters(0, 0.0, 0.0, 0, 0, ["", "STOP"], limits)
    assert (params.max_tokens, params.top_p, params.stop_words, params.repetition_penalty) == (64, 1.0, ("STOP",), 1.15)
    for bad, needle in [
        ({"max_tokens": 5000}, "max_tokens"),
        ({"temperature": 3.0}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
    ]:
        args = {"max_tokens": 0, "temperature": 0.0, "top_p": 0.0, "top_k": 0, **bad}
        with pytest.raises(InvalidArgument, match=needle):
            validate_parameters(args["max_tokens"], args["temperature"], args["top_p"], args["top_k"], 0, [], limits)


def test_messages_need_a_user_turn_and_known_roles() -> None:
    """Empty conversations, unknown roles and oversize prompts are refused."""
    limits = Limits(max_prompt_chars=10)
    with pytest.raises(InvalidArgument, match="empty"):
        validate_messages([], limits)
    with pytest.raises(InvalidArgument, match="role"):
        validate_messages([Message("robot", "hi")], limits)
    with pytest.raises(InvalidArgument, match="no non-empty user message"):
        validate_messages([Message("system", "rules")], limits)
    with pytest.raises(InvalidArgument, match="limit is 10"):
        validate_messages([Message("user", "x" * 11)], limits)


def test_cost_is_priced_per_thousand_tokens_and_length_is_detected() -> None:
    """Usage adds up and a full budget means LENGTH."""
    u = usage(1000, 500, Pricing(prompt_per_1k=0.002, completion_per_1k=0.006))
    assert (u.total_tokens, u.cost_usd) == (1500, pytest.approx(0.005))
    assert finish_reason(64, 64) is FinishReason.LENGTH and finish_reason(10, 64) is FinishReason.STOP


def test_the_canary_goes_into_the_system_message_or_a_new_one() -> None:
    conversation = [Message("system", "Be brief."), Message("user", "hi")]
    marked = with_canary(conversation, "cnry-0123456789abcdef")
    assert marked[0].role == "system" and marked[0].content.startswith("Be brief.\n")
    assert "cnry-0123456789abcdef" in marked[0].content and marked[1:] == conversation[1:]
    added = with_canary([Message("user", "hi")], "cnry-0123456789abcdef")
    assert [m.role for m in added] == ["system", "user"]
    assert with_canary(conversation, "") == conversation


@pytest.mark.parametrize("canary", ["short", "has space in it!", "x" * 65, "ünïcode-marker"])
def test_a_malformed_canary_is_refused(canary: str) -> None:
    with pytest.raises(InvalidArgument, match="canary must be"):
        with_canary([Message("user", "hi")], canary)
