"""`llmops eval`: run a golden set through the platform and compare with the previous run."""

from __future__ import annotations

import math
from typing import Annotated

import grpc
import typer
from rich.table import Table

from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.cli.client import open_cli_channel, service_address
from llmops.cli.output import console, emit_message, out, rpc_error


def _number(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.4g}"


def evaluate(
    golden_set: Annotated[str, typer.Argument(help="golden set name, e.g. cpython-docs-v1")],
    prompt: Annotated[str, typer.Option(help="prompt name (default: the gateway's RAG prompt)")] = "",
    version: Annotated[int, typer.Option(help="prompt version (0: the production label)")] = 0,
    model: Annotated[str, typer.Option(help="model (empty: routed)")] = "",
    golden_version: Annotated[str, typer.Option(help="refuse to run unless the set is at this version")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
    url: Annotated[str | None, typer.Option(help="feedback service host:port")] = None,
) -> None:
    """Ask every golden question through the gateway and print each metric beside the previous run's."""
    request = feedback_pb2.EvaluateRequest(
        golden_set=golden_set, golden_set_version=golden_version, prompt_name=prompt, prompt_version=version,
        model=model,
    )  # fmt: skip
    with open_cli_channel(service_address("feedback", url)) as channel, console.status("evaluating…"):
        try:
            report = feedback_pb2_grpc.FeedbackStub(channel).Evaluate(request, timeout=3600)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc
    if as_json:
        emit_message(report)
        return
    table = Table(title=f"{report.golden_set} · {report.prompt_name} v{report.prompt_version or 'production'}")
    for column in ("metric", "value", "previous", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for metric in report.metrics:
        change = metric.value - metric.previous
        table.add_row(metric.name, _number(metric.value), _number(metric.previous), _number(change))
    out.print(table)
