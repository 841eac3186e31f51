"""`llmops prompts`: the prompt registry from a terminal (list, show, create, label, rollback, split)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from rich.table import Table

from llmops.api.common.v1 import common_pb2
from llmops.api.inference.v1 import inference_pb2 as pb
from llmops.api.inference.v1 import inference_pb2_grpc
from llmops.auth import USER_HEADER
from llmops.cli.client import open_cli_channel, service_address
from llmops.cli.output import emit_message, fail, out, rpc_error
from llmops.prompts.core import PRODUCTION, placeholders

prompts_app = typer.Typer(help="Versioned prompts: create, label, roll back, A/B split.", no_args_is_help=True)

UrlOption = Annotated[str | None, typer.Option("--url", help="inference service host:port")]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable results")]


def _call(url: str | None, method: str, request: Any) -> Any:
    """One Prompts RPC as the current OS user (recorded as the author of the change)."""
    with open_cli_channel(service_address("inference", url)) as channel:
        stub = inference_pb2_grpc.PromptsStub(channel)
        try:
            return getattr(stub, method)(request, timeout=30, metadata=[(USER_HEADER, getpass.getuser())])
        except grpc.RpcError as exc:
            raise rpc_error(exc) from exc


def _print_version(version: pb.PromptVersion, as_json: bool) -> None:
    if as_json:
        emit_message(version)
        return
    labels = f"  [{', '.join(version.labels)}]" if version.labels else ""
    out.print(f"{version.name} v{version.version}{labels}  ({version.tenant})", markup=False)
    out.print(f"by {version.created_by} at {version.created_at.ToJsonString()}", style="dim", markup=False)
    if version.description:
        out.print(version.description, markup=False)
    if version.system:
        out.print("--- system", style="dim")
        out.print(version.system, markup=False, highlight=False)
    out.print("--- template", style="dim")
    out.print(version.template, markup=False, highlight=False)
    for v in version.variables:
        need = f"optional, default {v.default!r}" if v.optional else "required"
        out.print(f"  {{{{{v.name}}}}}: {need}, ≤ {v.max_chars} chars  {v.description}", markup=False)


def parse_variable(spec: str) -> pb.PromptVariable:
    """`name`, `name?` (optional) or `name?=default` (optional with a default)."""
    name, _, default = spec.partition("=")
    optional = name.endswith("?") or bool(default)
    return pb.PromptVariable(name=name.rstrip("?").strip(), optional=optional, default=default)


def parse_weights(specs: list[str]) -> dict[str, float]:
    """`label=weight` pairs."""
    weights: dict[str, float] = {}
    for spec in specs:
        label, sep, weight = spec.partition("=")
        try:
            weights[label.strip()] = float(weight)
        except ValueError:
            raise fail(f"split {spec!r}: write label=weight, e.g. production=90 staging=10", 2) from None
        if not sep:
            raise fail(f"split {spec!r}: write label=weight, e.g. production=90 staging=10", 2)
    return weights


@prompts_app.command("list")
def list_prompts(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Your prompts and the built-ins you have not overridden, with labels and split."""
    response = _call(url, "ListPrompts", pb.ListPromptsRequest())
    if as_json:
        emit_message(response)
        return
    table = Table()
    for column in ("name", "owner", "latest", "labels", "split"):
        table.add_column(column)
    for p in response.prompts:
        labels = ", ".join(f"{label}→v{v}" for label, v in sorted(p.labels.items()))
        split = ", ".join(f"{label} {w:.0%}" for label, w in sorted(p.split.items()))
        table.add_row(p.name, p.tenant, f"v{p.latest_version}", labels, split)
    out.print(table)


