"""The browser client (hookhub.js) run by Node against a real hookhub: subscribe, lose the
connection, reconnect by itself and recover what was published meanwhile, in order, once."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import pytest

from hookhub.app import create_app
from hookhub.config import Settings
from tests.realtime.conftest import INTERNAL_SECRET, hub_settings, mint  # noqa: F401
from tests.realtime.server import HubServer

NODE_TIMEOUT_S = 30

SCRIPT = r"""
const [, , lib, wsUrl, httpUrl, token, secret] = process.argv;
const HookhubClient = require(lib);
const statuses = [];
const got = [];
const timer = setTimeout(() => {
  console.log(JSON.stringify({ timeout: true, got, statuses }));
  process.exit(1);
}, 20000);
const hub = new HookhubClient({
  url: wsUrl, token, minDelayMs: 200, maxDelayMs: 1000,
  onStatus: (status) => statuses.push(status),
});
const broadcast = (n) => fetch(httpUrl + "/api/internal/broadcast?channel=shop:1", {
  method: "POST",
  headers: { "content-type": "application/json", "x-internal-secret": secret },
  body: JSON.stringify({ type: "n", n }),
});
let dropped = false;
hub.subscribe("shop:1", async (message) => {
  got.push([message.n, message.offset]);
  if (message.n === 1 && !dropped) {
    dropped = true;
    hub._socket.close();  // as if the network dropped: the client must come back by itself
    await broadcast(2);
    await broadcast(3);
  }
  if (message.n === 3) {
    hub.close();
    clearTimeout(timer);
    console.log(JSON.stringify({ got, statuses }));
  }
});
hub.connect();
const ready = setInterval(() => {
  if (hub._channels.get("shop:1").epoch !== null) { clearInterval(ready); broadcast(1); }
}, 20);
"""


@pytest.fixture
def server(hub_settings: Callable[..., Settings]) -> Iterator[HubServer]:  # noqa: F811
    hub = HubServer(create_app(hub_settings()), frame_writer=True)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def test_reconnects_and_recovers_in_order(server: HubServer, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "client.js"
    script.write_text(SCRIPT)
    library = resources.files("hookhub").joinpath("static/hookhub.js")
    result = subprocess.run(
        [
            node, "--experimental-websocket", str(script), str(library), server.ws,
            server.http, mint(channels=["shop:*"]), INTERNAL_SECRET,
        ],
        capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["got"] == [[1, 1], [2, 2], [3, 3]]
    assert outcome["statuses"] == ["connected", "reconnecting", "connected", "disconnected"]
