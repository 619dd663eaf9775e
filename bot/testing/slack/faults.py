"""Faults the Slack stand-in can be told to play, each as Slack shows it: an error answer, a 429
with Retry-After, a 5xx (optionally after doing the work: "it's possible some aspect of the
operation succeeded", Slack's Web API docs), an upload URL answering 500, an answer held back.
A mixin of SlackStandIn, whose lock guards the list."""

from __future__ import annotations

import threading

from bot.testing.slack.models import Fault

UPLOAD_TARGET = "<upload>"


class FaultInjection:
    _lock: threading.Lock
    _faults: list[Fault]

    def fail(self, method: str, error: str = "not_in_channel", times: int | None = 1) -> None:
        self._add_fault(Fault(method, "error", times, error=error))

    def rate_limit(self, method: str, retry_after: int = 1, times: int | None = 1) -> None:
        self._add_fault(Fault(method, "ratelimit", times, retry_after=retry_after))

    def server_error(
        self, method: str, status: int = 500, times: int | None = 1, *, landed: bool = False
    ) -> None:
        """Answer ``status``; with ``landed`` only after doing what was asked, as Slack may."""
        self._add_fault(Fault(method, "server", times, status=status, landed=landed))

    def fail_upload(self, times: int | None = 1) -> None:
        """Answer the raw upload URL with HTTP 500 the next ``times`` times."""
        self._add_fault(Fault(UPLOAD_TARGET, "server", times, status=500))

    def stall(self, method: str, seconds: float, times: int | None = 1) -> None:
        """Do what the method does, then hold the answer back for ``seconds``: the caller
        cannot tell whether it landed (a lost reply, a process killed mid-call)."""
        self._add_fault(Fault(method, "stall", times, retry_after=0, delay=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, target: str, kind: str | None = None) -> Fault | None:
        """The first live fault for ``target`` (answers, or stalls when ``kind`` is "stall"),
        used once (call with the lock held)."""
        stalls = kind == "stall"
        found = next(
            (
                f
                for f in self._faults
                if f.target == target and (f.kind == "stall") == stalls and f.consume()
            ),
            None,
        )
        self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return found
