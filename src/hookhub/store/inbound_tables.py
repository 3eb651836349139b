"""Tables of incoming webhooks: endpoints, their request history, dedupe keys.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations
