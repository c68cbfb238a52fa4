"""Liveness, readiness and Prometheus metrics.

`/healthz` answers while the process serves requests. `/readyz` runs every readiness check
(database, Redis, signing key) and names the ones that fail. `/metrics` is computed at scrape
time from shared state (Redis counters and streams, the ledger tables), so it is the same
whichever process or gunicorn worker answers, with no multiprocess metric files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import structlog
from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhook.app import WebhookDeps
from webhook.app import deps
from webhook.inbox import PROCESSED_COUNTER
from webhook.inbox import RECEIVED_COUNTER

bp = Blueprint("health", __name__)
log = structlog.get_logger("webhook.health")


@bp.get("/healthz")
def healthz() -> Any:
    """Answer 200 while the process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Run every readiness check; 503 naming the failed ones.

    `?full=1` runs a check's `full()` variant where it has one (the ledger's full audit).
    A failure that names an entry (`err.index`) is reported with that index and the reason.
    """
    full = request.args.get("full") == "1"
    failed: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for name, check in deps().checks.items():
        try:
            (getattr(check, "full", check) if full else check)()
        except Exception as err:  # any failure makes the check fail, whatever raised it
            failed[name] = type(err).__name__
            index = getattr(err, "index", None)
            if isinstance(index, int):
                details[name] = {"index": index, "reason": str(getattr(err, "reason", ""))}
    if failed:
        log.warning("readiness_failed", failed=sorted(failed), details=details)
        response = jsonify(status="unavailable", failed=failed, details=details)
        response.status_code = 503
        return response
    return jsonify(status="ok", checks=sorted(deps().checks))


@bp.get("/metrics")
def metrics() -> Response:
    """Expose the metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(deps()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


class RuntimeCollector(Collector):
    """Read the runtime's shared state at scrape time."""

    def __init__(self, d: WebhookDeps) -> None:
        self._d = d

    def collect(self) -> Iterator[Any]:
        yield from self._updates()
        yield from self._ledger()
        if self._d.extra_metrics is not None:
            try:
                extra = self._d.extra_metrics()
            except Exception as err:  # a database outage shows in /readyz
                log.warning("metrics_partial", source="extra", error=type(err).__name__)
                extra = {}
            for name, value in extra.items():
                yield GaugeMetricFamily(f"ttabok_{name}", name.replace("_", " "), value=value)

    def _updates(self) -> Iterator[Any]:
        layout, client = self._d.inbox.layout, self._d.redis
        try:
            received, processed = client.mget(
                [layout.key(RECEIVED_COUNTER), layout.key(PROCESSED_COUNTER)]
            )
            pipe = client.pipeline(transaction=False)
            for stream in layout.streams():
                pipe.xlen(stream)
                pipe.xrange(stream, count=1)
            answers = pipe.execute()
        except Exception as err:  # metrics must not fail when Redis is down
            log.warning("metrics_partial", source="redis", error=type(err).__name__)
            return
        yield CounterMetricFamily(
            "ttabok_updates_received", "Updates stored by ingress", value=int(received or 0)
        )
        yield CounterMetricFamily(
            "ttabok_updates_processed", "Updates applied by workers", value=int(processed or 0)
        )
        backlog = sum(int(n) for n in answers[0::2])
        oldest = [int(first[0][0].split(b"-")[0]) / 1000 for first in answers[1::2] if first]
        lag = max(0.0, time.time() - min(oldest)) if oldest else 0.0
        yield GaugeMetricFamily("ttabok_queue_backlog", "Updates not yet applied", value=backlog)
        yield GaugeMetricFamily(
            "ttabok_queue_lag_seconds", "Age of the oldest unapplied update", value=lag
        )

    def _ledger(self) -> Iterator[Any]:
        try:
            size = self._d.ledger.size()
            last = self._d.ledger.checkpoint()
            newest = self._d.ledger.blocks(start=last.block, limit=1) if last else []
        except Exception as err:  # a database outage shows in /readyz, not as a 500 here
            log.warning("metrics_partial", source="ledger", error=type(err).__name__)
            return
        yield GaugeMetricFamily("ttabok_ledger_size", "Entries in the ledger", value=size)
        if newest:
            sealed = _epoch(newest[0].sealed_at) or time.time()
            yield GaugeMetricFamily(
                "ttabok_block_age_seconds",
                "Seconds since the newest block was sealed",
                value=max(0.0, time.time() - sealed),
            )
            yield GaugeMetricFamily("ttabok_blocks", "Sealed blocks", value=newest[0].number)
            yield GaugeMetricFamily(
                "ttabok_unsealed_entries", "Entries not yet in a block", value=size - newest[0].end
            )
