"""An event loop of its own in a daemon thread, so a stand-in can serve while the code that
uses it runs on another loop, or on none (sync clients, benchmarks, the demo)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

Step = Callable[[], Coroutine[Any, Any, None]]


class LoopThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, start: Step, timeout: float) -> None:
        """Run the loop in its thread and `start()` on it; its error is raised here."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(start(), loop).result(timeout)
        except BaseException:
            self.stop(None, timeout)  # leave no loop thread running
            raise

    def stop(self, stop: Step | None, timeout: float) -> None:
        """`stop()` on the loop, end whatever it left running, and close the loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(_finish(stop), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
        self._loop = self._thread = None


async def _finish(stop: Step | None) -> None:
    if stop is not None:
        await stop()
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
