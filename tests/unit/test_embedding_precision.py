"""Choosing the embedding precision: bf16 only where the CPU computes it in hardware."""

from __future__ import annotations

import pytest

from services.embedding.adapters.sentence_model import cpu_has_native_bf16, resolve_precision

pytestmark = pytest.mark.unit

SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n"


def test_bf16_hardware_is_read_from_the_cpu_flags() -> None:
    assert cpu_has_native_bf16(SAPPHIRE_RAPIDS)
    assert not cpu_has_native_bf16(SKYLAKE)
    assert not cpu_has_native_bf16("")


@pytest.mark.parametrize(
    ("requested", "native", "chosen"),
    [("auto", True, "bf16"), ("auto", False, "fp32"), ("fp32", True, "fp32"), ("bf16", False, "bf16")],
)
def test_auto_follows_the_hardware_and_an_explicit_choice_wins(requested: str, native: bool, chosen: str) -> None:
    assert resolve_precision(requested, native) == chosen  # type: ignore[arg-type]
