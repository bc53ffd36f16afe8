"""The admin's side: set_config, start-up checks, the entry point, batchspawner's endpoint."""

import html
import re
import subprocess
from importlib.metadata import entry_points

import pytest
from support.hubtools import HUB_VENV, Hub

import jupyterhub_moss


def test_entry_point_names_the_spawner():
    (ep,) = [e for e in entry_points(group="jupyterhub.spawners") if e.name == "moss"]
    assert ep.load() is jupyterhub_moss.MOSlurmSpawner


def test_set_config_makes_moss_the_spawner():
    from traitlets.config import Config

    c = Config()
    jupyterhub_moss.set_config(c)
    assert c.JupyterHub.spawner_class is jupyterhub_moss.MOSlurmSpawner


@pytest.mark.cluster
@pytest.mark.parametrize(
    "config, expected",
    [
        (
            'c.MOSlurmSpawner.partitions["gpu"]["max_ngpus"] = "2"',
            "c.MOSlurmSpawner.partitions['gpu']['max_ngpus']: Input should be a valid integer",
        ),
        (
            'c.MOSlurmSpawner.partitions["cpu"]["gpu"] = "gpu:V100"',
            "c.MOSlurmSpawner.partitions['cpu']['gpu']: must be a --gres template with one {}",
        ),
        (
            'c.MOSlurmSpawner.partitions["long"]["colour"] = "red"',
            "c.MOSlurmSpawner.partitions['long']['colour']: unknown field",
        ),
        (
            "for p in c.MOSlurmSpawner.partitions.values(): p['simple'] = False",
            "no partition has 'simple': True",
        ),
        (
            'c.MOSlurmSpawner.partitions["cpu"]["jupyter_environments"] = '
            '{"d": {"description": "D", "path": "/x"}}',
            "c.MOSlurmSpawner.partitions['cpu']: has both 'venv' and 'jupyter_environments'",
        ),
        (
            'c.MOSlurmSpawner.req_runtime = "2:00:00"',
            "c.MOSlurmSpawner.req_runtime is batchspawner's and has no meaning in "
            "jupyterhub_moss; use the partition's 'max_runtime'",
        ),
        (
            'c.SlurmSpawner.batch_submit_cmd = "sudo -E -u {username} sbatch"',
            "c.SlurmSpawner.batch_submit_cmd is batchspawner's and has no meaning in "
            "jupyterhub_moss; use c.MOSlurmSpawner.exec_prefix and slurm_bin_dir",
        ),
    ],
    ids=[
        "type",
        "gpu-template",
        "unknown-field",
        "no-simple",
        "venv-and-environments",
        "batchspawner-runtime",
        "batchspawner-section",
    ],
)
def test_bad_partitions_stop_the_hub_at_start_up(tmp_path, config, expected):
    hub = Hub(tmp_path, config)
    (tmp_path / "jupyterhub_config.py").write_text(hub.config_text())
    proc = subprocess.run(
        [str(HUB_VENV / "bin" / "jupyterhub"), "-f", "jupyterhub_config.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr[-3000:]
    assert "JupyterHub is now running" not in proc.stderr


@pytest.mark.cluster
def test_partition_unknown_to_slurm_is_logged_and_shown_unavailable(hub_factory):
    hub = hub_factory(
        """
        c.JupyterHub.spawner_class = "moss"  # the entry point works as well
        c.MOSlurmSpawner.partitions["ghost"] = dict(
            c.MOSlurmSpawner.partitions["cpu"], description="Gone"
        )
        """
    )
    client = hub.login("moss09")
    page = client.get("/hub/spawn")
    assert page.status_code == 200
    reason = "Slurm does not report a partition named 'ghost'"
    # Simple tab: the partition is listed, cannot be picked, and says why.
    choices = {
        match.group("value"): match.group(0)
        for match in re.finditer(
            r'<input class="form-check-input"\s+type="radio"\s+name="partition"[^>]*'
            r'value="(?P<value>[^"]*)"[^>]*>\s*<label.*?</label>',
            page.text,
            re.S,
        )
    }
    assert set(choices) == {"cpu", "gpu", "ghost"}, choices
    assert re.search(r"\sdisabled\s", choices["ghost"].split(">")[0] + " ")
    assert not re.search(r"\sdisabled\s", choices["cpu"].split(">")[0] + " ")
    assert "Gone" in choices["ghost"]
    subtitle = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", choices["ghost"])).split())
    assert subtitle.endswith(f"ghost · x86_86 · unavailable: {reason}"), subtitle
    # Advanced tab: its option is disabled and marked.
    options = dict(re.findall(r'<option value="([^"]*)"([^>]*)>', page.text))
    assert "disabled" in options["ghost"] and "disabled" not in options["cpu"], options
    ghost_option = re.search(r'<option value="ghost"[^>]*>(.*?)</option>', page.text, re.S)
    assert " ".join(ghost_option.group(1).split()).endswith("(unavailable)")
    # The resource table has no figures for it.
    row = re.search(r'<tr data-partition="ghost".*?</tr>', page.text, re.S).group(0)
    assert re.search(r'<td data-field="cpus" colspan="3">unavailable</td>', row), row
    log = hub.log()
    assert "partition ghost is configured but unavailable" in log
    assert "Slurm does not report a partition named 'ghost'" in log
    r = hub.api("POST", "/users/moss09/server", json={"user_options": {"partition": "ghost"}})
    assert r.status_code == 400
    assert r.json()["message"].startswith("partition: 'ghost' is unavailable")


@pytest.mark.cluster
@pytest.mark.parametrize("where", ["before", "after"])
def test_batchspawner_endpoint_is_not_reachable(hub_factory, where):
    # An old config that still imports batchspawner, before or after set_config(c).
    line = "import batchspawner\n"
    hub = hub_factory(**({"preamble": line} if where == "before" else {"extra_config": line}))
    r = hub.api("POST", "/batchspawner", json={"port": 1234})
    assert r.status_code == 404
    assert "the /hub/api/batchspawner endpoint that batchspawner registers is disabled" in hub.log()
