"""The per-loop registry and the turnstile (jupyterhub_moss/slurm/shared.py), on a
real asyncio loop."""

import asyncio

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
    await gate.pass_through()  # takes this turn
    first = asyncio.create_task(gate.pass_through())
    second = asyncio.create_task(gate.pass_through())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(second, timeout=1)
    assert gate.waiting == 0


async def test_the_registry_gives_one_object_per_name_and_arguments_on_a_loop():
    a = per_loop("thing", object, "x")
    assert per_loop("thing", object, "x") is a
    assert per_loop("thing", object, "y") is not a
    assert shared_turnstile("spawn") is shared_turnstile("spawn")


def test_a_new_loop_gets_new_objects():
    async def get():
        return shared_turnstile("spawn")

    first = asyncio.run(get())
    second = asyncio.run(get())
    assert first is not second
