"""OpenTelemetry traces, off unless CASEWORK_OTLP_ENDPOINT names a collector.

One trace follows a request from the gateway's HTTP span through its Temporal calls (start,
update, query) into the workflow's handling of them and the activities it runs, across
processes: the gateway and the worker each export their spans by OTLP over HTTP, and
Temporal carries the trace context in the messages' headers.

The Temporal side is `temporalio.contrib.opentelemetry.TracingInterceptor` on the client
(workers take it from their client). A case's spans on the worker belong to the trace of the
request that started it; a later action's spans (validating and handling its update) are in
that trace too, linked to the action's request trace. Workflow spans are written when they
happen and last no time; the SDK's newer plugin gives them durations, but only once a workflow ends,
which for a case that lives for months is never in time to be useful.
"""

from __future__ import annotations

from typing import Any

from settings import Settings

# the Temporal client interceptors of a process: the tracing one when tracing is on
_interceptors: list[Any] = []


def configure(process: str, settings: Settings) -> bool:
    """Set up the process's tracer provider and exporter; False (nothing done) when no
    endpoint is configured. `process`: "gateway" or "worker", the spans' service name
    ("casework-gateway", ...)."""
    _interceptors.clear()
    if not settings.otlp_endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    provider = TracerProvider(resource=Resource.create({"service.name": f"casework-{process}"}))
    endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=10)))
    trace.set_tracer_provider(provider)
    _interceptors.append(TracingInterceptor())
    return True


def client_interceptors() -> list[Any]:
    """What to pass as `Client.connect(interceptors=...)`."""
    return list(_interceptors)


def instrument(app: Any) -> None:
    """Server spans for the gateway's requests, named by route template (`PUT
    /tasks/{taskId}/claim`), never by ids; nothing when tracing is off."""
    if not _interceptors:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # health checks and scrapes would drown the traces that matter (patterns are searched
    # in the whole URL and separated by commas)
    FastAPIInstrumentor.instrument_app(app, excluded_urls=r"/health(\?|$),/ready(\?|$),/metrics(\?|$)")


def shutdown() -> None:
    """Send the spans still buffered (at a process's end)."""
    if not _interceptors:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()
