"""A centre's layout (dev/site-up.sh): a hub that runs as the ordinary account
moss-hub in the network namespace of the hub's host, with the sudo rules
``jupyterhub-moss sudoers`` prints, and compute nodes in namespaces of their own,
behind their firewalls."""

from __future__ import annotations

import os
import pwd
import random
import shlex
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import httpx

from . import REPO
from .hubtools import HUB_VENV, Hub

SITE_CONF = "/etc/moss-dev/site/slurm.conf"
HUB_ACCOUNT = "moss-hub"
HUB_NETNS = "/run/netns/moss-hub"
HUB_UTS = "/run/moss-site/moss-hub"  # its host name, moss-hub
HUB_ADDRESS = "10.77.0.10"
USERS_GROUP = "moss-site-users"
SERVER_PORTS = (41000, 41999)  # what the nodes' firewalls let the hub reach

SITE_PARTITIONS = {
    "site": {
        "architecture": "x86_64",
        "description": "Nodes behind a firewall",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 8,
        "max_runtime": 2 * 3600,
        "simple": True,
        "venv": str(HUB_VENV / "bin") + "/",
    }
}


def site_up() -> None:
    """Bring the layout up (a check when it is up)."""
    subprocess.run(["bash", str(REPO / "dev" / "site-up.sh")], check=True, capture_output=True)


def site_slurm(*argv: str, check: bool = True) -> str:
    """A Slurm command of the site's cluster, as root."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        env={**os.environ, "SLURM_CONF": SITE_CONF},
    ).stdout


def in_hub_host(*argv: str) -> list[str]:
    """``argv`` run on the hub's host, as the hub's account."""
    return [
        "nsenter",
        f"--net={HUB_NETNS}",
        f"--uts={HUB_UTS}",
        "setpriv",
        f"--reuid={HUB_ACCOUNT}",
        f"--regid={HUB_ACCOUNT}",
        "--init-groups",
        *argv,
    ]


class SiteHub(Hub):
    """JupyterHub on the hub's host of the layout, as moss-hub, for the partition
    ``site``. Its hub port is in the range the hub's firewall opens to the nodes."""

    host = HUB_ADDRESS

    def __init__(
        self,
        workdir: Path,
        extra_config: str = "",
        hub_hosts: str = "",
        shared_home: bool = False,
        **kwargs,
    ):
        """``hub_hosts``: lines added to /etc/hosts for the hub's host alone.
        ``shared_home``: whether the hub's host sees the users' homes; if not, its
        /home is an empty folder of its own. (Either way its processes get a mount
        namespace of their own.)"""
        self.hub_hosts = hub_hosts
        self.shared_home = shared_home
        kwargs.setdefault("env", {})["SLURM_CONF"] = SITE_CONF
        kwargs["env"]["HOME"] = pwd.getpwnam(HUB_ACCOUNT).pw_dir
        super().__init__(workdir, extra_config, **kwargs)
        account = pwd.getpwnam(HUB_ACCOUNT)
        os.chown(self.workdir, account.pw_uid, account.pw_gid)
        self.workdir.chmod(0o755)

    def choose_ports(self) -> tuple[int, int, int]:
        # A namespace of its own: any port is free there once the last hub is gone.
        return random.randint(20000, 29999), random.randint(18100, 18199), 19000

    def default_spawner_config(self) -> str:
        return (
            super().default_spawner_config()
            + f"""
        c.MOSlurmSpawner.partitions = {SITE_PARTITIONS!r}
        c.MOSlurmSpawner.server_port_range = {SERVER_PORTS!r}
        """
        )

    def launch_argv(self) -> list[str]:
        mounts = []
        if self.hub_hosts:
            hosts = self.workdir / "hosts"
            hosts.write_text(Path("/etc/hosts").read_text() + self.hub_hosts)
            mounts.append(f"mount --bind {shlex.quote(str(hosts))} /etc/hosts")
        if not self.shared_home:
            mounts.append("mount -t tmpfs -o mode=0755,size=1m moss-hub-home /home")
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-ec", "; ".join([*mounts, 'exec "$@"']), "sh",
            *in_hub_host(*super().launch_argv()),
        ]  # fmt: skip


def sudoers_for(config: Path) -> str:
    """``jupyterhub-moss sudoers`` for a site hub's config, with the hub's SLURM_CONF."""
    result = subprocess.run(
        [str(HUB_VENV / "bin" / "python"), "-m", "jupyterhub_moss", "sudoers", "-f", str(config)]
        + ["--hub-user", HUB_ACCOUNT, "--group", USERS_GROUP],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_CONF": SITE_CONF},
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def site_workdir(name: str):
    """A working folder for a site hub that moss-hub may write in, removed after."""
    base = Path(pwd.getpwnam(HUB_ACCOUNT).pw_dir) / "tests"
    base.mkdir(parents=True, exist_ok=True)
    folder = base / f"{name}-{random.randrange(16**8):08x}"
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start(hub, user: str, **options) -> dict:
    """Start ``user``'s server on partition site (``options``: more user options);
    its model once ready."""
    r = hub.api(
        "POST", f"/users/{user}/server", json={"user_options": {"partition": "site", **options}}
    )
    assert r.status_code in (201, 202), r.text
    return hub.wait_ready(user, timeout=120)


def answers(hub, user: str) -> bool:
    """Whether ``user``'s server answers through the hub's proxy."""
    try:
        r = httpx.get(f"{hub.url}/user/{user}/api", timeout=10)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and "version" in r.text


def host_name_of(pid: int) -> str:
    """The host name process ``pid`` sees (that of its UTS namespace)."""
    return subprocess.run(
        ["nsenter", "-t", str(pid), "--uts", "hostname"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def started_and_proxied(hub, user: str, **options) -> tuple[dict, str]:
    """:func:`start`, then the proxy's target for the server, once the server
    answers through the proxy."""
    model = start(hub, user, **options)
    target = hub.proxy_routes()[f"/user/{user}"]["target"]
    assert answers(hub, user)
    return model, target
