"""Helpers for tests that run the bot as a real process, and for reading what it stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """`python -m bot run --http` in a subprocess, with its log kept in a file."""

    def __init__(self, env: Mapping[str, str], folder: Path, port: int | None = None) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.folder.glob("bot-*.log"))
        )

    async def start(self, timeout: float = 30.0) -> None:
        self.starts += 1
        log = (self.folder / f"bot-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--http",
                "--port",
                str(self.port),
                "--host",
                "127.0.0.1",
            ],
            env=self.env,
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        await wait_until(self._healthy, timeout, what=f"the bot to answer /healthz\n{self.log()}")

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

    def terminate(self, timeout: float = 15.0) -> float:
        """SIGTERM; returns how long the process took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


async def wait_until(
    check: Callable[[], object], timeout: float = 20.0, *, what: str = "a condition"
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
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def query(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """Read the bot's database from outside (WAL lets us while it runs)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))
