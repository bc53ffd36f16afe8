"""``jupyterhub-moss``: the administrator's command of jupyterhub_moss.

Subcommands, each reading a hub's ``jupyterhub_config.py`` (``-f``, by default
the one in the working directory) as JupyterHub does::

    jupyterhub-moss check [-f CONFIG] [--json] [--hub-user USER] [--sample-user USER]
    jupyterhub-moss check [-f CONFIG] [--json] --network --as USER [--partition NAME]
    jupyterhub-moss script [-f CONFIG] --user USER [--server NAME] [KEY=VALUE ...]
    jupyterhub-moss sudoers [-f CONFIG] --hub-user USER --group GROUP [--group GROUP ...]

``check`` compares the config with the live cluster (exit 0: no error, 1: errors);
``script`` prints the batch script the hub would submit for the options (exit 1
and the hub's message when an option is refused); ``sudoers`` prints the sudoers
rules the config needs. A config that cannot be loaded, or wrong arguments, exit
with status 2. Only read-only Slurm queries run and nothing is submitted, but for
``check --network``, which submits one short job as USER (and cancels it) to test
that the hub and a server's node reach each other.
``python -m jupyterhub_moss`` is the same command.
"""

from __future__ import annotations

import argparse
import sys

from tornado import web

from .config import DEFAULT_CONFIG, CliError, build_spawner, load_hub_config

__all__ = ["main"]

_CHECK_HELP = """\
Load the config as the hub would and compare it with the live cluster (sinfo,
scontrol show, sacctmgr show): partitions Slurm lacks (partition-missing), limits
above Slurm's (nprocs-over-slurm, ngpus-over-slurm, runtime-over-maxtime,
runtime-over-qos), GPU types Slurm does not know there (gpu-type-unknown, gpu-missing),
environments missing on this host (environment-missing, a warning), sudo rules the
spawner needs (sudo-rule-missing; sudo-unchecked when sudo cannot tell), and an
exec_prefix that keeps the hub's environment (exec-prefix-keeps-env). With
--network --as USER instead: submit one short job as USER that listens in
server_port_range and calls the hub's API as a server would, then connect to it from
here; each direction is reported (node-cannot-reach-hub, hub-cannot-reach-node) with
what to look at, and the job is cancelled. Exit status: 0 without errors, 1 with
errors, 2 when the config cannot be loaded."""

_SCRIPT_HELP = """\
Print the batch script the hub would submit for USER with the options KEY=VALUE
(the spawn form's and REST API's names: partition, nprocs, ngpus, runtime, memory,
account, qos, gpu_type, reservation, environment_id, default_url, root_dir, ...),
after the hub's own checks. Secrets (the API token, secret-looking variables) are
shown as ********. Exit status 1, with the hub's message, on a refused option.
Nothing is submitted. Example: script --user alice partition=cpu nprocs=2
runtime=01:00:00"""

_SUDOERS_HELP = """\
Print the sudoers rules that let the hub's account run, as the members of GROUP,
exactly the commands this config runs as users (sbatch --parsable, sbatch
--test-only, scancel, tail of the job output), by full path, without a password."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyterhub-moss",
        description="Administer a JupyterHub that uses jupyterhub_moss (MOSlurmSpawner).",
        epilog="Each COMMAND has its own --help. Exit status: 0 fine, 1 errors found or "
        "an option refused, 2 a config that cannot be loaded or wrong arguments. Only "
        "read-only Slurm queries run; nothing is submitted but the one short job of "
        "check --network.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-f",
        "--config",
        default=DEFAULT_CONFIG,
        help=f"the hub's config file (default: {DEFAULT_CONFIG} in the working directory)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser(
        "check", parents=[common], help="compare a config with the cluster", description=_CHECK_HELP
    )
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument(
        "--hub-user", help="the account the hub runs as, for the sudo check (default: yours)"
    )
    check.add_argument(
        "--sample-user",
        help="a user to check the sudo rules with (default: the first of "
        "c.Authenticator.allowed_users, if set)",
    )
    check.add_argument(
        "--group",
        action="append",
        default=[],
        help="the users' group of the sudo rules: its members must not be root, the "
        "SlurmUser or under minimum_uid (repeat for several)",
    )
    check.add_argument(
        "--network",
        action="store_true",
        help="submit one short job as --as USER and test the network between its node and "
        "the hub, both ways",
    )
    check.add_argument("--as", dest="as_user", metavar="USER", help="the user of --network")
    check.add_argument(
        "--partition", help="the partition of --network (default: the first configured)"
    )
    script = sub.add_parser(
        "script", parents=[common], help="print a user's batch script", description=_SCRIPT_HELP
    )
    script.add_argument("--user", required=True, help="the JupyterHub user (a system account)")
    script.add_argument("--server", default="", help="the named server (default: the default one)")
    script.add_argument("options", nargs="*", metavar="KEY=VALUE", help="the user's options")
    sudoers = sub.add_parser(
        "sudoers", parents=[common], help="print the sudoers rules", description=_SUDOERS_HELP
    )
    sudoers.add_argument("--hub-user", required=True, help="the account the hub runs as")
    sudoers.add_argument(
        "--group",
        action="append",
        required=True,
        help="the group whose members the hub may act as (repeat for several)",
    )
    return parser


def _sample_user(config, given: str | None) -> str | None:
    if given:
        return given
    allowed = config.get("Authenticator", {}).get("allowed_users")
    if isinstance(allowed, (set, list, tuple)) and allowed:
        return sorted(str(name) for name in allowed)[0]
    return None


def _check(args) -> int:
    from .check import check_config
    from .findings import as_json, as_text, summary

    config = load_hub_config(args.config)
    if args.network:
        from .network import network_findings

        if not args.as_user:
            raise CliError("--network needs --as USER: the check's job runs as that user")
        spawner = build_spawner(config, args.as_user)
        findings = network_findings(spawner, config, args.config, args.as_user, args.partition)
        print(as_json(findings, args.config) if args.json else as_text(findings, args.config))
        return 0 if summary(findings)["ok"] else 1
    spawner = build_spawner(config)
    findings = check_config(
        spawner,
        hub_user=args.hub_user,
        sample_user=_sample_user(config, args.sample_user),
        groups=args.group,
    )
    print(as_json(findings, args.config) if args.json else as_text(findings, args.config))
    return 0 if summary(findings)["ok"] else 1


def _script(args) -> int:
    from .script import OfflineSpawner, OptionRefused, batch_script, parse_assignments

    raw = parse_assignments(args.options)
    config = load_hub_config(args.config)
    spawner = build_spawner(config, args.user, OfflineSpawner)
    try:
        spawner.home_folder()  # refuses a name no job can be submitted for, or no account
    except web.HTTPError as e:
        raise CliError(getattr(e, "jupyterhub_message", None) or str(e)) from None
    try:
        text = batch_script(spawner, config, raw, args.server)
    except OptionRefused as e:
        print(f"jupyterhub-moss: refused: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _sudoers(args) -> int:
    from .sudoers import sudoers_rules

    config = load_hub_config(args.config)
    spawner = build_spawner(config)
    text = sudoers_rules(
        spawner, hub_user=args.hub_user, groups=args.group, config_path=args.config
    )
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's); returns the exit status."""
    args = _parser().parse_args(argv)
    run = {"check": _check, "script": _script, "sudoers": _sudoers}[args.command]
    try:
        return run(args)
    except CliError as e:
        print(f"jupyterhub-moss {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
