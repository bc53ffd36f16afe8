"""Several Jupyter environments per partition, on the real cluster: each server runs
the Python of the environment chosen (seen from inside, through a kernel), with
its modules and its prologue; jupyterhub-moss 10.x's own config format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from support.hubtools import (
    HUB_VENV,
    PARTITIONS,
    job_info,
    shared_folder,
    wait_for_job,
    write_script,
)
from support.kernels import run_in_kernel

pytestmark = pytest.mark.cluster

PRINT_ENV = "import os, sys; print(sys.prefix); print(os.environ.get('MOSS_ENV_PROLOGUE', '-'))"


def _python_of(venv: Path) -> str:
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def second_env():
    """A second Python environment of its own (its own ``sys.prefix``) that reuses the
    packages of the hub's environment, and a minimal ``module`` command whose
    ``jupyter/second`` module puts it on the PATH."""
    with shared_folder("moss-envs-") as folder:
        venv = folder / "second"
        subprocess.run([_python_of(HUB_VENV), "-m", "venv", "--without-pip", str(venv)], check=True)
        packages = subprocess.run(
            [_python_of(HUB_VENV), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        own = subprocess.run(
            [_python_of(venv), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(own, "moss-hub-packages.pth").write_text(packages + "\n")
        write_script(
            venv / "bin" / "jupyterhub-singleuser",
            f"#!{venv}/bin/python\nimport sys\nfrom jupyterhub.singleuser import main\n"
            "sys.exit(main())\n",
        )
        modules = folder / "modules.sh"
        modules.write_text(
            textwrap.dedent(
                f"""\
                # A minimal module command for the tests: "module load jupyter/second".
                module() {{
                    [ "$1" = load ] || return 1
                    shift
                    for name in "$@"; do
                        case $name in
                        jupyter/second) PATH={venv}/bin:$PATH ;;
                        *) echo "module: no module named $name" >&2; return 1 ;;
                        esac
                    done
                    export PATH
                }}
                """
            )
        )
        folder.chmod(0o755)
        yield venv, modules


def _config(partitions: dict, extra: str = "") -> str:
    text = f"""
    import jupyterhub_moss

    jupyterhub_moss.set_config(c)
    c.MOSlurmSpawner.partitions = {json.dumps(partitions)}
    c.MOSlurmSpawner.slurm_poll_interval = 2.0
    c.MOSlurmSpawner.sinfo_cache_ttl = 5.0
    """
    text = text.replace(": null", ": None").replace(": true", ": True")
    return text.replace(": false", ": False") + textwrap.dedent(extra)


def _with_environments(environments: dict) -> dict:
    partitions = json.loads(json.dumps(PARTITIONS))
    del partitions["cpu"]["venv"]
    partitions["cpu"]["jupyter_environments"] = environments
    return partitions


def _stored_options(hub, user) -> dict:
    """The options JupyterHub keeps for the user's server. JupyterHub 5 keeps a REST
    body as it came: {"user_options": {...}} stays wrapped (the spawner unwraps it)."""
    stored = hub.api("GET", f"/users/{user}").json()["servers"][""]["user_options"]
    if set(stored) == {"user_options"}:
        stored = stored["user_options"]
    return stored


def _prefix_and_prologue(hub, user) -> tuple[str, str]:
    out = run_in_kernel(hub, user, PRINT_ENV).split()
    return out[0], out[1]


def test_each_environment_gives_a_server_with_its_own_python(hub_factory, second_env):
    venv, _ = second_env
    environments = {
        "hub": {"description": "The hub's Python", "path": str(HUB_VENV / "bin") + "/"},
        "second": {
            "description": "A second Python",
            "path": str(venv / "bin"),
            "prologue": "export MOSS_ENV_PROLOGUE=second-ran",
        },
    }
    hub = hub_factory(spawner_config=_config(_with_environments(environments)))
    chosen = {"moss01": None, "moss02": "second", "moss03": "hub"}
    for user, env_id in chosen.items():
        options = {"partition": "cpu"}
        if env_id:
            options["environment_id"] = env_id
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
    for user in chosen:
        hub.wait_ready(user)
    # No choice: the first environment.
    assert _prefix_and_prologue(hub, "moss01") == (str(HUB_VENV), "-")
    assert _prefix_and_prologue(hub, "moss02") == (str(venv), "second-ran")
    assert _prefix_and_prologue(hub, "moss03") == (str(HUB_VENV), "-")
    stored = _stored_options(hub, "moss02")
    assert stored["environment_id"] == "second"


def test_an_environment_of_modules_loads_them_then_runs_its_prologue(hub_factory, second_env):
    venv, modules = second_env
    environments = {
        "hub": {"description": "The hub's Python", "path": str(HUB_VENV / "bin")},
        "mods": {
            "description": "From modules",
            "path": "",
            "modules": "jupyter/second",
            # Runs after the modules: it sees the module's PATH.
            "prologue": 'export MOSS_ENV_PROLOGUE="$(command -v python | tr / :)"',
        },
    }
    extra = f"c.MOSlurmSpawner.prologue = 'source {modules}'\n"
    hub = hub_factory(spawner_config=_config(_with_environments(environments), extra))
    user = "moss04"
    r = hub.api(
        "POST",
        f"/users/{user}/server",
        json={"user_options": {"partition": "cpu", "environment_id": "mods"}},
    )
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)
    prefix, prologue = _prefix_and_prologue(hub, user)
    assert prefix == str(venv)
    assert prologue == f"{venv}/bin/python".replace("/", ":")


def test_modules_without_a_module_command_fail_with_a_plain_sentence(hub_factory):
    environments = {
        "mods": {"description": "From modules", "modules": "python/3.12 cuda/12"},
    }
    hub = hub_factory(spawner_config=_config(_with_environments(environments)))
    user = "moss05"
    r = hub.api("POST", f"/users/{user}/server", json={"user_options": {"partition": "cpu"}})
    if r.status_code == 202:
        failed = [e for e in hub.progress_events(user) if e.get("failed")]
        assert failed, "the spawn did not fail"
        message = failed[-1]["message"]
    else:
        assert r.status_code == 500, r.text
        message = r.json()["message"]
    assert re.search(
        r"This environment loads modules \(python/3\.12 cuda/12\), but there is no module "
        r"command on node node[12]: please tell the administrators\.",
        message,
    ), message


def test_an_unknown_environment_is_refused_naming_the_choices(hub_factory, second_env):
    venv, _ = second_env
    environments = {
        "hub": {"description": "The hub's Python", "path": str(HUB_VENV / "bin")},
        "second": {"description": "A second Python", "path": str(venv / "bin")},
    }
    hub = hub_factory(spawner_config=_config(_with_environments(environments)))
    r = hub.api(
        "POST",
        "/users/moss06/server",
        json={"user_options": {"partition": "cpu", "environment_id": "third"}},
    )
    assert r.status_code == 400, r.text
    assert "environment_id" in r.json()["message"]
    assert "choose one of: hub, second" in r.json()["message"]


def test_a_users_own_environment_is_refused_unless_the_admin_allows_it(hub_factory, second_env):
    venv, _ = second_env
    own = {"partition": "cpu", "environment_path": str(venv / "bin")}
    hub = hub_factory()
    r = hub.api("POST", "/users/moss07/server", json={"user_options": own})
    assert r.status_code == 400, r.text
    assert "environment_path: your own environments are not enabled" in r.json()["message"]

    allowed = hub_factory(
        spawner_config=_config(PARTITIONS, "c.MOSlurmSpawner.allow_user_environments = True\n")
    )
    r = allowed.api("POST", "/users/moss07/server", json={"user_options": own})
    assert r.status_code in (201, 202), r.text
    allowed.wait_ready("moss07")
    assert _prefix_and_prologue(allowed, "moss07")[0] == str(venv)
    # Remembered by the hub, not only by the browser.
    stored = _stored_options(allowed, "moss07")
    assert stored["environment_path"] == str(venv / "bin")


MOSS10_CONFIG = """
import jupyterhub_moss

