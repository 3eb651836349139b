"""Fixtures shared with the parts' own tests: the real local webhook receiver."""

from tests.outbound.conftest import receiver

__all__ = ["receiver"]
