"""Hypothesis strategies and settings shared by the property tests: extreme texts, numbers and caller headers."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from llmops.api.common.v1 import common_pb2
from llmops.auth import CLEARANCE_HEADER, GROUPS_HEADER, TENANT_HEADER, USER_HEADER
from llmops.events import Classification

T = TypeVar("T")

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
"""Deterministic (a fixed derivation of each test's examples), no example database, no per-example deadline."""

HUGE = settings(PROPERTY, max_examples=8)
"""For payloads of up to a megabyte: each example is expensive, the interesting sizes are few."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

ODD_CHARACTERS = (
    "\x00",  # NUL
    "\x1b",  # ESC (terminal control sequences)
    "\x7f",  # DEL
    "\u0085",  # NEL, a line break str.split() honours
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2028",  # line separator
    "\u202e",  # right-to-left override (bidi)
    "\u2066",  # left-to-right isolate (bidi)
    "\ufeff",  # byte-order mark / zero-width no-break space
    "\ufffd",  # replacement character
    "\U000e0041",  # tag character (invisible prompt smuggling)
    "\U0001d518",  # mathematical fraktur U, outside the BMP
    "é",
    "\u3000",  # ideographic space (whitespace)
)
"""Control, invisible, bidi and astral characters that break naive validation, logging or rendering."""

ODD_STRINGS = (
    "",
    " ",
    " \t\n\r\x0b\x0c",
    "\u3000\u2028\u0085",
    "'\"\\",
    "{{ x }}",
    "%s%n%x",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "null",
    "NaN",
    "-0",
    "9" * 40,
    "a\x00b",
    "\u202eevil.txt",
    "tenant/../other",
)

HUGE_CHARACTERS = ("x", " ", "é", "\u202e", "\u200b", "\x00", "\U0001d518", "'")
"""What a huge payload repeats: ASCII, whitespace only, 2-byte, bidi, invisible, NUL, astral and a quote (which
`repr` escapes)."""


def repeated(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """One character repeated: a cheap way to reach sizes far past every limit."""
    return st.builds(operator.mul, st.sampled_from(HUGE_CHARACTERS), st.integers(min_size, max_size))


def texts(max_size: int = 200, *, long: int = 70_000) -> st.SearchStrategy[str]:
    """Arbitrary Unicode, odd strings, odd characters mixed into text, and long repeated runs (up to `long`)."""
    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(ODD_STRINGS),
        st.text(st.sampled_from(ODD_CHARACTERS) | st.characters(codec="ascii"), max_size=max_size),
        repeated(long),
    )


def names(valid: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Identifier-like fields: some valid values, near misses (case, padding, length) and arbitrary text."""
    near = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,70}", fullmatch=True)
    padded = st.builds(lambda s: f" {s}\t", near)
    options = [near, padded, st.from_regex(r"[A-Za-z0-9._ -]{0,80}", fullmatch=True), texts(80, long=5000)]
    if valid:
        options.insert(0, st.sampled_from(valid))
    return st.one_of(options)


def int32s() -> st.SearchStrategy[int]:
    """Every int32, with the edges and small values likely."""
    return st.one_of(
        st.sampled_from([0, 1, -1, INT32_MIN, INT32_MAX]), st.integers(-5, 100), st.integers(INT32_MIN, INT32_MAX)
    )


def int64s() -> st.SearchStrategy[int]:
    """Every int64, with the edges and small values likely."""
    return st.one_of(
        st.sampled_from([0, 1, -1, INT64_MIN, INT64_MAX]), st.integers(-5, 100), st.integers(INT64_MIN, INT64_MAX)
    )


def floats(width: Literal[16, 32, 64] = 64) -> st.SearchStrategy[float]:
    """Every float of that width, NaN and infinities included, with the interesting edges likely."""
    edges = [0.0, -0.0, 1.0, 2.0, 3.0, -1.0, math.nan, math.inf, -math.inf, 1e-45, 3.4e38]
    return st.one_of(st.sampled_from(edges), st.floats(-3.0, 3.0, width=width), st.floats(width=width))


