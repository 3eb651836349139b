"""Metric children looked up once are the registry's own: what they count is exported."""

from prometheus_client import generate_latest

from hookhub.metrics import Metrics


def test_a_labelled_child_is_made_once_and_counts_in_the_registry() -> None:
    metrics = Metrics()
    attempts = metrics.labelled(metrics.webhook_attempts, "w1", "2xx")
    assert metrics.labelled(metrics.webhook_attempts, "w1", "2xx") is attempts
    assert attempts is metrics.webhook_attempts.labels("w1", "2xx")
    attempts.inc()
    metrics.labelled(metrics.webhook_attempts, "w1", "5xx").inc(2)
    metrics.labelled(metrics.webhook_latency, "w1").observe(0.003)
    exported = generate_latest(metrics.registry).decode()
    assert 'hookhub_webhook_attempts_total{outcome="2xx",webhook_id="w1"} 1.0' in exported
    assert 'hookhub_webhook_attempts_total{outcome="5xx",webhook_id="w1"} 2.0' in exported
    assert 'hookhub_webhook_attempt_duration_seconds_count{webhook_id="w1"} 1.0' in exported


def test_children_of_two_registries_stay_apart() -> None:
    first, second = Metrics(), Metrics()
    first.labelled(first.events_published, "api").inc()
    assert second.labelled(second.events_published, "api")._value.get() == 0
