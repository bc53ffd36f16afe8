"""The users' system accounts (passwd and groups), looked up off the event loop.

At a real site ``getpwnam`` and the group look-ups go through NSS to LDAP or SSSD,
and may take hundreds of milliseconds, or hang. Made in the event loop, each would
freeze every page, poll and spawn of the hub for that long. So the hub looks
accounts up in a few threads of its own, keeps each answer a while (one shared,
bounded cache, which also joins concurrent look-ups of one name), and the code that
needs an account synchronously reads the cache.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .slurm.cache import CacheEntry, TimedCache, shared_cache

__all__ = ["SystemAccount", "cached_account", "read_account", "system_account"]

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


def read_account(name: str) -> SystemAccount | None:
    """The account called ``name``, or None if there is none. Blocks (NSS)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        gids = os.getgrouplist(name, entry.pw_gid)
    except OSError:
        gids = [entry.pw_gid]
    groups = set()
    for gid in gids:
        try:
            groups.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return SystemAccount(entry.pw_name, entry.pw_uid, entry.pw_dir, frozenset(groups))


def _cache() -> TimedCache:
    async def fetch(name):
        return await asyncio.get_running_loop().run_in_executor(_LOOKUPS, read_account, name)

    return shared_cache(
        "system_accounts",
        (ACCOUNT_TTL,),
        lambda: TimedCache(
            "system_accounts", fetch, ttl=ACCOUNT_TTL, error_ttl=ACCOUNT_ERROR_TTL
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
