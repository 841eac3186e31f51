"""The observability library's pure parts, and the Grafana dashboard and Prometheus config checked statically."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from llmops.observability.metrics import short_method, split_method
from llmops.observability.tracing import (
    JsonlSpanExporter,
    add_trace_ids,
    consumer_span,
    current_trace_ids,
    inject_trace_headers,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "ingestion", "embedding", "retrieval", "inference", "guardrails", "feedback", "audit")
METRIC = re.compile(r"\bllmops_[a-z_]+")
SAMPLE_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "infra/grafana/llmops-dashboard.json").read_text())
    return data


def exposed_series() -> set[str]:
    """Every series name an `llmops_` metric of the registry exposes, e.g. `llmops_rpc_duration_seconds_bucket`."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("llmops_")
        for suffix in SAMPLE_SUFFIXES[family.type]
    }


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and template variable queries."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_short_method_names_the_service_and_method_without_the_package() -> None:
    """`/llmops.api.gateway.v1.Assistant/Ask` reads `Assistant.Ask`; health keeps its own service name."""
    assert short_method("/llmops.api.gateway.v1.Assistant/Ask") == "Assistant.Ask"
    assert short_method("/grpc.health.v1.Health/Check") == "Health.Check"
    assert split_method("/llmops.api.gateway.v1.Assistant/Ask") == ("llmops.api.gateway.v1.Assistant", "Ask")


def test_the_registry_exposes_every_documented_metric() -> None:
    """The metrics the dashboard and the module docstring promise exist with their Prometheus types."""
    series = exposed_series()
    for name in (
        "llmops_rpc_requests_total",
        "llmops_rpc_duration_seconds_bucket",
        "llmops_rpc_in_flight",
        "llmops_events_handled_total",
        "llmops_event_handle_seconds_bucket",
        "llmops_dead_letters_total",
        "llmops_consumer_pending",
        "llmops_consumer_redelivered",
        "llmops_tokens_total",
        "llmops_cost_usd_total",
        "llmops_cache_lookups_total",
        "llmops_guardrail_verdicts_total",
        "llmops_rejected_total",
    ):
        assert name in series


def test_every_dashboard_expression_names_only_series_the_metrics_module_exposes(dashboard: dict[str, Any]) -> None:
    """A renamed metric or a wrong suffix (a counter without `_total`, a gauge with one) fails here, not in Grafana."""
    series = exposed_series()
    exprs = expressions(dashboard)
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    assert named, "the dashboard queries no llmops_ metric"
    assert named <= series, f"unknown series: {sorted(named - series)}"
    assert all(METRIC.search(expr) for expr in exprs), "an expression queries no llmops_ metric"


def test_the_suffix_check_rejects_a_counter_named_without_total() -> None:
    """The check above is strict: family names alone are not series names."""
    series = exposed_series()
    assert "llmops_rpc_requests" not in series
    assert "llmops_rpc_in_flight_total" not in series
    assert "llmops_rpc_duration_seconds" not in series


def test_dashboard_has_unique_panel_ids_a_datasource_variable_and_a_service_variable(dashboard: dict[str, Any]) -> None:
    """Grafana needs unique ids; every panel and target uses the `${DS_PROMETHEUS}` data source."""
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["schemaVersion"] >= 38
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["service"]["type"] == "query"
    for p in dashboard["panels"]:
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert p["targets"] and all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in p["targets"])


