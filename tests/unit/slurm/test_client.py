"""slurm/client.py: the one way the hub runs Slurm's commands, and the key of the
hub's shared objects (equal clients share one watcher and one sinfo cache)."""

from jupyterhub_moss.slurm.client import SlurmClient
from jupyterhub_moss.slurm.runner import CommandResult
from jupyterhub_moss.slurm.sinfo import shared_sinfo_cache
from jupyterhub_moss.slurm.watcher import shared_job_watcher


class Recorder:
    def __init__(self):
        self.calls = []

    async def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return CommandResult(tuple(argv), 0, "", "", 0.0)


def test_commands_are_found_in_the_bin_dir_or_on_the_path():
    assert SlurmClient().path("sbatch") == "sbatch"
    assert SlurmClient(bin_dir="/opt/slurm/bin").path("sbatch") == "/opt/slurm/bin/sbatch"


async def test_a_command_as_the_user_goes_behind_the_prefix_with_an_environment_of_its_own():
    runner = Recorder()
    client = SlurmClient(
        timeout=7, exec_prefix=("sudo", "-n", "-u", "{username}", "--"), runner=runner
    )
    await client.run_as("moss01", "/home/moss01", ["scancel", "42"])
    ((argv, kwargs),) = runner.calls
    assert argv == ["sudo", "-n", "-u", "moss01", "--", "scancel", "42"]
    assert kwargs["timeout"] == 7
    env = kwargs["env"]
    assert env["USER"] == "moss01" and env["HOME"] == "/home/moss01"
    assert "JUPYTERHUB_API_TOKEN" not in env


async def test_a_command_as_the_hub_has_no_prefix_and_the_clients_timeout():
    runner = Recorder()
    await SlurmClient(timeout=3, exec_prefix=("sudo",), runner=runner).run(["squeue"])
    ((argv, kwargs),) = runner.calls
    assert argv == ["squeue"] and kwargs["timeout"] == 3


async def test_equal_clients_share_one_watcher_and_one_sinfo_cache():
    def watcher(client):
        return shared_job_watcher("squeue", "scontrol", 30.0, 0.5, 30.0, 15.0, 5.0, client=client)

    users = SlurmClient(exec_prefix=("sudo", "-u", "{username}"))
    # Each spawner builds its client anew: the hub still has one watcher.
    assert watcher(SlurmClient().for_hub()) is watcher(users.for_hub())
    assert watcher(SlurmClient(bin_dir="/opt/slurm/bin")) is not watcher(SlurmClient())
    cache = shared_sinfo_cache(["sinfo"], 30.0, 30.0, client=SlurmClient())
    assert shared_sinfo_cache(["sinfo"], 30.0, 30.0, client=users.for_hub()) is cache
    watcher(SlurmClient()).stop()
