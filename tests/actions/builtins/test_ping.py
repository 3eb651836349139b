from __future__ import annotations

from typing import Any

from hookhub.clock import isoformat_z
from tests.actions.support import audit_rows, run
from tests.outbound.conftest import FakeClock


async def test_ping_answers_pong_with_the_time_of_the_clock(
    make_services: Any, clock: FakeClock
) -> None:
    services = await make_services()
    result = await run(services, "ping", {})
    assert result == {"status": "ok", "pong": True, "timestamp": isoformat_z(clock.now)}
    assert result["timestamp"].endswith("Z")
    [row] = await audit_rows(services)
    assert (row.target, row.details["ok"]) == ("ping", True)