jupyterhub_moss.set_config(c)
c.MOSlurmSpawner.slurm_poll_interval = 2.0
c.MOSlurmSpawner.singularity_cmd = ["apptainer", "exec"]
c.MOSlurmSpawner.slurm_info_cmd = "sinfo -a --noheader -o '%R %F %c %C %G %m %l'"
c.MOSlurmSpawner.slurm_info_resources = lambda out: {{}}
c.MOSlurmSpawner.partitions = {{
    "cpu": {{
        "architecture": "x86_86",
        "description": "Partition 1",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": True,
        "jupyter_environments": {{
            "default": {{
                "description": "Default",
                "path": "{venv}/bin/",
                "modules": "",
                "prologue": "",
                "add_to_path": True,
            }},
        }},
    }},
}}
"""


def test_a_jupyterhub_moss_10_config_loads_and_spawns(hub_factory):
    hub = hub_factory(spawner_config=MOSS10_CONFIG.format(venv=HUB_VENV))
    log = hub.log()
    for name in ("slurm_info_cmd", "slurm_info_resources"):
        assert f"c.MOSlurmSpawner.{name} (jupyterhub-moss 10.x) is ignored" in log, log[-3000:]
    user = "moss08"
    client = hub.login(user)
    # 10.x's links: "mem" for memory, "output=true" for a log file.
    r = client.get(
        "/hub/spawn?partition=cpu&nprocs=2&mem=1G&output=true&environment_id=default",
        headers={"Sec-Fetch-Site": "same-origin"},  # a link on the hub's own pages
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text[:500]
    job = wait_for_job(user)
    hub.wait_ready(user)
    info = job_info(job)
    assert info["MinMemoryNode"] in ("1G", "1024M"), info
    assert info["NumCPUs"] == "2", info
    assert _prefix_and_prologue(hub, user)[0] == str(HUB_VENV)


#: A Debian 13 tree with JupyterHub in /opt/moss-dev/jh6 (the Slurm 24.11 chroot, which
#: dev/test.sh builds first), run as a container image by Charliecloud's ch-run.
CONTAINER_IMAGE = os.environ.get("MOSS_CONTAINER_IMAGE", "")
IN_IMAGE = "/opt/moss-dev/jh6/bin"
PRINT_SYSTEM = (
    "import platform, sys; print(platform.freedesktop_os_release()['VERSION_CODENAME']); "
    "print('%d.%d' % sys.version_info[:2]); print(sys.prefix)"
)


def test_a_container_environment_runs_the_server_inside_the_image(hub_factory):
    if not CONTAINER_IMAGE:
        pytest.skip("MOSS_CONTAINER_IMAGE is not set (dev/test.sh sets it)")
    assert shutil.which("ch-run"), "Charliecloud's ch-run is missing (dev/setup.sh installs it)"
    assert Path(CONTAINER_IMAGE, IN_IMAGE.lstrip("/"), "jupyterhub-singleuser").exists()
    environments = {
        "host": {"description": "The node's Python", "path": str(HUB_VENV / "bin")},
        "image": {
            "description": "Debian 13 in a container",
            "image": CONTAINER_IMAGE,
            "runner": ["ch-run", "--home", "{image}", "--"],
            "path": IN_IMAGE,
        },
    }
    hub = hub_factory(spawner_config=_config(_with_environments(environments)))
    users = {"moss09": "image", "moss10": "host"}
    for user, env_id in users.items():
        options = {"partition": "cpu", "environment_id": env_id}
        r = hub.api("POST", f"/users/{user}/server", json={"user_options": options})
        assert r.status_code in (201, 202), r.text
    for user in users:
        hub.wait_ready(user)
    inside = run_in_kernel(hub, "moss09", PRINT_SYSTEM).split()
    outside = run_in_kernel(hub, "moss10", PRINT_SYSTEM).split()
    assert inside == ["trixie", "3.13", "/opt/moss-dev/jh6"], inside
    assert outside[0] == "bookworm" and outside[1] != "3.13", outside
