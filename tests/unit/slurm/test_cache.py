"""slurm/cache.py: answers kept for their lifetime, one fetch for readers that come
together, failures remembered briefly with the last good answer, and a bound."""

import asyncio

import pytest

from jupyterhub_moss.slurm.cache import TimedCache, shared_cache


class Fetches:
    """A fetch that counts its calls, answers after ``delay``, and fails on demand."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list = []
        self.failing = False

    async def __call__(self, key):
        self.calls.append(key)
        await asyncio.sleep(self.delay)
        if self.failing:
            raise RuntimeError("slurmdbd is down")
        return f"{key}:{len(self.calls)}"


async def test_readers_that_come_together_share_one_fetch():
    fetch = Fetches(delay=0.05)
    cache = TimedCache("accounts", fetch, ttl=60)
    entries = await asyncio.gather(*(cache.get("moss01") for _ in range(10)))
    assert fetch.calls == ["moss01"]
    assert {e.value for e in entries} == {"moss01:1"}


async def test_an_answer_is_kept_for_its_lifetime_then_fetched_again():
    fetch = Fetches()
    cache = TimedCache("qos", fetch, ttl=0.1)
    assert (await cache.get()).value == "None:1"
    assert (await cache.get()).value == "None:1"
    await asyncio.sleep(0.12)
    assert (await cache.get()).value == "None:2"
    assert len(fetch.calls) == 2


async def test_a_failure_keeps_the_last_good_answer_and_is_remembered_briefly():
    fetch = Fetches()
    cache = TimedCache("assoc", fetch, ttl=0.05, error_ttl=0.3)
    good = await cache.get("moss01")
    await asyncio.sleep(0.06)
    fetch.failing = True
    failed = await cache.get("moss01")
    assert not failed.ok and "slurmdbd is down" in failed.error
    assert failed.value == good.value  # still readable
    # Not asked again while the failure is remembered (the shorter of ttl and
    # error_ttl); the first reader after that asks again.
    calls = len(fetch.calls)
    await cache.get("moss01")
    assert len(fetch.calls) == calls
    await asyncio.sleep(0.06)
    fetch.failing = False
    assert (await cache.get("moss01")).ok


async def test_the_cache_holds_at_most_max_keys_dropping_the_least_recently_read():
    fetch = Fetches()
    cache = TimedCache("accounts", fetch, ttl=60, max_keys=2)
    await cache.get("a")
    await cache.get("b")
    await cache.get("a")  # read again: "b" is now the oldest
    await cache.get("c")
    assert cache.peek("b") is None
    assert cache.peek("a") is not None and cache.peek("c") is not None


async def test_invalidate_makes_the_next_reader_fetch():
    fetch = Fetches()
    cache = TimedCache("qos", fetch, ttl=60)
    await cache.get()
    cache.invalidate()
    await cache.get()
    assert len(fetch.calls) == 2


async def test_shared_cache_is_one_per_name_and_settings_on_a_loop():
    made = []

    def factory():
        made.append(1)
        return TimedCache("qos", Fetches(), ttl=60)

    first = shared_cache("qos", ("sacctmgr", 30.0), factory)
    assert shared_cache("qos", ("sacctmgr", 30.0), factory) is first
    assert shared_cache("qos", ("/opt/slurm/bin/sacctmgr", 30.0), factory) is not first
    assert len(made) == 2


@pytest.mark.parametrize("ttl", [0.0, -1.0])
async def test_a_lifetime_of_zero_or_less_keeps_nothing(ttl):
    fetch = Fetches()
    cache = TimedCache("qos", fetch, ttl=ttl)
    await cache.get()
    await cache.get()
    assert len(fetch.calls) == 2


async def test_an_answer_ttl_of_gives_no_lifetime_is_returned_but_takes_no_place():
    """An estimate Slurm could not give ("unknown") is not kept: it must not push the
    answers that are kept out of the bound."""
    fetch = Fetches()
    cache = TimedCache(
        "estimates", fetch, ttl=60, max_keys=2, ttl_of=lambda v: 0 if "unknown" in v else 60
    )
    await cache.get("a")
    await cache.get("b")
    assert (await cache.get("unknown-1")).value == "unknown-1:3"
    assert len(cache) == 2
    assert cache.peek("unknown-1") is None
    assert (await cache.get("a")).value == "a:1"  # still kept: nothing was pushed out


async def test_a_lifetime_counts_from_when_slurm_was_asked_not_from_its_answer():
    now = [100.0]
    cache = TimedCache("qos", ttl=10, clock=lambda: now[0])

    async def slow(key):
        now[0] += 4  # Slurm took 4 s to answer
        return "answer"

    entry = await cache.get(None, slow)
    assert entry.fetched_at == 100.0
    now[0] = 109.9
    assert cache.fresh() is not None
    now[0] = 110.0
    assert cache.fresh() is None
