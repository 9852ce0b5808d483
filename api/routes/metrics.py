"""Prometheus metrics at /metrics (text exposition format), read from the database."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.deps import SessionDep
from core.db.models import SubmissionStatus
from core.services import metrics

router = APIRouter(tags=["health"])


class _Collector:
    """Turns one database snapshot into Prometheus metric families."""

    def __init__(self, snap: metrics.Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        """The metric families of this snapshot."""
        s = self.snap
        depth = GaugeMetricFamily("tensorjudge_queue_depth", "Queued submissions", labels=["queue", "lane"])
        for queue in ("cpu", "gpu"):
            for lane in ("live", "rejudge"):
                depth.add_metric([queue, lane], s.queue_depth.get((queue, lane), 0))
        yield depth
        states = GaugeMetricFamily("tensorjudge_submissions", "Submissions by state", labels=["state"])
        for status in SubmissionStatus:
            states.add_metric([status.value], s.by_status.get(status.value, 0))
        yield states
        verdicts = CounterMetricFamily("tensorjudge_verdicts", "Submissions by verdict", labels=["verdict"])
        for verdict, n in sorted(s.verdicts.items()):
            verdicts.add_metric([verdict], n)
        yield verdicts
        buckets = [(f"{bound:g}", n) for bound, n in s.latency_buckets] + [("+Inf", s.latency_count)]
        yield HistogramMetricFamily("tensorjudge_grading_latency_seconds", "Claim to verdict, graded submissions",
                                    buckets=buckets, sum_value=s.latency_sum_s)
        yield CounterMetricFamily("tensorjudge_sandbox_failures", "Infrastructure failures while grading "
                                  "(retried or failed)", value=s.sandbox_failures)
        ages = GaugeMetricFamily("tensorjudge_worker_heartbeat_age_seconds", "Seconds since each worker "
                                 "process last beat", labels=["worker"])
        for worker, age in sorted(s.heartbeat_age_s.items()):
            ages.add_metric([worker], age)
        yield ages


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics(session: SessionDep) -> Response:
    """Prometheus metrics: queue depth per queue and lane, submissions by state, verdict
    counts, grading latency histogram, sandbox failures, worker heartbeat ages."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(metrics.snapshot(session)))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
