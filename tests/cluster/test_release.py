"""The release as a centre installs it: the sdist and the wheel that
dev/release-check.sh builds from a clean clone, and a fresh venv with the wheel
and the lowest versions pyproject.toml allows.

The tests of the built release need dev/release-check.sh's environment
(MOSS_RELEASE_*); run alone, they are skipped. The version's own checks run always.
"""

import json
import os
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib
from packaging.version import Version
from support import REPO
from support.hubtools import DEV_ROOT, PARTITIONS, Hub, cancel_all, job_info

import jupyterhub_moss

RELEASE_VENV = os.environ.get("MOSS_RELEASE_VENV")
needs_release = pytest.mark.skipif(
    RELEASE_VENV is None, reason="run by dev/release-check.sh, which builds the release"
)


def _release_path(name: str) -> Path:
    return Path(os.environ[name])


def _package_data(source: Path) -> set[str]:
    """The templates and static files of the package, relative to the source tree."""
    package = source / "jupyterhub_moss"
    return {
        str(p.relative_to(source))
        for folder in ("templates", "static")
        for p in (package / folder).rglob("*")
        if p.is_file()
    }


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_version_is_set_once_and_has_its_changelog_section():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "jupyterhub_moss/_version.py"
    version = jupyterhub_moss.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)


@needs_release
def test_the_wheel_and_the_sdist_hold_every_template_and_static_file():
    dist = _release_path("MOSS_RELEASE_DIST")
    expected = _package_data(_release_path("MOSS_RELEASE_SOURCE"))
    assert any(name.endswith(".js") for name in expected)
    assert any(name.endswith(".html") for name in expected)
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_text = z.read(entry_points).decode()
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith("tests/") for n in names)
    assert "moss = jupyterhub_moss:MOSlurmSpawner" in entry_text
    assert "jupyterhub-moss = jupyterhub_moss.cli:main" in entry_text
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as t:
        root = t.getnames()[0].split("/")[0]
        in_sdist = {n[len(root) + 1 :] for n in t.getnames()}
    assert expected <= in_sdist, sorted(expected - in_sdist)
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE"} <= in_sdist


@needs_release
def test_the_fresh_venv_holds_the_lowest_versions_pyproject_allows():
    lowest = {}
    for line in _release_path("MOSS_RELEASE_LOWEST").read_text().split():
        name, version = line.split("==")
        lowest[_normal(name)] = version
    assert "jupyterhub" in lowest and lowest["jupyterhub"].startswith("5.")
    out = subprocess.run(
        [f"{RELEASE_VENV}/bin/pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = dict(line.split("==", 1) for line in out.split() if "==" in line)
    installed = {_normal(k): v for k, v in installed.items()}
    for name, version in lowest.items():
        assert name in installed, name
        assert Version(installed[name]) == Version(version), (name, installed[name], version)
    assert installed["jupyterhub-moss"] == jupyterhub_moss.__version__


@needs_release
@pytest.mark.cluster
def test_a_hub_from_the_installed_wheel_logs_its_version_and_spawns_a_real_server(tmp_path):
    venv = Path(RELEASE_VENV)
    # The hub imports the venv's copy, not this checkout.
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import jupyterhub_moss; print(jupyterhub_moss.__file__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    # The job's environment: the dev venv of JupyterHub 5, with jupyter_server.
    job_env = str(DEV_ROOT / "jh5" / "bin") + "/"
    partitions = {"cpu": {**PARTITIONS["cpu"], "venv": job_env}}
    spawner = f"""
    import jupyterhub_moss

    jupyterhub_moss.set_config(c)
    c.MOSlurmSpawner.partitions = {partitions!r}
    c.MOSlurmSpawner.slurm_poll_interval = 2.0
    # The oldest JupyterHub 5.x has no shared-password authenticator.
    c.JupyterHub.authenticator_class = "dummy"
    """
    hub = Hub(tmp_path / "hub", venv=venv, spawner_config=spawner)
    try:
        hub.start()
        pins = dict(
            line.split("==") for line in _release_path("MOSS_RELEASE_LOWEST").read_text().split()
        )
        hub_version = hub.api("GET", "/").json()["version"]
        assert Version(hub_version) == Version(pins["jupyterhub"]), (hub_version, pins)
        assert f"jupyterhub_moss {jupyterhub_moss.__version__}: " in hub.log()
        user = "moss07"
        assert hub.api("POST", f"/users/{user}").status_code in (201, 409)
        r = hub.api(
            "POST",
            f"/users/{user}/server",
            json={"user_options": {"partition": "cpu", "nprocs": 1, "runtime": "00:10:00"}},
        )
        assert r.status_code in (201, 202), r.text
        model = hub.wait_ready(user)
        job_id = model["state"]["job_id"]
        info = job_info(job_id)
        assert info["JobState"] == "RUNNING"
        assert info["UserId"].startswith(user + "(")
        r = hub.api("DELETE", f"/users/{user}/server")
        assert r.status_code in (202, 204), r.text
        hub.wait_stopped(user)
    except BaseException:
        print(hub.log()[-20000:])
        raise
    finally:
        hub.stop()
        cancel_all(["moss07"])


@needs_release
@pytest.mark.cluster
def test_the_installed_admin_command_checks_the_demo_config_against_the_cluster():
    command = Path(RELEASE_VENV) / "bin" / "jupyterhub-moss"
    demo = _release_path("MOSS_RELEASE_SOURCE") / "dev" / "jupyterhub_config.py"
    r = subprocess.run(
        [str(command), "check", "-f", str(demo), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (r.stdout, r.stderr)
    report = json.loads(r.stdout)
    assert report["summary"]["error"] == 0, report
    assert report["summary"]["ok"] is True
