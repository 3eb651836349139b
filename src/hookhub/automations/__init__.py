"""Automations: a trigger (an endpoint or an event type, plus a filter) runs ordered actions."""