def enum_values(known: int) -> st.SearchStrategy[int]:
    """Values of a proto3 enum with `known` members (0 unspecified), and values it does not define."""
    return st.one_of(st.integers(0, known), st.integers(INT32_MIN, INT32_MAX))


HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
"""What gRPC lets through as an ASCII metadata value (printable ASCII; the transport caps the total size)."""
TENANTS = ("acme", "globex", "default")


def metadata() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Invocation metadata: the `x-llmops-*` headers, each absent, realistic or arbitrary printable ASCII."""
    headers = st.fixed_dictionaries(
        {},
        optional={
            TENANT_HEADER: st.sampled_from(TENANTS) | HEADER_VALUES,
            USER_HEADER: st.sampled_from(["ana", "bo"]) | HEADER_VALUES,
            GROUPS_HEADER: st.sampled_from(["", "hr", "hr, eng ,,"]) | HEADER_VALUES,
            CLEARANCE_HEADER: st.sampled_from([c.value for c in Classification] + [" RESTRICTED "]) | HEADER_VALUES,
        },
    )
    return headers.map(lambda h: sorted(h.items()))


def good_metadata(tenant: str = "acme") -> list[tuple[str, str]]:
    """A well-formed caller: tenant, user and the highest clearance."""
    return [(TENANT_HEADER, tenant), (USER_HEADER, "ana"), (CLEARANCE_HEADER, Classification.RESTRICTED.value)]


def callers() -> st.SearchStrategy[list[tuple[str, str]]]:
    """Well-formed callers of two tenants half the time, arbitrary headers otherwise."""
    return st.one_of(st.sampled_from([good_metadata("acme"), good_metadata("globex")]), metadata())


def one_field_off(
    build: Callable[..., T], valid: Mapping[str, st.SearchStrategy[Any]], wild: Mapping[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[T]:
    """Requests valid in every field, valid but for one field, or arbitrary in every `wild` field.

    Arbitrary values in every field at once are refused almost always, for whichever field is checked first; one
    field off at a time reaches every field's check, and valid requests reach acceptance.
    """

    def fields(off: str | None) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {name: wild[name] if name in wild and off in (name, "*") else value for name, value in valid.items()}
        )

    return st.sampled_from([None, *wild, "*"]).flatmap(fields).map(lambda kwargs: build(**kwargs))


# --- messages several services share ---------------------------------------------------------------------------

sentences = st.builds(lambda s: f"How many days {s}?", st.text(max_size=60))
"""Valid free text: non-blank whatever the generated part holds."""

valid_parameters = st.builds(
    common_pb2.GenerationParameters,
    max_tokens=st.integers(0, 512),
    temperature=st.floats(0.0, 2.0, width=32),
    top_p=st.floats(0.0, 1.0, width=32),
    top_k=st.integers(0, 50),
    seed=st.integers(0, 2**63 - 1),
    stop_words=st.lists(st.text(max_size=10), max_size=8),
    repetition_penalty=st.floats(0.0, 3.0, width=32),
    return_log_probs=st.booleans(),
)
wild_parameters = st.builds(
    common_pb2.GenerationParameters,
    max_tokens=int32s(),
    temperature=floats(32),
    top_p=floats(32),
    top_k=int32s(),
    seed=st.integers(0, 2**64 - 1),
    stop_words=st.lists(texts(20, long=100), max_size=12),
    repetition_penalty=floats(32),
    return_log_probs=st.booleans(),
)
timestamps = st.builds(Timestamp, seconds=st.integers(-62135596800, 253402300799), nanos=st.integers(0, 999_999_999))
"""Every time a protobuf Timestamp can hold; out-of-range ones have their own test."""
time_ranges = st.builds(common_pb2.TimeRange, start=st.none() | timestamps, end=st.none() | timestamps)
pages = st.builds(common_pb2.PageRequest, page_size=int32s(), page_token=st.sampled_from(["", "0", "2"]) | texts(40))
