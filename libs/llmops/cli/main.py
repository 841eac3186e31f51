"""`llmops`: run the platform and talk to it."""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmops.api.common.v1 import common_pb2
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.auth import CLEARANCE_HEADER, GROUPS_HEADER
from llmops.cli.audit import audit_app
from llmops.cli.client import open_cli_channel, service_address
from llmops.cli.evaluation import evaluate
from llmops.cli.feedback import feedback_app
from llmops.cli.keys import keys_app
from llmops.cli.output import console, emit_json, emit_message, fail, out, rpc_error
from llmops.cli.prompts import prompts_app
from llmops.cli.sample import SAMPLE_DATASET, sample_documents
from llmops.cli.stack import SERVICES, Stack
from llmops.cli.uploads import DocumentSource, upload_all, wait_indexed

app = typer.Typer(
    help="llmops: governed RAG over NATS JetStream, gRPC and Triton.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_app, name="audit")
app.add_typer(prompts_app, name="prompts")
app.command("eval")(evaluate)
app.add_typer(feedback_app, name="feedback")
app.add_typer(keys_app, name="keys")
INGESTIBLE = {".txt", ".text", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}


@app.command()
def serve(services: Annotated[list[str], typer.Argument(help=f"one or more of: {', '.join(SERVICES)}")]) -> None:
    """Run services in this process until SIGINT/SIGTERM (one service per process in production)."""
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise fail(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}", 2)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with asyncio.TaskGroup() as group:
            for name in services:
                main = importlib.import_module(f"services.{name}.__main__").main
                group.create_task(main(stopped=stop.wait()))

    asyncio.run(run())


CLASSIFICATIONS = {
    "public": common_pb2.CLASSIFICATION_PUBLIC,
    "internal": common_pb2.CLASSIFICATION_INTERNAL,
    "confidential": common_pb2.CLASSIFICATION_CONFIDENTIAL,
    "restricted": common_pb2.CLASSIFICATION_RESTRICTED,
}


def _ingest_all(
    sources: list[DocumentSource],
    dataset: str,
    address: str,
    *,
    wait: bool,
    as_json: bool,
    classification: str = "internal",
    groups: list[str] | None = None,
    parallel: int = 4,
) -> int:
    """Ingests documents with progress bars for upload and indexing; returns the number that failed."""

    def header_for(source: DocumentSource) -> ingestion_pb2.DocumentHeader:
        return ingestion_pb2.DocumentHeader(
            source_uri=source.source_uri,
            title=source.title,
            dataset=dataset,
            mime_type=source.mime_type,
            classification=CLASSIFICATIONS[classification],
            allowed_groups=groups or [],
        )

    with open_cli_channel(address) as channel:
        stub = ingestion_pb2_grpc.IngestionStub(channel)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=as_json) as progress:
            uploading = progress.add_task("uploading", total=len(sources))

            def on_done(result: dict[str, Any]) -> None:
                if "error" in result and not as_json:
                    progress.console.print(f"[red]✗[/red] {result['source_uri']}: {result['error']}")
                progress.advance(uploading)

            results = upload_all(stub, sources, header_for, parallel=parallel, on_done=on_done)
            ids = [r["document_id"] for r in results if "document_id" in r]
            if wait and ids:
                indexing = progress.add_task("indexing", total=len(ids))
                late = wait_indexed(stub, ids, 600, lambda done: progress.update(indexing, completed=done))
                if late:
                    console.print(f"[yellow]{len(late)} document(s) not indexed yet[/yellow]")
    failures = sum(1 for r in results if "error" in r)
    if as_json:
        emit_json(results)
    else:
        console.print(f"ingested {len(results) - failures} document(s), {failures} failed")
    return failures


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INGESTIBLE)
        else:
            yield path


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or directories (.txt, .md, .html, .pdf, .docx)")],
    dataset: Annotated[str, typer.Option(help="dataset the documents belong to")] = "default",
    classification: Annotated[str, typer.Option(help="public, internal, confidential or restricted")] = "internal",
    group: Annotated[list[str] | None, typer.Option(help="only members of this group may read (repeatable)")] = None,
    wait: Annotated[bool, typer.Option(help="wait until every document is searchable")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable results")] = False,
    parallel: Annotated[int, typer.Option(min=1, max=32, help="uploads in flight at once")] = 4,
    url: Annotated[str | None, typer.Option(help="ingestion service host:port")] = None,
) -> None:
    """Ingest documents (streamed from disk); a file whose content did not change is a no-op."""
    if classification not in CLASSIFICATIONS:
        raise fail(f"--classification must be one of {', '.join(CLASSIFICATIONS)}", 2)
    sources = []
    for path in _files(paths):
        if not path.is_file():
            raise fail(f"{path} does not exist")
        sources.append(DocumentSource.file(path))
    if not sources:
        raise fail("no .txt, .md, .html, .pdf or .docx files found")
    failures = _ingest_all(
        sources,
        dataset,
        service_address("ingestion", url),
        wait=wait,
        as_json=as_json,
        classification=classification,
        groups=group,
        parallel=parallel,
    )
    if failures:
        raise typer.Exit(1)


def _sample_sources() -> list[DocumentSource]:
    return [
        DocumentSource(d.source_uri, content=d.text.encode(), title=d.title, mime_type="text/plain")
        for d in sample_documents()
    ]


