"""`llmops feedback`: training data out of the feedback people gave."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import grpc
import typer

from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.cli.client import open_cli_channel, service_address
from llmops.cli.output import console, emit_json, rpc_error

feedback_app = typer.Typer(help="Feedback: export corrections and good answers for fine-tuning.", no_args_is_help=True)


@feedback_app.command("export")
def export(
    out_file: Annotated[Path, typer.Option("--out", help="JSON lines in chat format (a manifest is written beside)")],
    since_days: Annotated[float, typer.Option(help="only feedback of the last N days (0: all)")] = 0.0,
    system: Annotated[str, typer.Option(help="a system message to put first in every example")] = "",
    url: Annotated[str | None, typer.Option(help="feedback service host:port")] = None,
) -> None:
    """Corrections and highly rated answers (text as stored: personal data masked) with lineage to their
    interactions, as a versioned dataset ready for LoRA fine-tuning."""
    request = feedback_pb2.ExportTrainingDataRequest(system_prompt=system)
    if since_days:
        request.since.FromDatetime(datetime.now(UTC) - timedelta(days=since_days))
    version, examples = "", 0
    with open_cli_channel(service_address("feedback", url)) as channel, out_file.open("wb") as sink:
        try:
            for chunk in feedback_pb2_grpc.FeedbackStub(channel).ExportTrainingData(request, timeout=600):
                sink.write(chunk.jsonl)
                examples, version = chunk.examples, chunk.dataset_version or version
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc
    manifest = {
        "dataset": out_file.name, "dataset_version": version, "examples": examples, "format": "chat-messages-jsonl",
        "created_at": datetime.now(UTC).isoformat(), "since_days": since_days or None,
    }  # fmt: skip
    Path(f"{out_file}.manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    emit_json(manifest)
    console.print(f"wrote {examples} examples to {out_file} (version {version[:12]})")
