"""Prometheus metrics: what `/metrics` reports, for one process or for all of a server's workers.

With one process each app owns a registry. With several workers (`PROMETHEUS_MULTIPROC_DIR`
set before anything imports prometheus-client, which `python -m backend serve` does) every
worker writes its values to files in that directory, and whichever worker answers `/metrics`
adds them all up.
"""

import asyncio
import contextlib
import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POOL_SAMPLE_SECONDS = 5.0
# Methods outside this set are one label value, so odd clients cannot grow the series count.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

PoolSampler = Callable[[], tuple[int, int]]


def multiprocess_mode() -> bool:
    return MULTIPROCESS_DIR_ENV in os.environ


class Metrics:
    """The app's metrics; request series are cached per label set to keep recording cheap."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if self.multiprocess else self.registry
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)
        else:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request to the end of the response, by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.auth_failures = Counter(
            "auth_failures_total",
            "Requests refused authentication, by reason.",
            ["reason"],
            registry=own,
        )
        self.rate_limited = Counter(
            "rate_limited_requests_total",
            "Requests answered 429, by quota.",
            ["policy"],
            registry=own,
        )
        self.rate_limit_fail_open = Counter(
            "rate_limit_fail_open_total",
            "Requests served without a rate-limit check because Redis could not be reached.",
            registry=own,
        )
        self.access_log_dropped = Counter(
            "access_log_dropped_lines",
            "Access log lines dropped because the log sink fell behind (or was closed).",
            registry=own,
        )
        self.db_pool = Gauge(
            "db_pool_connections",
            "Database connections of the pool, by state (in_use, idle).",
            ["state"],
            multiprocess_mode="livesum",
            registry=own,
        )
        self._request_series: dict[
            tuple[str, str, int], tuple[MetricWrapperBase, MetricWrapperBase]
        ] = {}
        self._pool_sampler: PoolSampler | None = None
        self._pool_task: asyncio.Task[None] | None = None

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            labels = (route, method, str(status))
            series = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._request_series[key] = series
        counter, histogram = series
        counter.inc()  # type: ignore[attr-defined]
        histogram.observe(seconds)  # type: ignore[attr-defined]

    def start_pool_sampling(self, sampler: PoolSampler) -> None:
        """Report the pool's in-use and idle connections now and every few seconds."""
        self._pool_sampler = sampler
        self._sample_pool()
        self._pool_task = asyncio.create_task(self._sample_pool_forever())

    async def stop(self) -> None:
        if self._pool_task is not None:
            self._pool_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pool_task
        if self.multiprocess:
            # Drops this process's live gauges, so a stopped worker's pool is not summed.
            multiprocess.mark_process_dead(os.getpid())

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        self._sample_pool()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _sample_pool(self) -> None:
        if self._pool_sampler is None:
            return
        in_use, idle = self._pool_sampler()
        self.db_pool.labels("in_use").set(in_use)
        self.db_pool.labels("idle").set(idle)

    async def _sample_pool_forever(self) -> None:
        while True:
            await asyncio.sleep(POOL_SAMPLE_SECONDS)
            self._sample_pool()
