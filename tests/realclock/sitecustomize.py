"""Moves this process's real clock (time.time, datetime.now, ...) by TESTS_REAL_CLOCK_SHIFT
seconds when that is set. The far-future run of the suite puts this folder on PYTHONPATH, so
every Python process it starts (pytest, a bot process, `imagebot report`) sees the same date:
each moves by the same shift from its own start, and its clock goes on ticking."""

import os

_SHIFT = os.environ.get("TESTS_REAL_CLOCK_SHIFT")
if _SHIFT:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _destination = datetime.now(UTC) + timedelta(seconds=float(_SHIFT))
    time_machine.travel(_destination, tick=True).start()
