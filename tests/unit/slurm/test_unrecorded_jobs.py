"""A job whose sbatch gave no id (it answered too late): looked for by its comment
until found, since a slow or stopped controller may create it later."""

import time

from jupyterhub_moss.slurm.job import ServerJob


class LateController(ServerJob):
    """Slurm answers the look-ups from a script: the job appears at the Nth look."""

    def __init__(self, appears_at_look: int):
        super().__init__(
            username="alice", log_name="alice", watcher=None, client=None, home=None,
            report=lambda *a, **k: None,
        )  # fmt: skip
        self.appears_at_look = appears_at_look
        self.looks: list[float] = []
        self.cancelled: list[str] = []

    async def _submitted_with(self, token):
        self.looks.append(time.monotonic())
        return ["77"] if len(self.looks) >= self.appears_at_look else []

    async def cancel(self, job_id):
        self.cancelled.append(job_id)


async def test_a_job_the_controller_creates_late_is_found_at_a_later_look_and_cancelled():
    job = LateController(appears_at_look=3)
    assert await job.cancel_unrecorded("tok", looks=(0.0, 0.05, 0.1, 0.5)) == ["77"]
    assert job.cancelled == ["77"]
    assert len(job.looks) == 3  # no look after it was found
    assert job.looks[2] - job.looks[0] >= 0.09


async def test_a_job_never_created_is_looked_for_at_each_time_then_given_up(caplog):
    job = LateController(appears_at_look=99)
    assert await job.cancel_unrecorded("tok", looks=(0.0, 0.01, 0.02)) == []
    assert len(job.looks) == 3 and job.cancelled == []
    assert "No job of alice submitted with comment moss:submit=tok" in caplog.text
