"""Tickets are tested with started services (the outgoing-webhook fixtures) and, over HTTP,
with the HTTP shell's client and error checks."""

from tests.http.conftest import expect_error, make_client
from tests.outbound.conftest import clock, make_services, receiver

__all__ = ["clock", "expect_error", "make_client", "make_services", "receiver"]
