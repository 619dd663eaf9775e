"""A process that opens the store at argv[1], says "ready", waits for "go" on stdin, then asks
for argv[2] admissions at once for one person (budget argv[3] micros) and prints how many were
admitted: one replica of the cross-process budget race."""

from __future__ import annotations

import asyncio
import sys

from bot.store import Admitted, Store
from tests import factories
from tests.factories import new_job


async def main(url: str, count: int, budget: int) -> None:
    store = await Store.open(url)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    outcomes = await asyncio.gather(
        *(factories.admit(store, new_job("URACE", estimate=10_000), budget) for _ in range(count))
    )
    print(sum(isinstance(outcome, Admitted) for outcome in outcomes), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
