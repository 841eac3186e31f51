"""Metrics (Prometheus) and traces (OpenTelemetry) for every service: interceptors, endpoint, propagation helpers."""

from llmops.observability.metrics import MetricsInterceptor, record_consumer_info, short_method, start_metrics_endpoint
from llmops.observability.tracing import (
    JsonlSpanExporter,
    TracingClientInterceptor,
    TracingServerInterceptor,
    add_span_exporter,
    add_trace_ids,
    client_interceptors,
    configure_tracing,
    consumer_span,
    current_trace_ids,
    inject_trace_headers,
    shutdown_tracing,
)

__all__ = [
    "JsonlSpanExporter",
    "MetricsInterceptor",
    "TracingClientInterceptor",
    "TracingServerInterceptor",
    "add_span_exporter",
    "add_trace_ids",
    "client_interceptors",
    "configure_tracing",
    "consumer_span",
    "current_trace_ids",
    "inject_trace_headers",
    "record_consumer_info",
    "short_method",
    "shutdown_tracing",
    "start_metrics_endpoint",
]
