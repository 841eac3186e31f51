"""`llmops audit`: read the log, export it with proofs, and verify it without trusting the service."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.common.v1 import common_pb2
from llmops.audit_verify import SignedHeadView, VerificationError, verify_export, verify_extension
from llmops.cli.client import open_cli_channel, service_address
from llmops.cli.output import console, emit_json, emit_message, fail, out, rpc_error
from llmops.tree_head import TreeHead, key_id, load_public_key, public_key_bytes

audit_app = typer.Typer(help="Read, export and verify the tamper-evident audit log.", no_args_is_help=True)

Url = Annotated[str | None, typer.Option(help="audit service host:port")]
PublicKey = Annotated[
    str | None,
    typer.Option(help="the log's public key to trust: base64 of the raw 32 bytes, or a PEM file (pin it!)"),
]


def _stub(url: str | None) -> tuple[grpc.Channel, audit_pb2_grpc.AuditStub]:
    channel = open_cli_channel(service_address("audit", url))
    return channel, audit_pb2_grpc.AuditStub(channel)


def _pinned(public_key: str | None) -> bytes | None:
    if public_key is None:
        return None
    path = Path(public_key)
    try:
        material = path.read_bytes() if path.is_file() else base64.b64decode(public_key, validate=True)
        return public_key_bytes(load_public_key(material))
    except ValueError as exc:
        raise fail(f"--public-key: {exc}", 2) from None


def _head_view(head: audit_pb2.SignedTreeHead) -> SignedHeadView:
    return SignedHeadView(
        TreeHead(head.tree_size, head.root_hash, head.timestamp.ToMilliseconds()), head.signature, head.public_key
    )


def _record_line(record: audit_pb2.AuditRecord) -> str:
    when = record.time.ToDatetime(UTC).isoformat(timespec="seconds")
    ref = record.interaction_id or record.document_id
    return f"{record.sequence:>6} {when} {record.event_type:<40} {record.tenant} {ref}"


@audit_app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option(help="records to show")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new records")] = False,
    since_hours: Annotated[float, typer.Option(help="look back this many hours")] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    url: Url = None,
) -> None:
    """Print the latest audit records (and new ones with --follow)."""
    window = common_pb2.TimeRange()
    window.start.FromDatetime(datetime.now(UTC) - timedelta(hours=since_hours))
    channel, stub = _stub(url)
    with channel:

        def fetch(token: str) -> list[audit_pb2.AuditRecord]:
            records: list[audit_pb2.AuditRecord] = []
            while True:
                try:
                    page = stub.Query(
                        audit_pb2.QueryRequest(
                            range=window, page=common_pb2.PageRequest(page_size=1000, page_token=token)
                        ),
                        timeout=30,
                    )
                except grpc.RpcError as exc:
                    raise rpc_error(exc) from exc
                records.extend(page.records)
                if not page.next_page_token:
                    return records
                token = page.next_page_token

        batch = fetch("")[-limit:]
        after = ""
        while True:
            for record in batch:
                if as_json:
                    emit_message(record, indent=None)
                else:
                    out.print(_record_line(record), markup=False, highlight=False, soft_wrap=True)
            if not follow:
                return
            after = str(batch[-1].sequence + 1) if batch else after
            time.sleep(1.0)
            batch = fetch(after)


@audit_app.command("query")
def audit_query(
    tenant: Annotated[str, typer.Option(help="tenant")] = "",
    user: Annotated[str, typer.Option(help="the person behind the event")] = "",
    event_type: Annotated[list[str] | None, typer.Option(help="event type (repeatable)")] = None,
    interaction: Annotated[str, typer.Option(help="interaction id")] = "",
    document: Annotated[str, typer.Option(help="document id")] = "",
    model: Annotated[str, typer.Option(help="model that answered")] = "",
    prompt: Annotated[str, typer.Option(help="prompt name")] = "",
    prompt_version: Annotated[int, typer.Option(help="prompt version")] = 0,
    verdict: Annotated[str, typer.Option(help="guardrail verdict: block or redact")] = "",
    since_hours: Annotated[float, typer.Option(help="look back this many hours (0: all)")] = 0.0,
    limit: Annotated[int, typer.Option(help="at most this many records")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    url: Url = None,
) -> None:
    """Compliance query over the whole log (the query itself is recorded)."""
    request = audit_pb2.QueryRequest(
        tenant=tenant, user=user, event_types=event_type or [], interaction_id=interaction, document_id=document,
        model=model, prompt_name=prompt, prompt_version=prompt_version, guardrail_action=verdict,
    )  # fmt: skip
    if since_hours:
        request.range.start.FromDatetime(datetime.now(UTC) - timedelta(hours=since_hours))
    channel, stub = _stub(url)
    shown = 0
    with channel:
        while shown < limit:
            request.page.page_size = min(1000, limit - shown)
            try:
                page = stub.Query(request, timeout=30)
            except grpc.RpcError as exc:
                raise rpc_error(exc) from exc
            for record in page.records:
                if as_json:
                    emit_message(record, indent=None)
                else:
                    out.print(_record_line(record), markup=False, highlight=False, soft_wrap=True)
            shown += len(page.records)
            if not page.next_page_token:
                return
            request.page.page_token = page.next_page_token


@audit_app.command("head")
def audit_head(
    save: Annotated[
        Path | None, typer.Option(help="write the signed head here, to check the log against later")
    ] = None,
    url: Url = None,
) -> None:
    """Print the latest signed tree head (size, root, time, key id)."""
    channel, stub = _stub(url)
    with channel:
        try:
            head = stub.GetTreeHead(audit_pb2.GetTreeHeadRequest(), timeout=10)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc
    view = _head_view(head)
    if save is not None:
        save.write_text(json.dumps({"tree_head": view.to_json()}, indent=2) + "\n")
    emit_json({**view.to_json(), "key_id": key_id(head.public_key).hex()})


@audit_app.command("export")
def audit_export(
    out_file: Annotated[Path, typer.Option("--out", help="JSON lines: the signed head, then records with proofs")],
    tenant: Annotated[str, typer.Option(help="only this tenant's records")] = "",
    event_type: Annotated[list[str] | None, typer.Option(help="only these event types (repeatable)")] = None,
    url: Url = None,
) -> None:
    """Export records with their inclusion proofs (the export itself is recorded in the log)."""
    request = audit_pb2.ExportRequest(query=audit_pb2.QueryRequest(tenant=tenant, event_types=event_type or []))
    channel, stub = _stub(url)
    columns = (SpinnerColumn(), TextColumn("exported {task.completed} records"), TimeElapsedColumn())
    with channel, out_file.open("wb") as sink, Progress(*columns, console=console) as progress:
        task = progress.add_task("export", total=None)
        try:
            for chunk in stub.Export(request, timeout=3600):
                sink.write(chunk.jsonl)
                progress.update(task, completed=chunk.records)
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc
    console.print(f"wrote {out_file}")


@audit_app.command("verify")
def audit_verify(
    public_key: PublicKey = None,
    export_file: Annotated[
        Path | None, typer.Option("--export", help="verify this export instead of the live log")
    ] = None,
    since: Annotated[
        Path | None, typer.Option(help="a head saved earlier (`audit head --save`): the log must extend it")
    ] = None,
    url: Url = None,
) -> None:
    """Check the whole log (or an export) against its signed head: every record's proof, completeness, and
    consistency with a head seen before. Exits 1 on the first failure, naming it."""
    pinned = _pinned(public_key)
    if pinned is None:
        console.print("[yellow]warning:[/yellow] no --public-key: signatures are checked under the key the log "
                      "names, which proves integrity but not who signed")  # fmt: skip
    try:
        if export_file is not None:
            lines = export_file.read_text(encoding="utf-8").split("\n")
        else:
            channel, stub = _stub(url)
            with channel:
                chunks = stub.Export(audit_pb2.ExportRequest(), timeout=3600)
                lines = b"".join(c.jsonl for c in chunks).decode().split("\n")
        report = verify_export(lines, pinned)
        if since is not None:
            _verify_since(since, report.head, pinned, url)
    except VerificationError as exc:
        raise fail(f"verification failed: {exc}") from None
    except grpc.RpcError as exc:
        raise rpc_error(exc) from exc
    scope = "the whole log" if report.complete else f"{report.records} records (not every position: a filtered export)"
    emit_json({
        "verified": True, "records": report.records, "complete": report.complete,
        "tree_size": report.head.head.tree_size, "root_hash": base64.b64encode(report.head.head.root_hash).decode(),
        "key_id": key_id(report.head.public_key).hex(), "key_pinned": pinned is not None,
    })  # fmt: skip
    console.print(f"[green]verified[/green] {scope} at tree size {report.head.head.tree_size}")


def _verify_since(path: Path, later: SignedHeadView, pinned: bytes | None, url: str | None) -> None:
    earlier = SignedHeadView.from_json(json.loads(path.read_text())["tree_head"])
    if earlier.head.tree_size > later.head.tree_size:
        raise VerificationError(
            f"the log shrank: a head at size {earlier.head.tree_size} was seen, now {later.head.tree_size}"
        )
    channel, stub = _stub(url)
    with channel:
        proof = stub.GetConsistencyProof(
            audit_pb2.GetConsistencyProofRequest(first_size=earlier.head.tree_size, second_size=later.head.tree_size),
            timeout=30,
        )
    verify_extension(earlier, later, list(proof.path), pinned)
