"""Tables of tickets: triage tickets with their sequential numbers.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations
