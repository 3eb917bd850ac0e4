"""The worker: runs CaseWorkflow and its activities on the task queue of the settings."""

from __future__ import annotations

import asyncio
import logging
import signal

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Interceptor, Worker, WorkflowInboundInterceptor, WorkflowInterceptorClassInput
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import gc_tuning
import log_setup
import tracing
from devserver import ensure_search_attributes
from activities.http_calls import HttpActivities
from activities.outbound import OutboundPolicy
from activities.read_model import ReadModelActivities
from activities.subcases import SubCaseActivities
from settings import Settings, get_settings
from store import projection
from store.db import Database
from activities.webhooks import Dispatcher
from store.directory import Directory
from workflows.case import CaseWorkflow

log = logging.getLogger("casework.worker")
OPEN_CASES_METRIC = "casework_open_cases"

# The project's own modules are deterministic and imported once; the CEL library is a
# native extension, and cel-python's parser (celpy, lark) builds its tables once. Passing
# them through keeps the sandbox from re-importing them per task (OpenTelemetry: the tracing
# interceptor's workflow side, when traces are on).
PASSTHROUGH = ("workflows", "activities", "cel", "celpy", "lark", "pydantic", "pydantic_core", "yaml", "jsonpath_ng", "opentelemetry")


def sandbox() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


class _CountInstances(Interceptor):
    """Tells the eviction collector of each workflow instance the worker creates (gc_tuning)."""

    def __init__(self, collector: gc_tuning.EvictionCollector) -> None:
        self.collector = collector

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        collector = self.collector

        class Counted(WorkflowInboundInterceptor):
            def __init__(self, next: WorkflowInboundInterceptor) -> None:
                super().__init__(next)
                collector.created()

        return Counted


def build_worker(client: Client, settings: Settings, db: Database, directory: Directory | None = None) -> Worker:
    """`directory`: BALANCED assignment expands groups with it (the settings' file when None)."""
    subcases = SubCaseActivities(db)
    read_model = ReadModelActivities(db, directory or Directory.load(settings.directory))
    http = HttpActivities(OutboundPolicy.parse(settings.http_allow))
    # as many instances created as a quarter of the cache: at most that many evicted meanwhile
    collector = gc_tuning.eviction_collector(every=max(50, settings.worker_cached_cases // 4))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow],
        max_cached_workflows=settings.worker_cached_cases,
        interceptors=[_CountInstances(collector)],
        activities=[http.http_call, http.validate_output, subcases.prepare_sub_case, read_model.project_case, read_model.project_change,
                    read_model.balanced_pick],
        workflow_runner=sandbox(),
        # On SIGTERM running activities (an HTTP call, a projection write) get this long to
        # finish before they are cancelled; Temporal retries a cancelled one elsewhere.
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
    )


def _runtime(settings: Settings) -> Runtime:
    """The SDK's runtime: its own log lines (warnings and errors of its Rust core) go through
    Python's logging, so they come in the process's one format (log_setup.py); its Prometheus
    metrics (workflow and activity task latencies and failures, pollers, the sticky cache)
    are served when an address is set, with ours beside them (the projection lag of the
    worker's writes, the open cases)."""
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    # ours in seconds, with the gateway's buckets (the SDK's default ones are for milliseconds)
    buckets = {projection.LAG_METRIC: list(projection.LAG_BUCKETS)}
    metrics = (
        PrometheusConfig(bind_address=settings.worker_metrics_address, histogram_bucket_overrides=buckets)
        if settings.worker_metrics_address else None
    )
    return Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))


async def count_open_cases(db: Database, runtime: Runtime, every: float) -> None:
    """The `casework_open_cases` gauge beside the SDK's metrics: cases that have not finished,
    as the read model holds them (every worker reports the same figure)."""
    gauge = runtime.metric_meter.create_gauge(OPEN_CASES_METRIC, "Cases in the read model that have not finished")
    while True:
        try:
            gauge.set(await projection.open_cases(db))
        except Exception:  # the database away: the gauge keeps its last figure
            log.warning("the open cases could not be counted", exc_info=True)
        await asyncio.sleep(every)


async def main() -> None:
    settings = get_settings()
    log_setup.configure("worker", settings.log_format)
    tracing.configure("worker", settings)
    # From the first moment: a stop asked for while the worker starts ends it cleanly once
    # started, instead of killing it halfway (the default action of SIGTERM).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = _runtime(settings)
    client = await Client.connect(
        settings.temporal_target, namespace=settings.namespace, data_converter=pydantic_data_converter, runtime=runtime,
        interceptors=tracing.client_interceptors(),
    )
    # An existing cluster may lack them; the workflow's upserts would fail without them.
    added = await ensure_search_attributes(client, settings.namespace)
    if added:
        log.info("registered search attributes %s", ", ".join(added))
    db = Database(settings.read_model_url)
    await db.init()
    worker = build_worker(client, settings, db)
    dispatcher = asyncio.create_task(Dispatcher(settings, db, Directory.load(settings.directory)).run()) if settings.webhooks else None
    gauges = asyncio.create_task(count_open_cases(db, runtime, settings.worker_gauge_seconds)) if settings.worker_metrics_address else None
    gc_tuning.settle()
    log.info("worker on task queue %r at %s", settings.task_queue, settings.temporal_target)
    async with worker:
        await stop.wait()
        # a delivery under way when stopped keeps its lease; another worker sends it after
        loops = [t for t in (dispatcher, gauges) if t is not None]
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    await db.close()
    tracing.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
