"""hookhub processes for the multi-node tests: ``hookhub serve`` on a free port, one per node."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN

from .conftest import INTERNAL_SECRET, TOKEN_SECRET

START_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Node:
    """One ``hookhub serve`` process sharing a database and a Redis with its peers."""

    def __init__(self, *, database_url: str, redis_url: str, key_prefix: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HOOKHUB_") or key.startswith("HOOKHUB_TEST_")
        }
        self.env.update(
            {
                "HOOKHUB_PORT": str(self.port),
                "HOOKHUB_DATABASE_URL": database_url,
                "HOOKHUB_REDIS_URL": redis_url,
                "HOOKHUB_REDIS_KEY_PREFIX": key_prefix,
                "HOOKHUB_ADMIN_TOKEN": ADMIN_TOKEN,
                "HOOKHUB_INTERNAL_SECRET": INTERNAL_SECRET,
                "HOOKHUB_TOKEN_SECRET": TOKEN_SECRET,
                "HOOKHUB_DISPATCHER_ENABLED": "false",
                "HOOKHUB_LOG_FORMAT": "json",
            }
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        """Start the process; :meth:`wait_ready` then waits for it to answer."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hookhub", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hookhub serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hookhub serve did not answer /healthz in time")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
