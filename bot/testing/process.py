"""The bot as a separate process (`python -m bot run --http`), for tests and benchmarks that
kill it, restart it, or measure it from outside."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One bot process on a loopback port, with its log kept in files in `folder`."""

    def __init__(self, env: Mapping[str, str], folder: Path, port: int | None = None) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        logs = sorted(self.folder.glob("bot-*.log"))
        return "".join(path.read_text(errors="replace") for path in logs)

    async def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "bot", "run", "--http", "--host", "127.0.0.1"]
        with (self.folder / f"bot-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
                [*command, "--port", str(self.port)],
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await wait_until(self._healthy, timeout, what="the bot to answer /healthz", log=self.log)

    async def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.log()}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/healthz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    async def terminate(self, timeout: float = 15.0) -> float:
        """SIGTERM; returns how long the process took to exit. Waits without blocking the
        event loop, where stand-ins may be answering the bot's last calls."""
        proc = self.proc
        assert proc is not None
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, timeout, what="the bot to exit")
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user and system), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kb(self) -> dict[str, int]:
        """Resident memory now (VmRSS) and at its peak (VmHWM), from /proc."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
        return found


async def wait_until(
    check: Callable[[], object],
    timeout: float = 20.0,
    *,
    what: str = "a condition",
    log: Callable[[], str] | None = None,
) -> object:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n{log()[-3000:]}" if log is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
        await asyncio.sleep(0.05)
