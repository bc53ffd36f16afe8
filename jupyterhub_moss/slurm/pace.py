"""The pace at which the job watcher looks at a job that starts or stops: quick just
after its state changed, then twice as long each time, up to a ceiling."""

from __future__ import annotations

import random

__all__ = ["BOOTING_FIRST_PAUSES", "PAUSE_JITTER", "Pace", "shorten"]

#: Each pause is shortened by up to this fraction, at random: a fixed period would
#: keep every poll at the same phase of slurmctld's own periodic work (and of other
#: hubs' polls), and pay for any collision with it every time.
PAUSE_JITTER = 0.1

#: A job whose server boots is looked at again after this many ``fast_interval``
#: pauses at the soonest (2 s by default), not after one: when a class presses
#: Start, that saves each job's first two looks while nothing can have answered.
BOOTING_FIRST_PAUSES = 4


def shorten() -> float:
    """The factor a pause is multiplied by: 1 less up to :data:`PAUSE_JITTER`."""
    return 1 - random.uniform(0, PAUSE_JITTER)  # noqa: S311 - not a secret


class Pace:
    """The pauses of a *fast* watch. ``pending_interval`` is the ceiling while a job
    waits or stops, ``start_interval`` while its server boots (it calls the hub when
    it answers, so these looks are the fallback)."""

    def __init__(self, fast_interval: float, start_interval: float, pending_interval: float):
        self.fast_interval = fast_interval
        self.start_interval = start_interval
        self.pending_interval = pending_interval
        self._calls_arrive = False

    def note_server_call(self) -> None:
        """A server's call reached the hub and Slurm confirmed it: the servers of this
        hub can call it. Whether they can is a matter of the site's network, which
        does not change from one hour to the next: it holds until a server is found
        without its call (:meth:`note_missed_call`)."""
        self._calls_arrive = True

    def note_missed_call(self) -> None:
        """A starting server was found through its job's comment alone: its call did
        not reach the hub, and booting jobs are looked at quickly again."""
        self._calls_arrive = False

    def calls_arrive(self) -> bool:
        """Whether the last starting server the hub found had called it."""
        return self._calls_arrive

    def pause(self, known: bool, booting: bool, in_state_for: float) -> float:
        """The pause before the next look at a job: ``known`` once Slurm has answered
        about it, ``booting`` while it runs and its server has not reported, and it
        has been ``in_state_for`` seconds in its state."""
        if not known:
            return self.fast_interval  # no answer yet: the first one matters
        if booting:
            floor = min(self.start_interval, BOOTING_FIRST_PAUSES * self.fast_interval)
            if self._calls_arrive:
                floor = self.start_interval
            return min(self.start_interval, max(floor, in_state_for))
        return min(self.pending_interval, max(self.fast_interval, in_state_for))
