"""Services are tested with the outgoing-webhook fixtures: a real receiver, an injected clock."""

from tests.outbound.conftest import clock, make_services, receiver

__all__ = ["clock", "make_services", "receiver"]
