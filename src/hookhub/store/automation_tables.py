"""Tables of automations: automations, executions with their steps, tickets.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations
