"""The Kubernetes manifests under infra/k8s/, checked statically (no cluster here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.cli.stack import StackPorts

pytestmark = pytest.mark.unit

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
SERVICES = StackPorts().services  # the default gRPC port of each service


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def test_every_service_has_a_deployment_and_a_service(documents: list[dict[str, Any]]) -> None:
    """One Deployment and one Service per llmops service."""
    assert set(by_kind(documents, "Deployment")) == set(SERVICES)
    assert set(by_kind(documents, "Service")) >= set(SERVICES)


def test_deployments_probe_grpc_health_on_the_service_port(documents: list[dict[str, Any]]) -> None:
    """Readiness and liveness use the kubelet's native gRPC probe on the port the service listens on."""
    for name, deployment in by_kind(documents, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port = SERVICES[name]
        assert container["readinessProbe"]["grpc"]["port"] == port
        assert container["livenessProbe"]["grpc"]["port"] == port
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"LLMOPS_{name.upper()}_GRPC__PORT"] == str(port)
        assert env[f"LLMOPS_{name.upper()}_GRPC__HOST"] == "0.0.0.0"


def test_services_select_their_deployments_pods(documents: list[dict[str, Any]]) -> None:
    """Each Service's selector matches its Deployment's pod labels and forwards the gRPC port."""
    deployments = by_kind(documents, "Deployment")
    for name, service in by_kind(documents, "Service").items():
        if name not in SERVICES:
            continue
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert deployments[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert [p["port"] for p in service["spec"]["ports"]] == [SERVICES[name]]


def test_pods_run_as_non_root(documents: list[dict[str, Any]]) -> None:
    """The image's numeric user, enforced by the pod security context."""
    for deployment in by_kind(documents, "Deployment").values():
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_gateway_autoscales_on_cpu(documents: list[dict[str, Any]]) -> None:
    """One HPA, on the gateway Deployment, targeting CPU utilisation."""
    hpa = by_kind(documents, "HorizontalPodAutoscaler")["gateway"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    (container,) = by_kind(documents, "Deployment")["gateway"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"], "CPU utilisation needs a CPU request"


def test_stateful_services_keep_their_sqlite_stores_on_persistent_volumes(documents: list[dict[str, Any]]) -> None:
    """The audit log and ingestion's document store survive a pod restart; one writer at a time."""
    claims = by_kind(documents, "PersistentVolumeClaim")
    for name in ("audit", "ingestion"):
        deployment = by_kind(documents, "Deployment")[name]
        (volume,) = deployment["spec"]["template"]["spec"]["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] in claims
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert deployment["spec"]["replicas"] == 1


def test_audit_takes_its_database_and_signing_key_from_a_secret(documents: list[dict[str, Any]]) -> None:
    (container,) = by_kind(documents, "Deployment")["audit"]["spec"]["template"]["spec"]["containers"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert secrets["LLMOPS_AUDIT_POSTGRES_DSN"]["name"] == secrets["LLMOPS_AUDIT_SIGNING_KEY"]["name"] == "llmops-audit"
