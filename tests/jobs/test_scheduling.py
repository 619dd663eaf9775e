"""Pure scheduling logic: when to poll fal, and who may be at fal."""

from __future__ import annotations

from bot.jobs.slots import Slots
from bot.providers.polling import Durations, PollPlan


def polls_for(plan: PollPlan, duration: float) -> tuple[int, float]:
    """Simulate polling a job that runs `duration` s: (status requests, seconds found late)."""
    t, late, count = plan.first_delay(), 0, 1
    while t < duration:
        expected = plan.expected_seconds
        delay = plan.running_delay(t, late)
        late += 1 if expected is None or t >= expected else 0
        t += delay
        count += 1
    return count, t - duration


def test_expected_duration_means_few_polls_and_little_delay() -> None:
    count, lag = polls_for(PollPlan(expected_seconds=20.0), 20.0)
    assert count <= 4 and lag < 1.0


def test_unknown_duration_backs_off_to_three_seconds() -> None:
    count, lag = polls_for(PollPlan(expected_seconds=None), 20.0)
    assert count <= 12 and lag <= 3.0


def test_long_overrun_backs_off() -> None:
    plan = PollPlan(expected_seconds=5.0)
    assert plan.running_delay(30.0, 20) == 3.0


def test_durations_need_two_samples_and_use_the_median() -> None:
    seen = Durations()
    key = ("openai/gpt-image-2", "low")
    seen.add(key, 10.0)
    assert seen.expected(key) is None
    seen.add(key, 30.0)
    seen.add(key, 12.0)
    assert seen.expected(key) == 12.0


async def test_slots_hold_the_global_and_per_user_limits_in_order() -> None:
    slots = Slots(total=2, per_user=1)
    assert slots.try_take("a1", "alice")
    assert not slots.try_take("a2", "alice")  # alice is at her limit
    waiter_a2 = slots.enqueue("a2", "alice")
    assert not slots.try_take("b1", "bob")  # nobody jumps the queue...
    waiter_b1 = slots.enqueue("b1", "bob")
    assert waiter_b1.granted.is_set()  # ...but alice's limit does not block bob
    assert not waiter_a2.granted.is_set()
    waiter_c1 = slots.enqueue("c1", "carol")
    assert slots.ahead_of("c1") == 1
    slots.release("a1")
    assert waiter_a2.granted.is_set() and not waiter_c1.granted.is_set()
    assert slots.ahead_of("c1") == 0
    slots.leave(waiter_c1)
    assert slots.waiting == 0 and slots.running == 2


async def test_many_waiters_keep_their_places() -> None:
    slots = Slots(total=1, per_user=1)
    assert slots.try_take("first", "u0")
    waiters = [slots.enqueue(f"j{n}", f"u{n + 1}") for n in range(500)]
    assert [slots.ahead_of(f"j{n}") for n in (0, 1, 250, 499)] == [0, 1, 250, 499]
    slots.leave(waiters[100])
    assert slots.ahead_of("j499") == 498
    slots.release("first")
    assert waiters[0].granted.is_set() and slots.ahead_of("j1") == 0
