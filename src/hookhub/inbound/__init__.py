"""Incoming webhooks: endpoints, verification, rate limits, dedupe, request history."""
