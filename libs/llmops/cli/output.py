"""How every CLI command prints: results on stdout (plain JSON with --json), progress and errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console

console = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Prints an error and returns the exit to raise."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def emit_json(value: Any, indent: int | None = 2) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or coloured."""
    sys.stdout.write(json.dumps(value, indent=indent) + "\n")
    sys.stdout.flush()


def emit_message(message: Message, indent: int | None = 2) -> None:
    """A protobuf response as plain JSON on stdout, with the .proto field names."""
    emit_json(MessageToDict(message, preserving_proto_field_name=True), indent=indent)


def rpc_error(exc: grpc.RpcError) -> typer.Exit:
    """The exit for a failed call: its status code and the server's message."""
    return fail(f"{exc.code().name}: {exc.details()}")