@app.command("sample-data")
def sample_data(
    as_json: Annotated[bool, typer.Option("--json", help="print machine-readable results")] = False,
    url: Annotated[str | None, typer.Option(help="ingestion service host:port")] = None,
) -> None:
    """Ingest CPython's documentation topics (pydoc_data.topics) as the `python-docs` dataset."""
    if _ingest_all(_sample_sources(), SAMPLE_DATASET, service_address("ingestion", url), wait=True, as_json=as_json):
        raise typer.Exit(1)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    dataset: Annotated[str, typer.Option(help="search only this dataset")] = "",
    top_k: Annotated[int, typer.Option(help="sources to retrieve (0 = server default)")] = 0,
    max_tokens: Annotated[int, typer.Option(help="answer length budget (0 = server default)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the full response as JSON")] = False,
    clearance: Annotated[str, typer.Option(help="your clearance: public … restricted")] = "internal",
    group: Annotated[list[str] | None, typer.Option(help="a group you belong to (repeatable)")] = None,
    url: Annotated[str | None, typer.Option(help="gateway host:port")] = None,
) -> None:
    """Ask a question; prints the answer as it is generated, then one line per cited source."""
    # Until authentication lands (issue #8) the embedded platform takes clearance and groups from these headers.
    metadata = [(CLEARANCE_HEADER, clearance), *([(GROUPS_HEADER, ",".join(group))] if group else [])]
    request = gateway_pb2.AskRequest(
        query=question, dataset=dataset, top_k=top_k, parameters=common_pb2.GenerationParameters(max_tokens=max_tokens)
    )
    with open_cli_channel(service_address("gateway", url)) as channel:
        stub = gateway_pb2_grpc.AssistantStub(channel)
        try:
            if as_json:
                response = stub.Ask(request, timeout=300, metadata=metadata)
                emit_message(response)
                return
            done: gateway_pb2.AskResponse | None = None
            for message in stub.AskStream(request, timeout=300, metadata=metadata):
                if message.WhichOneof("event") == "delta":
                    sys.stdout.write(message.delta)
                    sys.stdout.flush()
                elif message.WhichOneof("event") == "done":
                    done = message.done
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc
    sys.stdout.write("\n")
    if done is not None:
        # One line per cited document; chunks of the same document share it.
        numbers: dict[str, list[int]] = {}
        titles: dict[str, str] = {}
        pages: dict[str, set[int]] = {}
        for c in done.citations:
            numbers.setdefault(c.source_uri, []).append(c.number)
            titles[c.source_uri] = c.title or c.source_uri
            pages.setdefault(c.source_uri, set()).update([c.location.page] if c.location.page else [])
        for uri, cited in numbers.items():
            marks = "".join(f"[{n}]" for n in cited)
            where = f", p. {', '.join(str(p) for p in sorted(pages[uri]))}" if pages[uri] else ""
            out.print(f"{marks} {titles[uri]} ({uri}{where})", markup=False, highlight=False, soft_wrap=True)
        t = done.timings
        if done.cached:
            console.print(
                f"[dim]{done.model} · from the semantic cache (answer of {done.cached_from_interaction_id}) · "
                f"total {t.total_ms:.0f} ms · interaction {done.interaction_id}[/dim]"
            )
        else:
            console.print(
                f"[dim]{done.model} · {done.usage.total_tokens} tokens · retrieve {t.retrieve_ms:.0f} ms · "
                f"generate {t.generate_ms:.0f} ms · total {t.total_ms:.0f} ms · "
                f"interaction {done.interaction_id}[/dim]"
            )


@app.command()
def dev(
    data: Annotated[Path, typer.Option("--data-dir", help="where NATS, Qdrant and SQLite keep data")] = Path(".llmops"),
    model: Annotated[
        str, typer.Option(help="`smollm2` (llama.cpp) or `extractive` (deterministic test model)")
    ] = "smollm2",
    sample: Annotated[bool, typer.Option(help="ingest the Python documentation sample dataset")] = True,
) -> None:
    """Run the whole platform locally on its embedded defaults until Ctrl-C."""
    if model not in ("smollm2", "extractive"):
        raise fail("--model must be smollm2 or extractive", 2)
    started = time.monotonic()
    stack = Stack(data, model="llama" if model == "smollm2" else "extractive")
    console.print(f"starting the platform in {stack.data_dir} (logs in {stack.log_dir}) …")
    with stack:
        endpoints = stack.endpoints
        endpoints.save(stack.data_dir / "endpoints.json")
        up_s = time.monotonic() - started
        table = Table(title=f"llmops is up ({up_s:.1f} s)")
        table.add_column("component")
        table.add_column("listens on")
        table.add_row("nats (JetStream)", endpoints.nats)
        table.add_row("triton (gRPC)", endpoints.triton)
        for name, address in endpoints.grpc.items():
            table.add_row(name, address)
        console.print(table)
        if sample:
            _ingest_all(_sample_sources(), SAMPLE_DATASET, endpoints.grpc["ingestion"], wait=True, as_json=False)
            console.print(f"ready in {time.monotonic() - started:.1f} s")
        console.print('try: [bold]llmops ask "How does the with statement work?"[/bold]   (Ctrl-C stops)')
        stop = False

        def request_stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        console.print("stopping …")
    (stack.data_dir / "endpoints.json").unlink(missing_ok=True)


if __name__ == "__main__":
    app()
