"""What held the hub's event loop for long: a bench-only recorder.

A hub started with ``loopwatch.start(PATH)`` in its config times every turn of
its asyncio loop, and every callback the loop runs in that turn. JupyterHub's
``jupyterhub_event_loop_interval_seconds`` measures these turns from the outside.
A turn of ``threshold`` seconds or more (its callbacks, or a wait for events that
ended late) is written to PATH as one JSON line: when it began, how long it took,
how long the loop's thread was on a CPU and waiting for one meanwhile, how many
callbacks it ran, the slowest of them (each named by its coroutine and where it
resumed, or by its function) and the seconds and count of each name.

It wraps two asyncio methods in the hub's process and changes nothing else. Used
by bench/burst.py --loopwatch, for both implementations alike.
"""

from __future__ import annotations

import asyncio.base_events
import asyncio.events
import json
import time

_turn: list[tuple[float, str]] = []


def _schedstat() -> tuple[float, float]:
    """This thread's CPU time and its time waiting for a CPU, in seconds (Linux)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            ran, waited, _ = f.read().split()
        return int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def _resumed_at(coro) -> str:
    """Where a suspended task's innermost coroutine outside asyncio waits: what its
    next step resumes from."""
    where = ""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None and "/asyncio/" not in frame.f_code.co_filename:
            name = frame.f_code.co_filename.rsplit("site-packages/", 1)[-1]
            where = f"{name}:{frame.f_lineno}"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return where


def _name(handle) -> str:
    """The callback's name (a task's: its coroutine, and where it resumes), without
    calling any repr() (a half-built object's repr may raise)."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", None) or type(coro).__qualname__
        return f"{name} from {_resumed_at(coro)}"
    return getattr(callback, "__qualname__", None) or type(callback).__qualname__


def start(path: str, threshold: float = 0.2) -> None:
    """Wrap the loop's turn and its callbacks in the calling process (the hub)."""
    run_handle = asyncio.events.Handle._run
    run_once = asyncio.base_events.BaseEventLoop._run_once

    def timed_run(handle):
        try:
            name = _name(handle)  # before the step: where the task resumes from
        except Exception:
            name = "?"
        began = time.perf_counter()
        try:
            return run_handle(handle)
        finally:
            _turn.append((time.perf_counter() - began, name))

    def timed_turn(loop):
        _turn.clear()
        ran0, waited0 = _schedstat()
        began = time.perf_counter()
        wall = time.time()
        try:
            return run_once(loop)
        finally:
            seconds = time.perf_counter() - began  # the callbacks, and the wait before them
            if seconds >= threshold:
                busy = sum(spent for spent, _ in _turn)
                ran1, waited1 = _schedstat()
                slowest = sorted(_turn, reverse=True)[:10]
                by_name: dict[str, list] = {}
                for spent, name in _turn:
                    total = by_name.setdefault(name, [0.0, 0])
                    total[0] += spent
                    total[1] += 1
                record = {
                    "began": wall,
                    "turn_seconds": round(seconds, 3),
                    # Of the turn: the loop's thread on a CPU, and waiting for one.
                    "on_cpu_seconds": round(ran1 - ran0, 3),
                    "waiting_for_cpu_seconds": round(waited1 - waited0, 3),
                    "callback_seconds": round(busy, 3),
                    "callbacks": len(_turn),
                    "slowest": [[round(s, 3), name] for s, name in slowest],
                    "by_name": sorted(
                        ([round(t, 3), n, name] for name, (t, n) in by_name.items()), reverse=True
                    )[:6],
                }
                with open(path, "a") as out:
                    out.write(json.dumps(record) + "\n")

    asyncio.events.Handle._run = timed_run
    asyncio.base_events.BaseEventLoop._run_once = timed_turn
