"""End to end: `hookhub migrate` then `hookhub serve --demo`, as `make run` does, on a real port."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HOOKHUB = [sys.executable, "-m", "hookhub"]
START_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HOOKHUB_") or key.startswith("HOOKHUB_TEST_")
    }
    port = free_port()
    env["HOOKHUB_PORT"] = str(port)  # as `HOOKHUB_PORT=9000 make run` would pass it
    env["HOOKHUB_LOG_FORMAT"] = "json"
    subprocess.run([*HOOKHUB, "migrate"], cwd=tmp_path, env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [*HOOKHUB, "serve", "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"hookhub serve exited: {process.communicate()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("hookhub serve did not answer /healthz in time")
            time.sleep(0.1)
        yield base, tmp_path, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_demo_server_serves_docs_and_keeps_its_token_private(
    demo_server: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    base, folder, process = demo_server
    token_file = folder / ".hookhub-admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert (folder / "hookhub.db").exists()

    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/metrics", "/events", "/tokens", "/audit"} <= set(paths)

    headers = {"Authorization": f"Bearer {token}"}
    published = httpx.post(f"{base}/events", json={"type": "demo.ping"}, headers=headers)
    assert published.status_code == 201
    assert httpx.post(f"{base}/events", json={"type": "demo.ping"}).status_code == 401

    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)
    # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "services.stopped" in stderr
    assert token in stdout
    assert f"http://127.0.0.1:{base.rsplit(':', 1)[1]}/docs" in stdout
    assert token not in stderr  # printed for the user once, never logged
    assert published.json()["id"] in stderr  # the event's id is in the logs
