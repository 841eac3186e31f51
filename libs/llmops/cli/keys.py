"""`llmops keys`: issue, list and revoke API keys in the hashed key file the services read.

The file (`LLMOPS_AUTH_API_KEYS_FILE`) holds salts and scrypt digests only; a key's plaintext is printed once, at
creation, and never stored. Services re-read the file when it changes, so a revocation applies to the next call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from llmops.cli.output import console, emit_json, fail, out
from llmops.errors import DomainError
from llmops.events import Classification
from llmops.security import JsonFileKeyStore, Role, issue_key

keys_app = typer.Typer(help="API keys: issue, list, revoke (hashed key file).", no_args_is_help=True)

KeyFile = Annotated[
    Path,
    typer.Option("--file", envvar="LLMOPS_AUTH_API_KEYS_FILE", help="the key file the services read"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable results")]


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="tenant every call with the key acts in")],
    subject: Annotated[str, typer.Option(help="who holds the key: a person, a product backend or a service")],
    file: KeyFile,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help=f"role to grant (repeatable): {', '.join(r.value for r in Role)}"),
    ] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="document access group (repeatable)")] = None,
    clearance: Annotated[Classification, typer.Option(help="highest classification it may read")] = (
        Classification.PUBLIC
    ),
    expires_days: Annotated[float | None, typer.Option(help="days until the key is refused")] = None,
    description: Annotated[str, typer.Option(help="what the key is for")] = "",
    as_json: JsonOption = False,
) -> None:
    """Issues a key, stores its hash and prints the key once: hand it over now, it cannot be shown again."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days is not None else None
    try:
        plaintext, record = issue_key(
            tenant,
            subject,
            roles=role or (),
            groups=group or (),
            clearance=clearance,
            expires_at=expires_at,
            description=description,
        )
        JsonFileKeyStore(file).put(record)
    except DomainError as exc:
        raise fail(str(exc), 2) from None
    if as_json:
        emit_json({"key": plaintext, "key_id": record.key_id, "tenant": tenant, "subject": subject})
        return
    out.print(plaintext, highlight=False, soft_wrap=True)  # alone on stdout: KEY=$(llmops keys create ...)
    granted = ", ".join(role or []) or "none"
    console.print(
        f"[dim]key id {record.key_id} for {subject} in {tenant}, roles {granted}; stored hashed in {file}. "
        "This is the only time the key is shown.[/dim]",
        highlight=False,
    )


@keys_app.command("list")
def list_keys(file: KeyFile, as_json: JsonOption = False) -> None:
    """Lists the keys in the file (ids and grants; the file holds no secrets)."""
    records = sorted(JsonFileKeyStore(file).records(), key=lambda r: r.created_at)
    if as_json:
        emit_json([r.model_dump(mode="json", exclude={"salt", "digest", "kdf"}) for r in records])
        return
    table = Table("tenant", "subject", "roles", "clearance", "expires", "state")
    table.add_column("key id", no_wrap=True)
    for r in records:
        expired = r.expires_at is not None and r.expires_at <= datetime.now(UTC)
        state = "revoked" if r.revoked else "expired" if expired else "active"
        expires = r.expires_at.isoformat(timespec="minutes") if r.expires_at else "never"
        table.add_row(
            r.tenant, r.subject, ",".join(x.value for x in r.roles), r.clearance.value, expires, state, r.key_id
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key id `llmops keys list` shows")], file: KeyFile) -> None:
    """Revokes a key; services refuse it from their next call (the record stays, for the audit trail)."""
    try:
        record = JsonFileKeyStore(file).revoke(key_id)
    except DomainError as exc:
        raise fail(str(exc), 2) from None
    out.print(f"revoked {record.key_id} ({record.subject} in {record.tenant})")
