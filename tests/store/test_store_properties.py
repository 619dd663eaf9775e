"""Property: whatever the interleaving of holds, submits, settles, releases and restarts, held
plus settled spend never passes a budget and no job is charged twice."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from bot.domain.failures import ErrorKind
from bot.store import Admitted, JobState, Refused, Store
from tests.factories import admit, new_job
from tests.helpers import query

USER_BUDGET = 100_000
TEAM_BUDGET = 250_000
MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 25, tzinfo=UTC)
USERS = ("U1", "U2", "U3")
ESTIMATES = st.sampled_from([30_000, 45_000, 60_000, 70_000]) | st.integers(1, 70_000)


class Ledger(RuleBasedStateMachine):
    jobs = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "x.db"
        self.loop = asyncio.new_event_loop()
        self.store = self.run(Store.open(self.path, clock=lambda: NOW))
        self.estimates: dict[str, int] = {}
        self.settled: dict[str, int] = {}
        self.ended: set[str] = set()

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        self.folder.cleanup()

    # Estimates near the budgets, where a mistake would show, as well as small ones.
    @rule(target=jobs, user=st.sampled_from(USERS), estimate=ESTIMATES)
    def hold(self, user: str, estimate: int) -> str:
        new = new_job(user, estimate, quality="low", endpoint="e")
        result = self.run(admit(self.store, new, USER_BUDGET, TEAM_BUDGET, month=MONTH))
        if isinstance(result, Admitted):
            self.estimates[result.job.id] = estimate
            return result.job.id
        assert isinstance(result, Refused)
        assert result.spent_micros + estimate > result.budget_micros
        return ""

    @rule(job=jobs)
    def submit(self, job: str) -> None:
        if job:
            self.run(self.store.mark_submitted(job, "r-" + job, "s", "r", "c"))

    @rule(job=jobs, share=st.integers(0, 100))
    def settle(self, job: str, share: int) -> None:
        """fal bills at most the estimate (the price table is conservative)."""
        if not job:
            return
        cost = self.estimates[job] * share // 100
        if self.run(self.store.mark_generated(job, [], Decimal(cost) / 10**6, cost)):
            assert job not in self.settled
            self.settled[job] = cost

    @rule(job=jobs)
    def release(self, job: str) -> None:
        if job and self.run(self.store.mark_failed(job, ErrorKind.UNAVAILABLE, "fal 500")):
            self.ended.add(job)

    @rule(job=jobs)
    def cancel(self, job: str) -> None:
        if job and self.run(self.store.mark_cancelled(job, "U1")):
            self.ended.add(job)

    @rule()
    def restart(self) -> None:
        self.run(self.store.close())
        self.store = self.run(Store.open(self.path, clock=lambda: NOW))
        # As the runner does when it starts: a lone process takes over every unfinished job.
        self.run(self.store.claim_jobs(every=True))

    @invariant()
    def budgets_hold_and_each_job_has_one_charge(self) -> None:
        rows = query(self.path, "SELECT job_id, user_id, status, amount_micros FROM charges")
        assert len({r["job_id"] for r in rows}) == len(rows) == len(self.estimates)
        for user in USERS:
            assert sum(r["amount_micros"] for r in rows if r["user_id"] == user) <= USER_BUDGET
        assert sum(r["amount_micros"] for r in rows) <= TEAM_BUDGET
        for row in rows:
            job = row["job_id"]
            if job in self.settled:
                assert (row["status"], row["amount_micros"]) == ("settled", self.settled[job])
            elif job in self.ended:
                assert (row["status"], row["amount_micros"]) == ("released", 0)
            else:
                assert (row["status"], row["amount_micros"]) == ("held", self.estimates[job])

    @invariant()
    def states_agree_with_charges(self) -> None:
        for job in self.settled:
            found = self.run(self.store.get_job(job))
            assert found is not None and found.state in (JobState.GENERATED, JobState.FAILED)


Ledger.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestLedger = Ledger.TestCase
