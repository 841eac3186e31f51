"""docker-compose.yml, the NATS cluster configs and the service image, checked statically (no Docker engine here)."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.cli.stack import StackPorts

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = StackPorts().services  # the default gRPC port of each service
NATS_NODES = ("nats-1", "nats-2", "nats-3")
# Passed ahead of the code that reads them; documented as such in docker-compose.yml.
NOT_YET_SETTINGS = {"LLMOPS_AUDIT_POSTGRES_DSN"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_parses_and_omits_the_obsolete_version_key(compose: dict[str, Any]) -> None:
    """The file is YAML with a services map and no `version:`."""
    assert isinstance(compose["services"], dict)
    assert "version" not in compose


def test_compose_runs_every_service_beside_nats_qdrant_triton_and_postgres(compose: dict[str, Any]) -> None:
    """The production topology is complete."""
    assert set(compose["services"]) == {
        *SERVICES, *NATS_NODES, "qdrant", "triton", "postgres", "prometheus", "grafana", "jaeger"
    }  # fmt: skip


def test_every_container_has_a_healthcheck(compose: dict[str, Any]) -> None:
    """Each container declares a healthcheck command."""
    for name, spec in compose["services"].items():
        test = spec.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no healthcheck"


def test_depends_on_targets_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    """A container starts only once the containers it needs report healthy."""
    services = compose["services"]
    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert dependency != name
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_the_dependency_graph_has_no_cycle(compose: dict[str, Any]) -> None:
    """compose can order the start-up."""
    graph = {name: set(spec.get("depends_on", {})) for name, spec in compose["services"].items()}
    done: set[str] = set()
    while graph.keys() - done:
        ready = {name for name in graph.keys() - done if graph[name] <= done}
        assert ready, f"cycle among {sorted(graph.keys() - done)}"
        done |= ready


def test_each_service_is_built_from_the_one_dockerfile_and_probes_its_own_grpc_port(
    compose: dict[str, Any],
) -> None:
    """SERVICE selects the image; the healthcheck asks grpc.health.v1 on the service's port."""
    for name, port in SERVICES.items():
        spec = compose["services"][name]
        assert spec["build"]["dockerfile"] == "infra/docker/Dockerfile"
        assert (ROOT / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        assert spec["build"]["args"]["SERVICE"] == name
        assert spec["healthcheck"]["test"][-1] == f"127.0.0.1:{port}"
        env = spec["environment"]
        assert env[f"LLMOPS_{name.upper()}_GRPC__HOST"] == "0.0.0.0"
        assert env[f"LLMOPS_{name.upper()}_GRPC__PORT"] == str(port)
        assert set(NATS_NODES) <= set(spec["depends_on"])


def test_services_reach_the_whole_nats_cluster_and_ask_for_three_stream_replicas(compose: dict[str, Any]) -> None:
    """Every service lists all three NATS nodes and creates streams with R3."""
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        assert env["LLMOPS_NATS_URL"].split(",") == [f"nats://{node}:4222" for node in NATS_NODES]
        assert env["LLMOPS_STREAM_REPLICAS"] == "3"
        assert env["LLMOPS_LOG_FORMAT"] == "json"


def test_service_urls_point_at_containers_and_ports_that_exist(compose: dict[str, Any]) -> None:
    """host:port and http:// settings name a compose service on the port it serves."""
    services = compose["services"]
    served = {**SERVICES, "qdrant": 6333, "triton": 8001, "postgres": 5432}
    for name in SERVICES:
        for key, value in services[name]["environment"].items():
            if not key.endswith(("_URL", "_DSN")) or key == "LLMOPS_NATS_URL":
                continue
            host, port = str(value).split("://")[-1].split("@")[-1].split("/")[0].rsplit(":", 1)
            assert host in services, f"{name}: {key}={value}"
            assert int(port) == served[host], f"{name}: {key}={value}"


def test_every_service_setting_in_compose_is_a_field_the_service_reads(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings ignore unknown variables, so a typo would pass silently; the values must land in Settings."""
    for name, port in SERVICES.items():
        env = {str(k): str(v) for k, v in compose["services"][name]["environment"].items()}
        settings_cls = importlib.import_module(f"services.{name}.config").Settings
        prefix = f"LLMOPS_{name.upper()}_"
        for key in env.keys() - NOT_YET_SETTINGS:
            if key.startswith(prefix):
                field = key.removeprefix(prefix).lower().split("__")[0]
                assert field in settings_cls.model_fields, f"{name}: {key} is not a setting"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = settings_cls()
        assert settings.grpc.host == "0.0.0.0"
        assert settings.grpc.port == port
        assert settings.common.stream_replicas == 3
        assert settings.common.log_format == "json"
        for key in env:
            monkeypatch.delenv(key)


def test_audit_gets_a_postgres_dsn_and_postgres_16_with_pg_isready(compose: dict[str, Any]) -> None:
    """The audit log runs on PostgreSQL 16; its signing key comes from the environment."""
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    audit = compose["services"]["audit"]
    assert audit["environment"]["LLMOPS_AUDIT_POSTGRES_DSN"].startswith("postgresql://")
    assert "AUDIT_SIGNING_KEY" in audit["environment"]["LLMOPS_AUDIT_SIGNING_KEY"]
    assert audit["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_gpu_is_reserved_for_triton_which_serves_the_model_repository(compose: dict[str, Any]) -> None:
    """Triton runs the TensorRT-LLM image on an NVIDIA GPU with infra/triton/model_repository mounted."""
    triton = compose["services"]["triton"]
    image, tag = triton["image"].rsplit(":", 1)
    assert image == "nvcr.io/nvidia/tritonserver" and tag.endswith("-trtllm-python-py3")
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in triton["volumes"]}
    repository = mounts["./infra/triton/model_repository"]
    assert f"--model-repository={repository}" in triton["command"]
    assert "--grpc-port=8001" in triton["command"]


def test_qdrant_runs_the_official_image_with_a_persistent_volume(compose: dict[str, Any]) -> None:
    """Vectors survive a container restart."""
    qdrant = compose["services"]["qdrant"]
    assert qdrant["image"].startswith("qdrant/qdrant:")
    assert any(v.endswith(":/qdrant/storage") for v in qdrant["volumes"])


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    """Every named volume a container mounts is declared at the top level."""
    declared = set(compose.get("volumes") or {})
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_node_runs_jetstream_with_its_own_store_and_config(compose: dict[str, Any], node: str) -> None:
    """Per-node config file and store volume, JetStream health gating."""
    spec = compose["services"][node]
    assert spec["command"] == ["-c", "/etc/nats/nats.conf"]
    assert f"./infra/nats/{node}.conf:/etc/nats/nats.conf:ro" in spec["volumes"]
    assert f"{node}-data:/data/jetstream" in spec["volumes"]
    assert "js-enabled-only=true" in " ".join(spec["healthcheck"]["test"])


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_has_jetstream_fsync_always_and_routes_to_all_three_nodes(node: str) -> None:
    """sync_interval: always, one cluster, routes to every node."""
    conf = (ROOT / "infra" / "nats" / f"{node}.conf").read_text()
    assert f"server_name: {node}" in conf
    assert "jetstream {" in conf and "store_dir: /data/jetstream" in conf
    assert "sync_interval: always" in conf
    assert "name: llmops" in conf
    for peer in NATS_NODES:
        assert f"nats-route://{peer}:6222" in conf


@pytest.mark.parametrize("node", NATS_NODES)
def test_each_nats_config_is_accepted_by_nats_server(node: str) -> None:
    """`nats-server -t` validates the file, when a nats-server binary is installed."""
    from llmops.testing.servers import nats_server_binary

    try:
        binary = nats_server_binary()
    except FileNotFoundError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(str(exc))
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    major, minor = (int(part) for part in version.split("v")[-1].split(".")[:2])
    if (major, minor) < (2, 10):  # pragma: no cover - sync_interval arrived in 2.10
        pytest.skip(f"{binary} is {version.strip()}, older than the 2.10 the configs need")
    result = subprocess.run(
        [binary, "-t", "-c", str(ROOT / "infra" / "nats" / f"{node}.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_dockerfile_picks_extras_per_service_and_runs_as_a_non_root_user() -> None:
    """Extras per service (ml, inference, pii), a non-root USER, and python -m services.<name>."""
    dockerfile = (ROOT / "infra" / "docker" / "Dockerfile").read_text()
    assert 'embedding|retrieval) EXTRAS="[ml]"' in dockerfile
    assert 'inference) EXTRAS="[inference]"' in dockerfile
    assert 'ingestion) EXTRAS="[pii]"' in dockerfile
    assert 'gateway) EXTRAS="[vectors]"' in dockerfile
    assert 'guardrails) EXTRAS="[guardrails,pii]"' in dockerfile
    assert 'audit) EXTRAS="[postgres]"' in dockerfile
    assert 'feedback) EXTRAS=""' in dockerfile
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert dockerfile.rstrip().splitlines()[-1] == 'CMD ["sh", "-c", "exec python -m services.${SERVICE}"]'
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            source = line.split()[1]
            assert (ROOT / source).exists(), f"{source} is copied but missing"


def test_the_dockerignore_keeps_what_the_image_copies() -> None:
    """The build context re-includes every path the Dockerfile copies."""
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignore
    for kept in ("!pyproject.toml", "!README.md", "!libs/", "!services/", "!infra/docker/"):
        assert kept in ignore


def test_every_service_authenticates_callers_and_presents_the_services_own_key(compose: dict[str, Any]) -> None:
    """Auth on, the hashed key file's directory mounted read-only (so replacing the file reaches running services),
    and `up` refusing to start without the services' key."""
    for name in SERVICES:
        spec = compose["services"][name]
        env = spec["environment"]
        assert env["LLMOPS_AUTH_ENABLED"] == "true"
        assert "./secrets:/run/llmops-secrets:ro" in spec["volumes"]
        assert env["LLMOPS_AUTH_API_KEYS_FILE"] == "/run/llmops-secrets/api-keys.json"
        assert env["LLMOPS_CLIENT_API_KEY"].startswith("${LLMOPS_SERVICE_API_KEY:?")
        assert int(env["LLMOPS_LIMITS_MAX_CONCURRENT"]) > 0
    for front_door in ("gateway", "ingestion"):
        assert float(compose["services"][front_door]["environment"]["LLMOPS_LIMITS_RATE_PER_S"]) > 0


def test_prometheus_scrapes_every_service_where_it_serves_metrics(compose: dict[str, Any]) -> None:
    """Each service serves /metrics on 9464 on all interfaces, and Prometheus' config lists exactly those targets."""
    prometheus = compose["services"]["prometheus"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    config = yaml.safe_load((ROOT / mounted["/etc/prometheus/prometheus.yml"]).read_text())
    targets = {t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        assert env["LLMOPS_TELEMETRY_METRICS_HOST"] == "0.0.0.0"
        assert f"{name}:{env['LLMOPS_TELEMETRY_METRICS_PORT']}" in targets
        assert env["LLMOPS_TELEMETRY_TRACES_EXPORTER"] == "otlp"
        assert env["LLMOPS_TELEMETRY_OTLP_ENDPOINT"].split("://")[1].split(":")[0] in compose["services"]
    assert {t.split(":")[0] for t in targets} <= set(compose["services"])


def test_grafana_is_provisioned_with_prometheus_and_the_llmops_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    for volume in grafana["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists(), volume
    datasources = yaml.safe_load((ROOT / "infra/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def test_compose_validates_against_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    """The Compose Specification's JSON schema (vendored by check-jsonschema, no network) accepts the file, and
    rejects it with one typo, so the check is live."""
    import json
    from importlib import resources

    import jsonschema

    vendored = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(vendored.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert [e.message for e in validator.iter_errors(compose)] == []
    broken = {**compose, "services": {**compose["services"], "gateway": {**compose["services"]["gateway"]}}}
    broken["services"]["gateway"]["healthchek"] = broken["services"]["gateway"].pop("healthcheck")
    assert list(validator.iter_errors(broken))