@prompts_app.command()
def show(
    name: Annotated[str, typer.Argument(help="prompt name")],
    label: Annotated[str, typer.Option(help="label to resolve (default production)")] = "",
    version: Annotated[int, typer.Option(help="a version number (overrides --label)")] = 0,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """One version of a prompt: by number, by label, or the production one."""
    _print_version(_call(url, "GetPrompt", pb.GetPromptRequest(name=name, label=label, version=version)), as_json)


@prompts_app.command()
def versions(
    name: Annotated[str, typer.Argument(help="prompt name")], as_json: JsonOption = False, url: UrlOption = None
) -> None:
    """Every version of a prompt, oldest first."""
    response = _call(url, "ListPromptVersions", pb.ListPromptVersionsRequest(name=name))
    if as_json:
        emit_message(response)
        return
    table = Table()
    for column in ("version", "labels", "by", "created", "description"):
        table.add_column(column)
    for v in response.versions:
        table.add_row(f"v{v.version}", ", ".join(v.labels), v.created_by, v.created_at.ToJsonString(), v.description)
    out.print(table)


@prompts_app.command()
def create(
    name: Annotated[str, typer.Argument(help="prompt name (lowercase, digits, - and _)")],
    template: Annotated[str, typer.Option(help="the user message, with {{variable}} placeholders")] = "",
    template_file: Annotated[Path | None, typer.Option(help="read the template from a file")] = None,
    system: Annotated[str, typer.Option(help="the system message")] = "",
    system_file: Annotated[Path | None, typer.Option(help="read the system message from a file")] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(help="declare a variable: name, name? (optional) or name?=default; default: every placeholder"),
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="move this label to the new version (repeatable)")] = None,
    model: Annotated[str, typer.Option(help="model or route for this prompt (default: routed)")] = "",
    max_tokens: Annotated[int, typer.Option(help="default answer budget")] = 0,
    temperature: Annotated[float, typer.Option(help="default temperature")] = 0.0,
    description: Annotated[str, typer.Option(help="what changed in this version")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Create a new immutable version of a prompt."""
    if template_file is not None:
        template = template_file.read_text(encoding="utf-8")
    if system_file is not None:
        system = system_file.read_text(encoding="utf-8")
    if not template.strip():
        raise fail("give --template or --template-file", 2)
    variables = (
        [parse_variable(v) for v in var]
        if var
        else [pb.PromptVariable(name=n) for n in sorted(placeholders(template) | placeholders(system))]
    )
    request = pb.CreatePromptVersionRequest(
        name=name,
        template=template,
        system=system,
        variables=variables,
        labels=label or [],
        model=model,
        description=description,
        parameters=common_pb2.GenerationParameters(max_tokens=max_tokens, temperature=temperature),
    )
    _print_version(_call(url, "CreatePromptVersion", request), as_json)


@prompts_app.command("label")
def set_label(
    name: Annotated[str, typer.Argument(help="prompt name")],
    label: Annotated[str, typer.Argument(help="label to move, e.g. production or staging")],
    version: Annotated[int, typer.Argument(help="version the label points at afterwards")],
    reason: Annotated[str, typer.Option(help="why (recorded in the event and the audit log)")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Move a label to a version (promotion); running services see it at once."""
    request = pb.SetLabelRequest(name=name, label=label, version=version, reason=reason)
    _print_version(_call(url, "SetLabel", request), as_json)


@prompts_app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="prompt name")],
    reason: Annotated[str, typer.Option(help="why (required; audited)")],
    label: Annotated[str, typer.Option(help="label to move back")] = PRODUCTION,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Move a label back to the version it pointed at before."""
    _print_version(_call(url, "Rollback", pb.RollbackRequest(name=name, label=label, reason=reason)), as_json)


@prompts_app.command()
def split(
    name: Annotated[str, typer.Argument(help="prompt name")],
    weights: Annotated[list[str] | None, typer.Argument(help="label=weight pairs; none clears the split")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded in the event)")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """A/B: send each label its share of users (sticky per user); no pairs sends everyone to production."""
    request = pb.SetSplitRequest(name=name, weights=parse_weights(weights or []), reason=reason)
    summary = _call(url, "SetSplit", request)
    if as_json:
        emit_message(summary)
        return
    shares = ", ".join(f"{label} {w:.0%}" for label, w in sorted(summary.split.items())) or "everyone on production"
    out.print(f"{summary.name}: {shares}", markup=False)
