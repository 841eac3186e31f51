"""The Kubernetes manifests under infra/k8s/, checked statically (no cluster here).

Built-in kinds are validated against the Kubernetes OpenAPI schemas that kubernetes-validate ships, in strict mode
(an unknown field fails); the KEDA and Prometheus Operator resources, which it has no schema for, field by field.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from llmops.bus import stream_for
from llmops.cli.stack import StackPorts
from services.embedding import handlers as embedding_handlers

pytestmark = pytest.mark.unit

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
SERVICES = StackPorts().services  # the default gRPC port of each service
KUBERNETES_VERSION = "1.31"
BUILT_IN_KINDS = {
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"), ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
}  # fmt: skip
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "PodMonitor")}
METRICS_PORT = 9464
FRONT_DOORS = {"gateway", "ingestion"}  # the callers' entry points: rate-limited per caller
CPU_AUTOSCALED = {"gateway", "retrieval", "inference", "guardrails"}  # stateless gRPC services
# ScaledObject spec fields and the nats-jetstream trigger's metadata (KEDA 2.8+ documentation).
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
    "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}  # fmt: skip
JETSTREAM_REQUIRED = {"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold"}
JETSTREAM_OPTIONAL = {"activationLagThreshold", "useHttps"}


def load_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return load_documents()


def by_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def common_env(documents: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = by_kind(documents, "ConfigMap")["llmops-common"]["data"]
    return data


def pod_env(documents: list[dict[str, Any]], name: str) -> dict[str, str]:
    """The variables a Deployment's container sees: the ConfigMaps it loads, then its own `env` (which wins)."""
    container = container_of(by_kind(documents, "Deployment")[name])
    configmaps = by_kind(documents, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]["data"]
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "<from secret>")  # a secretKeyRef: any value will do here
    return env


def autoscaled(documents: list[dict[str, Any]]) -> dict[str, str]:
    """Deployment name -> the kind of the autoscaler that targets it."""
    targets: dict[str, str] = {}
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for scaler in by_kind(documents, kind).values():
            name = scaler["spec"]["scaleTargetRef"]["name"]
            assert name not in targets, f"Deployment {name} has two autoscalers ({targets[name]}, {kind})"
            targets[name] = kind
    return targets


def test_every_document_is_a_known_kind_with_a_unique_name(documents: list[dict[str, Any]]) -> None:
    """Nothing escapes validation: each document is a built-in kind or one of the two custom resources."""
    seen: set[tuple[str, str]] = set()
    for doc in documents:
        assert (doc["apiVersion"], doc["kind"]) in BUILT_IN_KINDS | CUSTOM_KINDS, doc["kind"]
        assert (doc["kind"], doc["metadata"]["name"]) not in seen, doc["metadata"]["name"]
        seen.add((doc["kind"], doc["metadata"]["name"]))


