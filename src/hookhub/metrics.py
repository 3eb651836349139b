"""Prometheus metrics, on a registry per application so several apps can live in one process."""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)

#: Seconds; spans a fast local call up to a slow outside one.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.http_requests = Counter(
            "hookhub_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "hookhub_http_request_duration_seconds",
            "Time from request to the end of the response",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.events_published = Counter(
            "hookhub_events_published",
            "Events stored and handed to the bus, by source",
            ["source"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "hookhub_webhook_attempts",
            "Outgoing webhook attempts, by webhook and outcome (2xx, 4xx, 5xx, error)",
            ["webhook_id", "outcome"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "hookhub_webhook_deliveries",
            "Outgoing webhook deliveries finished, by webhook and final status",
            ["webhook_id", "status"],
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "hookhub_webhook_attempt_duration_seconds",
            "Time from sending an outgoing webhook to the receiver's answer, by webhook",
            ["webhook_id"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.webhook_last_success = Gauge(
            "hookhub_webhook_last_success_timestamp_seconds",
            "When a webhook's receiver last answered 2xx (Unix time), by webhook",
            ["webhook_id"],
            registry=self.registry,
        )
        self.webhook_last_failure = Gauge(
            "hookhub_webhook_last_failure_timestamp_seconds",
            "When an attempt to a webhook last failed (Unix time), by webhook",
            ["webhook_id"],
            registry=self.registry,
        )
        self.bus_publish_failures = Counter(
            "hookhub_bus_publish_failures",
            "Events stored but not handed to the bus because it was unreachable",
            registry=self.registry,
        )

    def labelled(self, metric: MetricT, *labels: str) -> MetricT:
        """``metric.labels(*labels)``, looked up once: the hot paths count every delivery, and
        ``labels`` checks and locks on each call (about 2 µs). prometheus_client keeps every
        child it made anyway, so keeping them here holds nothing more."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
