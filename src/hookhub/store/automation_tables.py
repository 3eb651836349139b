"""Tables of automations: automations and their executions with their steps.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations
