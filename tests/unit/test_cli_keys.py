"""`llmops keys`: a created key verifies against the file the services read; a revoked one no longer does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli.main import app
from llmops.errors import Unauthenticated
from llmops.security import ApiKeyVerifier, JsonFileKeyStore


def test_create_list_and_revoke_a_key(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["keys", "create", "--tenant", "acme", "--subject", "alice", "--role", "reader", "--group", "hr",
         "--clearance", "confidential", "--file", str(file), "--json"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    issued = json.loads(created.stdout)
    principal = ApiKeyVerifier(JsonFileKeyStore(file).get).verify(issued["key"])
    assert (principal.tenant, principal.subject, principal.roles, principal.groups) == (
        "acme",
        "alice",
        ("reader",),
        ("hr",),
    )
    assert issued["key"] not in file.read_text()  # only the hash is stored

    listed = json.loads(runner.invoke(app, ["keys", "list", "--file", str(file), "--json"]).stdout)
    assert [(k["key_id"], k["revoked"]) for k in listed] == [(issued["key_id"], False)]
    assert "digest" not in listed[0] and "salt" not in listed[0]

    assert runner.invoke(app, ["keys", "revoke", issued["key_id"], "--file", str(file)]).exit_code == 0
    with pytest.raises(Unauthenticated):
        ApiKeyVerifier(JsonFileKeyStore(file).get).verify(issued["key"])


def test_an_unknown_role_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    result = CliRunner().invoke(
        app, ["keys", "create", "--tenant", "acme", "--subject", "x", "--role", "root", "--file", str(file)]
    )
    assert result.exit_code == 2
    assert "unknown roles" in result.output
    assert not file.exists() or JsonFileKeyStore(file).records() == []
