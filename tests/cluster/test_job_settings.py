"""The admin's job settings, seen in real jobs on the local cluster:
sbatch_directives, allowed_sbatch_options, node_address, slurm_bin_dir,
job_workdir and the epilogue."""

import os
import pwd
import shutil
import time
from pathlib import Path

import pytest
from support.hubtools import (
    active_jobs,
    ended_job_info,
    job_info,
    job_output,
    job_output_path,
    shared_folder,
    state_folder,
    write_script,
)

pytestmark = pytest.mark.cluster

SLURM_COMMANDS = ("sbatch", "scancel", "squeue", "sinfo", "scontrol")


def start(hub, user, **options):
    options.setdefault("partition", "cpu")
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user)


def stop(hub, user):
    r = hub.api("DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    hub.wait_stopped(user)


def test_admin_directives_and_allowed_user_options_reach_the_job(hub_factory):
    hub = hub_factory(
        """
        # One written --name=value, one --name value.
        c.MOSlurmSpawner.sbatch_directives = ["--mail-type=END", "--mail-user jupyter-admin"]
        c.MOSlurmSpawner.allowed_sbatch_options = {"--nice": r"[0-9]{1,2}"}
        """
    )
    user = "moss13"
    model = start(hub, user, options="--nice=7")
    info = job_info(model["state"]["job_id"])
    assert (info["MailType"], info["MailUser"]) == ("END", "jupyter-admin")
    assert info["Nice"] == "7"


def test_sbatch_options_the_admin_does_not_allow_are_refused_before_sbatch(hub_factory):
    hub = hub_factory('c.MOSlurmSpawner.allowed_sbatch_options = {"--nice": r"[0-9]{1,2}"}\n')
    user = "moss13"
    before = hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch")
    for options, message in [
        ("--nice=100", "options: '100' is not a value allowed for --nice"),
        ("--begin=now+1hour", "options: --begin is not allowed; allowed: --nice"),
        ("--nice=1 --nice=2", "options: --nice is given twice"),
    ]:
        r = hub.api(
            "POST",
            f"/users/{user}/server",
            json={"user_options": {"partition": "cpu", "options": options}},
        )
        assert r.status_code == 400, (options, r.text)
        assert r.json()["message"] == message
    assert hub.metric("jupyterhub_moss_slurm_commands_total", command="sbatch") == before
    assert active_jobs(user) == []


@pytest.mark.parametrize(
    "node_address, expected_host",
    [("{node}", "{node}"), ("127.0.0.1", "127.0.0.1")],
    ids=["node-name", "fixed-address"],
)
def test_node_address_is_where_the_proxy_sends_the_user(hub_factory, node_address, expected_host):
    hub = hub_factory(f"c.MOSlurmSpawner.node_address = {node_address!r}\n")
    user = "moss14"
    state = start(hub, user)["state"]
    assert state["job_node"] in ("node1", "node2")
    routes = hub.proxy_routes()
    target = routes[f"/user/{user}"]["target"]
    host = expected_host.format(node=state["job_node"])
    assert target == f"http://{host}:{state['job_port']}"
    client = hub.login(user)
    assert hub.server_status(client, user).status_code == 200


def test_slurm_bin_dir_is_where_the_hub_finds_every_slurm_command(hub_factory):
    user = "moss15"
    with shared_folder() as folder:
        log = folder / "commands.log"
        log.touch()
        log.chmod(0o666)  # sbatch and scancel run as the user
        for name in SLURM_COMMANDS:
            write_script(
                folder / name,
                "#!/bin/bash\n"
                f'echo "$(id -un) {name} $*" >> {log}\n'
                f'exec {shutil.which(name)} "$@"\n',
            )
        hub = hub_factory(f"c.MOSlurmSpawner.slurm_bin_dir = {str(folder)!r}\n")
        client = hub.login(user)
        assert client.get("/hub/spawn").status_code == 200  # the page's sinfo
        job_id = start(hub, user)["state"]["job_id"]
        stop(hub, user)
        lines = log.read_text().splitlines()

    def ran(who, command, *args):
        prefix = " ".join([who, command, *args])
        return any(line.startswith(prefix) for line in lines)

    assert ran(user, "sbatch", "--parsable"), lines
    assert ran(user, "scancel", job_id), lines
    hub_account = hub.account or "root"
    assert ran(hub_account, "sinfo"), lines
    # The watcher follows a starting job in detail, by its id.
    assert ran(hub_account, "scontrol", "--local", "--all", "--oneliner"), lines
    assert ended_job_info(job_id)["JobState"] == "CANCELLED"


def test_job_workdir_is_the_jobs_folder_and_holds_its_output(hub_factory):
    user = "moss16"
    account = pwd.getpwnam(user)
    with shared_folder() as folder:
        workdir = folder / f"work-{user}"
        workdir.mkdir()
        os.chown(workdir, account.pw_uid, account.pw_gid)
        hub = hub_factory(f'c.MOSlurmSpawner.job_workdir = "{folder}/work-{{username}}"\n')
        job_id = start(hub, user)["state"]["job_id"]
        info = job_info(job_id)
        assert info["WorkDir"] == str(workdir)
        # The job starts writing in its folder (hidden), then moves the file to the
        # state folder if it can.
        assert info["StdOut"] == str(workdir / f".jupyterhub_moss_{job_id}.log")
        output = job_output_path(job_id)
        assert output in (Path(info["StdOut"]), state_folder(user) / f"{job_id}.log")
        assert output.stat().st_uid == account.pw_uid
        listening = "jupyterhub_moss: server listening on"
        assert listening in job_output(job_id, until=listening)
        assert not (workdir / f"jupyterhub_moss_{job_id}.log").exists()
        stop(hub, user)


def test_an_explicit_job_output_is_sbatchs_own(hub_factory):
    user = "moss16"
    account = pwd.getpwnam(user)
    with shared_folder() as folder:
        os.chown(folder, account.pw_uid, account.pw_gid)
        hub = hub_factory(f'c.MOSlurmSpawner.job_output = "{folder}/%u-%j.out"\n')
        job_id = start(hub, user)["state"]["job_id"]
        output = folder / f"{user}-{job_id}.out"
        assert job_info(job_id)["StdOut"] == str(output)
        listening = "jupyterhub_moss: server listening on"
        assert listening in job_output(job_id, until=listening)
        assert not (state_folder(user) / f"{job_id}.log").exists()
        stop(hub, user)


def test_epilogue_runs_after_the_server_has_stopped(hub_factory):
    user = "moss16"
    hub = hub_factory(
        """c.MOSlurmSpawner.epilogue = 'echo epilogue-ran > "$HOME/epilogue-$SLURM_JOB_ID"'\n"""
    )
    job_id = start(hub, user)["state"]["job_id"]
    marker = Path(pwd.getpwnam(user).pw_dir) / f"epilogue-{job_id}"
    try:
        time.sleep(1)
        assert not marker.exists()  # not while the server runs
        stop(hub, user)
        deadline = time.time() + 15
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert marker.read_text() == "epilogue-ran\n"
        assert marker.stat().st_uid == pwd.getpwnam(user).pw_uid  # run by the job, as the user
    finally:
        marker.unlink(missing_ok=True)