def test_dashboard_covers_the_operational_questions(dashboard: dict[str, Any]) -> None:
    """Rates, errors, latency quantiles, in-flight, tokens, cost, cache, guardrails, lag, dead letters, rejections."""
    exprs = " ".join(expressions(dashboard))
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (service, le) (rate(llmops_rpc_duration_seconds_bucket" in exprs
    assert 'code!="OK"' in exprs
    for metric in (
        "llmops_rpc_in_flight",
        "llmops_tokens_total",
        "llmops_cost_usd_total",
        "llmops_cache_lookups_total",
        "llmops_guardrail_verdicts_total",
        "llmops_consumer_pending",
        "llmops_dead_letters_total",
        "llmops_rejected_total",
    ):
        assert metric in exprs


def test_prometheus_scrapes_the_metrics_port_of_every_service() -> None:
    """Each of the eight services is a target on port 9464, and nothing is scraped that the stack does not run."""
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    for service in SERVICES:
        assert f"{service}:9464" in targets
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {t.split(":")[0] for t in targets} <= set(compose["services"])


def test_jsonl_exporter_writes_one_parseable_line_per_span_with_parent_links(tmp_path: Path) -> None:
    """Trace and span ids in hex, the parent's id, kind, service, status and attributes."""
    path = tmp_path / "spans" / "traces.jsonl"
    exporter = JsonlSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer,
        tracer.start_as_current_span("inner", attributes={"n": 3, "tags": ("a", "b")}) as inner,
    ):
        inner.set_status(StatusCode.ERROR)
    provider.shutdown()

    lines = path.read_text().splitlines()
    records = {r["name"]: r for r in map(json.loads, lines)}
    assert len(lines) == 2
    trace_id = trace.format_trace_id(outer.get_span_context().trace_id)
    assert records["outer"]["trace_id"] == records["inner"]["trace_id"] == trace_id
    assert records["outer"]["parent_span_id"] is None
    assert records["inner"]["parent_span_id"] == records["outer"]["span_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", records["inner"]["span_id"])
    assert records["outer"]["kind"] == "SERVER" and records["inner"]["kind"] == "INTERNAL"
    assert records["inner"]["service"] == "unit"
    assert records["inner"]["status"] == "ERROR"
    assert records["inner"]["attributes"] == {"n": 3, "tags": ["a", "b"]}
    assert records["outer"]["start"] <= records["inner"]["start"] <= records["inner"]["end"] <= records["outer"]["end"]


def test_jsonl_exporter_appends_to_a_file_other_exporters_write(tmp_path: Path) -> None:
    """Two exporters on one file (two processes in production) keep every line whole."""
    path = tmp_path / "traces.jsonl"
    providers = []
    for name in ("a", "b"):
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(path)))
        providers.append(provider)
    for i in range(20):
        with providers[i % 2].get_tracer("test").start_as_current_span(f"span-{i}"):
            pass
    for provider in providers:
        provider.shutdown()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["name"] for r in records) == sorted(f"span-{i}" for i in range(20))
    assert {r["service"] for r in records} == {"a", "b"}


def test_nats_headers_carry_the_trace_to_a_consumer_span() -> None:
    """A publisher's traceparent makes the handler's span a child in the same trace."""
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("publish") as publish:
        headers = inject_trace_headers({"ce-type": "x"})
    assert headers["ce-type"] == "x"
    assert headers["traceparent"].split("-")[1] == trace.format_trace_id(publish.get_span_context().trace_id)

    # consumer_span uses the global provider: installed or not, the span continues the caller's trace.
    with consumer_span("documents.ingested handle", headers, subject="documents.ingested") as span:
        assert span.get_span_context().trace_id == publish.get_span_context().trace_id
        ids = current_trace_ids()
        assert ids is not None and ids[0] == trace.format_trace_id(publish.get_span_context().trace_id)


def test_trace_ids_reach_log_records_only_inside_a_span() -> None:
    """The structlog processor adds trace_id and span_id when a span is current and nothing otherwise."""
    assert current_trace_ids() is None
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        event = add_trace_ids(None, "info", {"event": "x"})
    assert event["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert event["span_id"] == trace.format_span_id(span.get_span_context().span_id)


def test_without_an_exporter_spans_are_not_recorded_but_their_ids_still_propagate() -> None:
    """Exporter `none` costs little per call, yet the trace context still crosses services and reaches logs."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from llmops.observability.tracing import _RecordWhenExported

    sampler = _RecordWhenExported()
    tracer = TracerProvider(sampler=sampler).get_tracer("test")
    with tracer.start_as_current_span("quiet") as quiet:
        headers = inject_trace_headers({})
    assert not quiet.is_recording()
    assert quiet.get_span_context().is_valid
    assert headers["traceparent"].split("-")[1] == trace.format_trace_id(quiet.get_span_context().trace_id)
    sampler.delegate = ParentBased(TraceIdRatioBased(1.0))
    with tracer.start_as_current_span("loud") as loud:
        assert loud.is_recording()
