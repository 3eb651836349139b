"""Outgoing webhooks: subscriptions, signed at-least-once delivery, retries, delivery log."""
