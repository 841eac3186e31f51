"""The production deployment files, checked statically (no Docker engine or cluster here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from llmops.trtllm import INPUTS, OUTPUTS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "ingestion", "embedding", "retrieval", "inference", "guardrails", "feedback", "audit")
TRITON_TYPES = {
    "BYTES": "TYPE_STRING",
    "INT32": "TYPE_INT32",
    "UINT64": "TYPE_UINT64",
    "FP32": "TYPE_FP32",
    "BOOL": "TYPE_BOOL",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def model_config(name: str) -> model_config_pb2.ModelConfig:
    path = ROOT / "infra" / "triton" / "model_repository" / name / "config.pbtxt"
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_compose_runs_every_service_beside_nats_qdrant_triton_and_postgres(compose: dict[str, Any]) -> None:
    """The production topology is complete."""
    expected = {*SERVICES, "nats-1", "nats-2", "nats-3", "qdrant", "triton", "postgres"}
    assert set(compose["services"]) == expected


def test_every_container_has_a_healthcheck_and_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    """depends_on targets exist and gate on health."""
    services = compose["services"]
    for name, spec in services.items():
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}
    for name in SERVICES:
        assert services[name]["build"]["args"]["SERVICE"] == name
        assert {"nats-1", "nats-2", "nats-3"} <= set(services[name]["depends_on"])


def test_the_gpu_is_reserved_for_triton(compose: dict[str, Any]) -> None:
    """Triton runs the TensorRT-LLM container on an NVIDIA GPU."""
    triton = compose["services"]["triton"]
    assert "trtllm" in triton["image"]
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


@pytest.mark.parametrize("node", [1, 2, 3])
def test_each_nats_node_runs_jetstream_with_fsync_on_every_write_in_one_cluster(node: int) -> None:
    """sync_interval: always, and routes to all three nodes."""
    conf = (ROOT / "infra" / "nats" / f"nats-{node}.conf").read_text()
    assert "jetstream {" in conf and "sync_interval: always" in conf
    for peer in (1, 2, 3):
        assert f"nats-route://nats-{peer}:6222" in conf


def test_services_ask_for_three_stream_replicas(compose: dict[str, Any]) -> None:
    """Streams are created with R3 on the cluster."""
    assert compose["x-service"]["environment"]["LLMOPS_STREAM_REPLICAS"] == "3"


def test_the_ensemble_exposes_exactly_the_interface_the_client_and_dev_server_use() -> None:
    """Names and types in infra/triton equal llmops.trtllm, so dev and production are interchangeable."""
    ensemble = model_config("ensemble")
    assert ensemble.platform == "ensemble"
    declared_inputs = {i.name: model_config_pb2.DataType.Name(i.data_type) for i in ensemble.input}
    declared_outputs = {o.name: model_config_pb2.DataType.Name(o.data_type) for o in ensemble.output}
    assert declared_inputs == {s.name: TRITON_TYPES[s.datatype] for s in INPUTS}
    assert declared_outputs == {s.name: TRITON_TYPES[s.datatype] for s in OUTPUTS}
    optional = {i.name for i in ensemble.input if i.optional}
    assert optional == {s.name for s in INPUTS if s.optional}


def test_the_ensemble_steps_wire_existing_models_and_tensors() -> None:
    """Every step's model exists, and every mapped tensor is a declared input or output of that model."""
    ensemble = model_config("ensemble")
    for step in ensemble.ensemble_scheduling.step:
        model = model_config(step.model_name)
        assert set(step.input_map) <= {i.name for i in model.input}, step.model_name
        assert set(step.output_map) <= {o.name for o in model.output}, step.model_name


def test_tensorrt_llm_is_decoupled_for_streaming() -> None:
    """Tokens stream as they are generated."""
    assert model_config("tensorrt_llm").model_transaction_policy.decoupled


def test_kubernetes_manifests_define_a_probed_deployment_and_service_per_service() -> None:
    """Every service has gRPC probes and a Service; the gateway autoscales."""
    documents = [d for d in yaml.safe_load_all((ROOT / "infra" / "k8s" / "llmops.yaml").read_text()) if d]
    by_kind: dict[str, set[str]] = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
        if doc["kind"] == "Deployment":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            assert "grpc" in container["readinessProbe"] and "grpc" in container["livenessProbe"]
    assert by_kind["Deployment"] == set(SERVICES) == by_kind["Service"]
    assert "gateway" in by_kind["HorizontalPodAutoscaler"] and "gateway" in by_kind["PodDisruptionBudget"]
