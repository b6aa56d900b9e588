"""The server's Prometheus metrics, in a registry of its own (one per app, so tests do not share)."""

from __future__ import annotations

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


class ServerMetrics:
    """Requests by route and status, their latency, faces found, refusals by reason, batch sizes."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "faceedge_http_requests", "HTTP requests answered.", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "faceedge_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.faces = Counter("faceedge_faces", "Faces found in analysed images.", registry=self.registry)
        self.errors = Counter(
            "faceedge_errors", "Requests refused or failed, by reason.", ["reason"], registry=self.registry
        )
        self.batch_images = Histogram(
            "faceedge_batch_images",
            "Images whose faces went to the classifier in one call.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue = Gauge(
            "faceedge_queue_images", "Images waiting for the pipeline.", registry=self.registry
        )

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
