"""Tables of the signal webhook (seed 001's ``/xc``): per-owner signal codes.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations
