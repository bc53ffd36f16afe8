"""A spawner that renders the spawn form without a hub, and what the form holds."""

import asyncio
import json
import re
import time
from types import SimpleNamespace

from jupyterhub_moss.choices.facts import UserFacts
from jupyterhub_moss.site.partitions import merge_partitions, validate_partitions
from jupyterhub_moss.slurm.sinfo import SinfoSnapshot, parse_sinfo
from jupyterhub_moss.web.form import render_options_form

from .partitions import SINFO


class FormSpawner:
    """The parts of a spawner that the form reads, without a hub or a cluster."""

    def __init__(self, partitions, snapshot, previous=None):
        self.partitions = partitions
        self.snapshot = snapshot
        self.orm_spawner = SimpleNamespace(user_options=previous)
        self.hub = SimpleNamespace(base_url="/hub/")
        self.config = SimpleNamespace()
        self.default_url = ""
        self.allowed_sbatch_options = {}
        self.allow_user_environments = False
        self.sinfo_cache_ttl = 30

    def partitions_fingerprint(self):
        return json.dumps(self.partitions, sort_keys=True)

    def sinfo_snapshot(self):
        return self.snapshot

    def choices(self):
        return self  # the checker's one method the form calls

    async def views_and_facts(self):
        snap = self.snapshot
        resources = snap.partitions if (snap.ok or snap.partitions) else None
        views = merge_partitions(validate_partitions(self.partitions), resources, snap.error)
        return views, self.user_facts()

    def user_facts(self):
        # A cluster without slurmdbd or reservations.
        return UserFacts(
            user="moss01",
            accounting=False,
            accounts=None,
            partitions=None,
            reservations=None,
            groups=frozenset(),
        )


def page_data(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="moss-data">(.*?)</script>', html, re.S)
    assert match, "the page carries its data"
    return json.loads(match.group(1))


def render(spawner) -> str:
    return asyncio.run(render_options_form(spawner))


def snapshot() -> SinfoSnapshot:
    return SinfoSnapshot(parse_sinfo(SINFO), time.monotonic())
