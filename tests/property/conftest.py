"""Fixtures of the property tests: one event loop and one platform of real servicers for the session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from llmops.api.inference.v1 import inference_pb2
from tests.property.fakes import FakeContext, call
from tests.property.servicers import Platform, build_platform
from tests.property.strategies import good_metadata


@pytest.fixture(scope="session")
def runner() -> Iterator[asyncio.Runner]:
    """The event loop the servicers run on: their stores and tasks live on it across examples and modules (an async
    Hypothesis test would get a new loop per example). Not installed as the current loop, so it is no other
    test's business."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as loop_runner:
        yield loop_runner


@pytest.fixture(scope="session")
def platform(runner: asyncio.Runner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Every servicer on fresh stores, with tenant acme's own prompt `faq` (v1, labelled production and staging).

    Shared by the modules (building it loads the guardrail models): each property holds whatever earlier examples
    stored, so no test depends on what another left."""
    built = runner.run(build_platform(tmp_path_factory.mktemp("platform")))
    faq = inference_pb2.CreatePromptVersionRequest(
        name="faq",
        template="Answer: {{q}}",
        variables=[inference_pb2.PromptVariable(name="q")],
        labels=["production", "staging"],
    )
    runner.run(call(built.prompts.CreatePromptVersion, faq, FakeContext(good_metadata("acme"))))
    yield built
    runner.run(built.close())
