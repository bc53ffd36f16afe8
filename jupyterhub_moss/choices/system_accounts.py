"""The users' system accounts (passwd and groups), looked up off the event loop.

At a real site ``getpwnam`` and the group look-ups go through NSS to LDAP or SSSD,
and may take hundreds of milliseconds, or hang. Made in the event loop, each would
freeze every page, poll and spawn of the hub for that long. So the hub reads the
passwd entry in a few threads of its own (``getpwnam`` lets the interpreter run
other threads meanwhile) and the groups from ``id -Gn`` in a process, keeps each
answer a while (one shared, bounded cache, which also joins concurrent look-ups
of one name), and the code that needs an account synchronously reads the cache.
"""

from __future__ import annotations

import asyncio
import pwd
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import user_error
from ..metrics import FACTS_CACHE
from ..slurm.cache import CacheEntry, TimedCache, metric_counter, shared_cache

__all__ = ["SystemAccount", "cached_account", "home_folder", "read_home", "system_account"]

#: Seconds an account is reused for (its home and groups rarely change).
ACCOUNT_TTL = 600.0
#: Seconds a failed look-up (NSS down) is kept before it is tried again.
ACCOUNT_ERROR_TTL = 30.0

# NSS calls may block for long: a pool of their own, so that a hung LDAP server
# cannot take the threads the rest of the hub uses.
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="moss-accounts")


@dataclass(frozen=True)
class SystemAccount:
    """What the hub needs of a user's system account."""

    name: str
    uid: int
    home: str
    groups: frozenset[str]


#: Seconds ``id`` may take to list a user's groups.
GROUPS_TIMEOUT = 30.0


def _passwd(name: str):
    """The passwd entry of ``name`` (None if there is none). Blocks (NSS), but lets
    other threads run meanwhile."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def read_home(name: str) -> str | None:
    """The home folder of ``name`` (None if there is no such account). Blocks."""
    entry = _passwd(name)
    return entry.pw_dir if entry is not None else None


async def _group_names(name: str) -> frozenset[str]:
    """The names of ``name``'s groups, from ``id -Gn`` in a process of its own.
    (``os.getgrouplist`` keeps Python's interpreter lock for the whole look-up,
    which would stall the event loop from any thread.)"""
    try:
        process = await asyncio.create_subprocess_exec(
            "id",
            "-Gn",
            "--",
            name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return frozenset()
    try:
        out, _ = await asyncio.wait_for(process.communicate(), GROUPS_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return frozenset()
    if process.returncode != 0:
        return frozenset()
    return frozenset(out.decode("utf-8", "replace").split())


async def _look_up(name: str) -> SystemAccount | None:
    entry = await asyncio.get_running_loop().run_in_executor(_LOOKUPS, _passwd, name)
    if entry is None:
        return None
    groups = await _group_names(name)
    return SystemAccount(entry.pw_name, entry.pw_uid, entry.pw_dir, groups)


def _cache() -> TimedCache:
    return shared_cache(
        "system_accounts",
        (ACCOUNT_TTL,),
        lambda: TimedCache(
            "system_accounts",
            _look_up,
            ttl=ACCOUNT_TTL,
            error_ttl=ACCOUNT_ERROR_TTL,
            count=metric_counter(FACTS_CACHE, cache="system_accounts"),
        ),
    )


async def system_account(name: str) -> SystemAccount | None:
    """The account called ``name`` (None if there is none), from the hub-wide cache;
    a look-up, in a thread, only when the cached one is stale."""
    return (await _cache().get(name)).value


def cached_account(name: str) -> CacheEntry | None:
    """The last look-up of ``name``, fresh or not (None if never looked up), without
    looking up anything."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # outside the hub's event loop (the admin command): no cache
        return None
    return _cache().peek(name)


def home_folder(name: str, required: bool = True) -> str | None:
    """The home folder of ``name`` on the hub's machine (None if there is no such
    account and it is not ``required``), from the account :func:`system_account`
    looked up; looked up here, blocking, only if nothing has looked it up yet."""
    entry = cached_account(name)
    if entry is not None and entry.value is not None:
        return entry.value.home
    home = read_home(name)
    if home is not None:
        return home
    if not required:
        return None
    raise user_error(
        f"There is no system account named {name!r} on the hub machine, "
        "so no Slurm job can be submitted for it.",
        reason="no_account",
    )
