"""Actions run through the registry with the context a real ``Services`` builds.

``make_services`` (started services, dispatcher loop off, an injected clock, private addresses
allowed for the local receiver) and ``receiver`` come from the outgoing-webhook fixtures;
``json_logs`` from the HTTP shell's.
"""

from tests.http.conftest import json_logs
from tests.outbound.conftest import clock, make_services, receiver

__all__ = ["clock", "json_logs", "make_services", "receiver"]
