"""Triage tickets (seed 002's target): numbered, routed to a team, status changes published."""