@pytest.mark.parametrize(
    "doc",
    [d for d in load_documents() if (d["apiVersion"], d["kind"]) in BUILT_IN_KINDS],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_built_in_documents_match_the_kubernetes_schema_strictly(doc: dict[str, Any]) -> None:
    """The Kubernetes 1.31 OpenAPI schema accepts the document, unknown fields refused."""
    try:
        version = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{'.'.join(map(str, error.path))}: {error.message}")
    assert version == KUBERNETES_VERSION


def test_the_schema_check_refuses_a_misspelt_field(documents: list[dict[str, Any]]) -> None:
    """Strict mode is really on: a typo that the API server would silently drop fails here."""
    deployment = copy.deepcopy(by_kind(documents, "Deployment")["gateway"])
    container_of(deployment)["readinesProbe"] = container_of(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_service_has_a_deployment_and_a_service(documents: list[dict[str, Any]]) -> None:
    """One Deployment and one Service per llmops service."""
    assert set(by_kind(documents, "Deployment")) == set(SERVICES)
    assert set(by_kind(documents, "Service")) >= set(SERVICES)


def test_deployments_probe_grpc_health_on_the_service_port(documents: list[dict[str, Any]]) -> None:
    """Readiness, liveness and start-up use the kubelet's native gRPC probe on the port the service listens on."""
    for name, deployment in by_kind(documents, "Deployment").items():
        container = container_of(deployment)
        port = SERVICES[name]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{name} {probe}"
        assert {"name": "grpc", "containerPort": port} in container["ports"]
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


def test_authentication_is_on_with_the_key_file_from_a_read_only_secret(documents: list[dict[str, Any]]) -> None:
    """Every pod mounts Secret llmops-api-keys read-only where LLMOPS_AUTH_API_KEYS_FILE points."""
    env = common_env(documents)
    assert env["LLMOPS_AUTH_ENABLED"] == "true"
    keys_file = Path(env["LLMOPS_AUTH_API_KEYS_FILE"])
    for name, deployment in by_kind(documents, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if "secret" in v and v["secret"]["secretName"] == "llmops-api-keys"]
        assert not volume["secret"].get("optional"), f"{name}: a pod without its key file must not start"
        (item,) = volume["secret"]["items"]
        (mount,) = [m for m in container_of(deployment)["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True and "subPath" not in mount, f"{name}: subPath mounts never see key updates"
        assert Path(mount["mountPath"]) / item["path"] == keys_file, name
        # The kubelet writes the file as root: the pod's group must be able to read it.
        assert volume["secret"]["defaultMode"] & 0o040
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_every_service_presents_the_service_key_from_a_secret(documents: list[dict[str, Any]]) -> None:
    """LLMOPS_CLIENT_API_KEY comes from Secret llmops-service-key, never from a literal or the ConfigMap."""
    assert not any(key.startswith("LLMOPS_CLIENT_") for key in common_env(documents))
    for name, deployment in by_kind(documents, "Deployment").items():
        env = {e["name"]: e for e in container_of(deployment)["env"]}
        ref = env["LLMOPS_CLIENT_API_KEY"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("llmops-service-key", "api-key"), name
        assert not ref.get("optional"), name


def test_no_secret_material_is_committed(documents: list[dict[str, Any]]) -> None:
    """Secrets are created by the operator (see llmops.yaml); a committed Secret would carry no data."""
    for secret in by_kind(documents, "Secret").values():
        assert not secret.get("data") and not secret.get("stringData"), secret["metadata"]["name"]


def test_every_pod_serves_prometheus_metrics_and_exports_traces(documents: list[dict[str, Any]]) -> None:
    """Port 9464 named `metrics`, the scrape annotations, and the telemetry settings that open it."""
    env = common_env(documents)
    assert env["LLMOPS_TELEMETRY_METRICS_PORT"] == str(METRICS_PORT)
    assert env["LLMOPS_TELEMETRY_METRICS_HOST"] == "0.0.0.0"
    assert env["LLMOPS_TELEMETRY_TRACES_EXPORTER"] == "otlp"
    assert env["LLMOPS_TELEMETRY_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    for name, deployment in by_kind(documents, "Deployment").items():
        assert {"name": "metrics", "containerPort": METRICS_PORT} in container_of(deployment)["ports"], name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(METRICS_PORT), name


def test_the_pod_monitor_scrapes_every_llmops_pod_on_its_metrics_port(documents: list[dict[str, Any]]) -> None:
    """A Prometheus Operator PodMonitor selecting app.kubernetes.io/part-of=llmops on the named port."""
    (monitor,) = by_kind(documents, "PodMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "podMetricsEndpoints", "namespaceSelector", "jobLabel"}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/part-of": "llmops"}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    for deployment in by_kind(documents, "Deployment").values():
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_every_service_bounds_concurrency_and_the_front_doors_rate_limit(documents: list[dict[str, Any]]) -> None:
    """LLMOPS_LIMITS_MAX_CONCURRENT for all; a per-caller rate only on gateway and ingestion."""
    assert int(common_env(documents)["LLMOPS_LIMITS_MAX_CONCURRENT"]) > 0
    limited = set()
    for name in by_kind(documents, "Deployment"):
        env = pod_env(documents, name)
        if "LLMOPS_LIMITS_RATE_PER_S" in env:
            limited.add(name)
            assert float(env["LLMOPS_LIMITS_RATE_PER_S"]) > 0 and int(env["LLMOPS_LIMITS_BURST"]) >= 1
    assert limited == FRONT_DOORS


def test_stateful_services_keep_their_sqlite_stores_on_persistent_volumes(documents: list[dict[str, Any]]) -> None:
    """The audit log, ingestion's documents and feedback's interactions survive a restart; one writer at a time."""
    claims = by_kind(documents, "PersistentVolumeClaim")
    targets = autoscaled(documents)
    for name in ("audit", "ingestion", "feedback"):
        deployment = by_kind(documents, "Deployment")[name]
        (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
        assert claims[volume["persistentVolumeClaim"]["claimName"]]["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert deployment["spec"]["replicas"] == 1
        assert name not in targets, f"{name} cannot scale out"


def test_deployments_on_a_claim_run_alone_and_all_the_others_autoscale(documents: list[dict[str, Any]]) -> None:
    """A ReadWriteOnce claim means Recreate and one replica; every other Deployment is autoscaled."""
    targets = autoscaled(documents)
    for name, deployment in by_kind(documents, "Deployment").items():
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        if any("persistentVolumeClaim" in v for v in volumes):
            assert deployment["spec"]["strategy"] == {"type": "Recreate"} and deployment["spec"]["replicas"] == 1
        else:
            assert name in targets, f"{name} is stateless but not autoscaled"


def test_the_stateless_grpc_services_autoscale_on_cpu(documents: list[dict[str, Any]]) -> None:
    """An autoscaling/v2 HPA on CPU for gateway, retrieval, inference and guardrails; at least two pods each."""
    deployments = by_kind(documents, "Deployment")
    hpas = by_kind(documents, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} >= CPU_AUTOSCALED
    for hpa in hpas.values():
        ref = hpa["spec"]["scaleTargetRef"]
        assert ref["apiVersion"] == "apps/v1" and ref["kind"] == "Deployment" and ref["name"] in deployments
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        assert container_of(deployments[ref["name"]])["resources"]["requests"]["cpu"], "utilisation needs a request"


def test_autoscaled_deployments_leave_the_replica_count_to_their_autoscaler(documents: list[dict[str, Any]]) -> None:
    """With `replicas` in the manifest, every `kubectl apply` would reset the autoscaler's choice."""
    deployments = by_kind(documents, "Deployment")
    for name in autoscaled(documents):
        assert "replicas" not in deployments[name]["spec"], name


def test_no_deployment_is_targeted_by_both_an_hpa_and_a_scaled_object(documents: list[dict[str, Any]]) -> None:
    """KEDA creates its own HPA for a ScaledObject; a second HPA on the same Deployment would fight it."""
    hpa_targets = [h["spec"]["scaleTargetRef"]["name"] for h in by_kind(documents, "HorizontalPodAutoscaler").values()]
    keda_targets = [s["spec"]["scaleTargetRef"]["name"] for s in by_kind(documents, "ScaledObject").values()]
    assert len(set(hpa_targets)) == len(hpa_targets) and len(set(keda_targets)) == len(keda_targets)
    assert not set(hpa_targets) & set(keda_targets)


class RecordingBus:
    """Stands in for the bus to record which durable consumers a service's `handlers.register` creates."""

    def __init__(self) -> None:
        self.subjects: dict[str, str] = {}

    def subscribe(self, event_type: Any, handler: Any, *, durable: str, **_: Any) -> None:
        self.subjects[durable] = event_type.subject


def test_the_embedding_indexer_scales_on_consumer_lag_and_cpu(documents: list[dict[str, Any]]) -> None:
    """A KEDA ScaledObject with a nats-jetstream trigger on the indexer's real stream and durable, plus CPU."""
    (scaled,) = by_kind(documents, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_FIELDS
    assert spec["scaleTargetRef"]["name"] == "embedding" in by_kind(documents, "Deployment")
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    triggers = {t["type"]: t for t in spec["triggers"]}
    assert set(triggers) == {"nats-jetstream", "cpu"} and len(spec["triggers"]) == 2

    lag = triggers["nats-jetstream"]["metadata"]
    assert JETSTREAM_REQUIRED <= set(lag) <= JETSTREAM_REQUIRED | JETSTREAM_OPTIONAL
    assert all(isinstance(value, str) for value in lag.values()), "KEDA trigger metadata is a map of strings"
    assert int(lag["lagThreshold"]) > 0 and lag["account"] == "$G"
    host, port = lag["natsServerMonitoringEndpoint"].rsplit(":", 1)
    assert host == urlsplit(common_env(documents)["LLMOPS_NATS_URL"]).hostname and port == "8222"
    bus = RecordingBus()
    embedding_handlers.register(bus, app=None)
    assert lag["consumer"] == "embedding-indexer" and lag["consumer"] in bus.subjects
    assert lag["stream"] == stream_for(bus.subjects[lag["consumer"]]) == "DOCUMENTS"

    cpu = triggers["cpu"]
    assert cpu["metricType"] == "Utilization" and 0 < int(cpu["metadata"]["value"]) <= 100
    assert container_of(by_kind(documents, "Deployment")["embedding"])["resources"]["requests"]["cpu"]


def test_every_replicated_or_autoscaled_deployment_has_a_disruption_budget(documents: list[dict[str, Any]]) -> None:
    """A policy/v1 PDB selecting exactly that Deployment's pods, letting at most one go at a time."""
    deployments = by_kind(documents, "Deployment")
    budgets = by_kind(documents, "PodDisruptionBudget")
    needing = set(autoscaled(documents)) | {n for n, d in deployments.items() if d["spec"].get("replicas", 1) > 1}
    covered = set()
    for name, budget in budgets.items():
        selector = budget["spec"]["selector"]["matchLabels"]
        selected = {
            n for n, d in deployments.items() if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }
        assert len(selected) == 1, f"PDB {name} selects {sorted(selected)}"
        assert budget["spec"].get("maxUnavailable") == 1 or budget["spec"].get("minAvailable") == 1, name
        covered |= selected
    assert needing <= covered, f"no PDB for {sorted(needing - covered)}"
    assert covered <= needing, f"a PDB on a single pod blocks node drains: {sorted(covered - needing)}"


def test_every_service_variable_is_a_setting_of_that_service(documents: list[dict[str, Any]]) -> None:
    """Settings ignore unknown variables, so a typo in LLMOPS_<SERVICE>_* would pass silently."""
    variables = set(common_env(documents))
    for name in by_kind(documents, "Deployment"):
        variables |= {e["name"] for e in container_of(by_kind(documents, "Deployment")[name])["env"]}
    for service in SERVICES:
        fields = importlib.import_module(f"services.{service}.config").Settings.model_fields
        prefix = f"LLMOPS_{service.upper()}_"
        for key in variables:
            if key.startswith(prefix):
                assert key.removeprefix(prefix).lower().split("__")[0] in fields, f"{key} is not a {service} setting"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_pods_environment_loads_into_its_settings(
    documents: list[dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variables a pod sees land in its Settings: port, authentication, limits and telemetry."""
    for key, value in pod_env(documents, name).items():
        monkeypatch.setenv(key, value)
    settings = importlib.import_module(f"services.{name}.config").Settings()
    assert settings.grpc.host == "0.0.0.0" and settings.grpc.port == SERVICES[name]
    assert settings.grpc.auth.enabled is True
    assert settings.grpc.auth.api_keys_file == Path(common_env(documents)["LLMOPS_AUTH_API_KEYS_FILE"])
    assert settings.grpc.client.api_key is not None
    assert settings.grpc.limits.max_concurrent == 256
    assert (settings.grpc.limits.rate_per_s is not None) == (name in FRONT_DOORS)
    assert settings.common.telemetry.metrics_port == METRICS_PORT
    assert settings.common.telemetry.traces_exporter == "otlp"
    assert settings.common.stream_replicas == 3 and settings.common.log_format == "json"


def test_audit_takes_its_database_and_signing_key_from_a_secret(documents: list[dict[str, Any]]) -> None:
    """Secret llmops-audit, optional: without it the log falls back to SQLite on its volume."""
    container = container_of(by_kind(documents, "Deployment")["audit"])
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert secrets["LLMOPS_AUDIT_POSTGRES_DSN"]["name"] == secrets["LLMOPS_AUDIT_SIGNING_KEY"]["name"] == "llmops-audit"
