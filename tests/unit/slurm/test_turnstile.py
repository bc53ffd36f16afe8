"""The per-loop registry and the turnstile (jupyterhub_moss/slurm/shared.py), on a
real asyncio loop."""

import asyncio
import random

from jupyterhub_moss.slurm import shared
from jupyterhub_moss.slurm.shared import Turnstile, per_loop, shared_turnstile


class TurnCounter:
    """Counts the turns of the running loop: a callback that schedules itself."""

    def __init__(self):
        self.turn = 0
        self.running = True
        asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self):
        self.turn += 1
        if self.running:
            asyncio.get_running_loop().call_soon(self._tick)


async def test_waiters_that_wake_together_go_on_one_per_turn_in_order():
    gate = Turnstile()
    counter = TurnCounter()
    released = asyncio.Event()
    passed = []

    async def waiter(i):
        await released.wait()  # all wake in the same turn, as after a shared fetch
        await gate.pass_through()
        passed.append((i, counter.turn))

    tasks = [asyncio.create_task(waiter(i)) for i in range(6)]
    await asyncio.sleep(0)
    released.set()
    await asyncio.gather(*tasks)
    counter.running = False
    assert [i for i, _ in passed] == list(range(6))
    turns = [t for _, t in passed]
    assert len(set(turns)) == 6, turns
    assert turns == sorted(turns)


async def test_a_waiter_alone_goes_on_in_the_same_turn():
    gate = Turnstile()
    counter = TurnCounter()
    before = counter.turn
    await gate.pass_through()
    assert counter.turn == before
    counter.running = False


async def test_a_cancelled_waiter_does_not_hold_the_others():
    gate = Turnstile()
    holder = asyncio.create_task(gate.pass_through())
    first = asyncio.create_task(gate.pass_through())
    second = asyncio.create_task(gate.pass_through())
    await asyncio.sleep(0)  # the holder went on; first and second wait
    assert holder.done() and not first.done() and gate.waiting == 2
    first.cancel()
    await asyncio.wait_for(second, timeout=1)
    assert gate.waiting == 0


async def test_waiters_arriving_at_any_turn_never_go_on_two_in_one_turn():
    rng = random.Random(20)
    for _ in range(40):
        gate = Turnstile()
        counter = TurnCounter()
        passed = []

        async def waiter(arrival, gate=gate, counter=counter, passed=passed):
            for _ in range(arrival):
                await asyncio.sleep(0)
            await gate.pass_through()
            passed.append(counter.turn)

        await asyncio.gather(*(waiter(rng.randrange(8)) for _ in range(6)))
        counter.running = False
        assert len(set(passed)) == len(passed), passed


async def test_the_registry_gives_one_object_per_name_and_arguments_on_a_loop():
    a = per_loop("thing", object, "x")
    assert per_loop("thing", object, "x") is a
    assert per_loop("thing", object, "y") is not a
    assert shared_turnstile("spawn") is shared_turnstile("spawn")


def test_a_new_loop_gets_new_objects_and_a_closed_loops_are_dropped():
    async def get():
        return shared_turnstile("spawn")

    first_loop, second_loop = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first = first_loop.run_until_complete(get())
        second = second_loop.run_until_complete(get())
        assert first is not second
        assert first_loop.run_until_complete(get()) is first
        first_loop.close()
        second_loop.run_until_complete(get())  # making nothing new drops nothing
        third_loop = asyncio.new_event_loop()
        third_loop.run_until_complete(get())
        third_loop.close()
        assert first_loop not in shared._by_loop
    finally:
        for loop in (first_loop, second_loop):
            loop.close()
