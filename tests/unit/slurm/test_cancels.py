"""slurm/cancels.py: an scancel that Slurm refused is run again until it succeeds,
Slurm says the job is gone, or the attempts run out."""

import asyncio
import stat

from jupyterhub_moss.slurm.cancels import CancelRetries, shared_cancel_retries


def fake_scancel(tmp_path, failures: int, message: str = "Unable to contact slurm controller"):
    """An scancel that fails ``failures`` times with ``message``, then succeeds; each
    call is logged in calls.log."""
    script = tmp_path / "scancel"
    script.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {tmp_path}/calls.log\n'
        f"n=$(wc -l < {tmp_path}/calls.log)\n"
        f'if [ "$n" -le {failures} ]; then echo "scancel: error: {message}" >&2; exit 1; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def calls(tmp_path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


async def wait_until_done(retries: CancelRetries, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if not retries.pending:
            return
        await asyncio.sleep(0.02)


async def test_a_refused_cancel_is_tried_again_until_it_succeeds(tmp_path):
    retries = CancelRetries(interval=0.05, attempts=10, timeout=5)
    retries.add("42", [fake_scancel(tmp_path, failures=2), "42"])
    assert retries.pending == ["42"]
    await wait_until_done(retries)
    assert retries.pending == []
    assert calls(tmp_path) == 3  # two refusals, then the cancel


async def test_a_job_slurm_says_is_gone_is_not_tried_again(tmp_path):
    retries = CancelRetries(interval=0.05, attempts=10, timeout=5)
    scancel = fake_scancel(tmp_path, failures=99, message="Invalid job id specified")
    retries.add("42", [scancel, "42"])
    await wait_until_done(retries)
    assert retries.pending == []
    assert calls(tmp_path) == 1


async def test_retries_give_up_after_their_attempts(tmp_path):
    retries = CancelRetries(interval=0.02, attempts=3, timeout=5)
    retries.add("42", [fake_scancel(tmp_path, failures=99), "42"])
    await wait_until_done(retries)
    assert retries.pending == []
    assert calls(tmp_path) == 3


async def test_the_hub_has_one_list_of_retries_per_loop():
    assert shared_cancel_retries() is shared_cancel_retries()
