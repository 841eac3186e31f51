"""The checked-in protobuf code matches proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh() -> None:
    """Editing a .proto without running scripts/gen_protos.py fails here."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_service_contract_is_generated_with_stubs() -> None:
    """Each service has messages, gRPC stubs and .pyi type stubs."""
    api = ROOT / "libs" / "llmops" / "api"
    for service in ("gateway", "ingestion", "embedding", "retrieval", "guardrails", "inference", "feedback", "audit"):
        folder = api / service / "v1"
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert (folder / f"{service}{suffix}").is_file(), f"{service}{suffix}"


def test_the_asyncapi_document_is_fresh() -> None:
    """docs/asyncapi.json matches the event models."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_asyncapi.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_asyncapi_document_has_a_channel_per_event() -> None:
    """Downstream teams find every subject with its payload schema."""
    from llmops.asyncapi import document
    from llmops.events import EVENT_TYPES

    doc = document()
    assert {c["address"] for c in doc["channels"].values()} == {cls.subject for cls in EVENT_TYPES.values()}
    assert all("properties" in m["payload"] for m in doc["components"]["messages"].values())
