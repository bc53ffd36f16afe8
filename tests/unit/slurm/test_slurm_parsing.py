"""Parsers of sinfo and squeue output, on output recorded from the local cluster
(sinfo_idle, sinfo_busy) and written by hand for what it cannot produce (sinfo_mixed)."""

from datetime import datetime

import pytest
from support import DATA

from jupyterhub_moss.slurm.scontrol import (
    AMBIGUOUS,
    exact_field,
    parse_job_files,
    parse_show_jobs,
    show_jobs_argv,
    show_jobs_input,
)
from jupyterhub_moss.slurm.scontrol import new_marker as new_scontrol_marker
from jupyterhub_moss.slurm.sinfo import parse_gres, parse_sinfo, sinfo_argv
from jupyterhub_moss.slurm.squeue import (
    JobStatus,
    new_marker,
    parse_job_states,
    parse_slurm_version,
    parse_squeue,
    squeue_argv,
    squeue_states_argv,
)
from jupyterhub_moss.slurm.timefmt import UNLIMITED


def test_sinfo_idle_cluster():
    parts = parse_sinfo((DATA / "sinfo_idle.txt").read_text())
    assert list(parts) == ["cpu", "gpu", "long", "debug"]
    cpu = parts["cpu"]
    assert (cpu.cpus_idle, cpu.cpus_total, cpu.nodes_idle, cpu.nodes_total) == (56, 56, 2, 2)
    assert (cpu.max_cpus_per_node, cpu.max_memory_mb, cpu.max_time) == (28, 64000, 12 * 3600)
    assert cpu.gpus_total == 0
    gpu = parts["gpu"]
    assert (gpu.gpus_total, gpu.gpus_idle, gpu.max_gpus_per_node) == (2, 2, 2)
    assert gpu.gpu_types == ["V100-SXM2-32GB"]
    assert gpu.max_time == 3600
    assert parts["debug"].max_time == 30 * 60


def test_sinfo_partition_over_two_node_groups_is_summed():
    parts = parse_sinfo((DATA / "sinfo_idle.txt").read_text())
    long = parts["long"]
    # node[1-2] (2 x 28 cores) and node4 (64 cores): two lines, summed, not overwritten.
    assert (long.cpus_total, long.cpus_idle) == (120, 120)
    assert (long.nodes_total, long.nodes_idle) == (3, 3)
    assert long.max_cpus_per_node == 64
    assert long.max_memory_mb == 128000
    assert long.max_time == 2 * 86400


def test_sinfo_busy_cluster():
    parts = parse_sinfo((DATA / "sinfo_busy.txt").read_text())
    assert (parts["cpu"].cpus_idle, parts["cpu"].nodes_idle) == (0, 0)
    gpu = parts["gpu"]
    assert (gpu.cpus_idle, gpu.gpus_used, gpu.gpus_idle) == (124, 1, 1)
    long = parts["long"]
    assert (long.cpus_idle, long.cpus_total) == (34, 120)
    assert long.nodes_idle == 0


def test_sinfo_mixed_nodes_several_gres_and_states():
    parts = parse_sinfo((DATA / "sinfo_mixed.txt").read_text())
    gpu = parts["gpu"]
    assert (gpu.nodes_total, gpu.nodes_idle) == (5, 3)
    assert (gpu.cpus_total, gpu.cpus_idle) == (64 + 128 + 32, 56 + 128)
    # 2 nodes x 4 a100 + 2 nodes x 8 h100 + 1 node x 4 a100
    assert gpu.gpus_total == 8 + 16 + 4
    # GresUsed is per node: both nodes of the first line use 3 GPUs.
    assert gpu.gpus_used == 6
    assert gpu.max_gpus_per_node == 8
    assert gpu.gpu_types == ["a100", "h100"]
    assert gpu.max_memory_mb == 512000
    cpu = parts["cpu"]
    assert cpu.max_time == UNLIMITED
    assert cpu.max_memory_mb == 96000  # "96000+"
    assert parts["maint"].available is False


@pytest.mark.parametrize(
    "text, count, types",
    [
        ("(null)", 0, []),
        ("gpu:4", 4, []),
        ("gpu:V100-SXM2-32GB:2", 2, ["V100-SXM2-32GB"]),
        ("gpu:a100:2(S:0-1),gpu:h100:1(S:0,1)", 3, ["a100", "h100"]),
        ("mps:100,gpu:tesla:2", 2, ["tesla"]),
        ("gpu:a100:3(IDX:0-2)", 3, ["a100"]),
    ],
)
def test_parse_gres(text, count, types):
    assert parse_gres(text) == (count, tuple(types))


@pytest.mark.parametrize(
    "line",
    [
        "cpu|up|0/56/0/56|0/2/0/2|28|64000|(null)|gpu:0|",  # a field short
        "cpu|up|0/56/56|0/2/0/2|28|64000|(null)|gpu:0|12:00:00|",  # bad A/I/O/T
        "sinfo: error: Unable to contact slurm controller",
    ],
)
def test_sinfo_refuses_unexpected_output(line):
    with pytest.raises(ValueError):
        parse_sinfo(line + "\n")


def test_sinfo_argv_asks_for_exact_groups():
    argv = sinfo_argv("/opt/slurm/bin/sinfo")
    assert argv[0] == "/opt/slurm/bin/sinfo"
    assert "--exact" in argv and "--noheader" in argv


def _recorded_squeue(marker):
    return (DATA / "squeue_jobs.txt").read_text().replace("@M@", marker)


def test_squeue_states_ports_and_reasons():
    marker = new_marker()
    jobs = parse_squeue(_recorded_squeue(marker), marker)
    assert jobs["17"].running and jobs["17"].port == 51019 and jobs["17"].node == "node3"
    assert jobs["17"].user == "moss01" and jobs["22"].user == "moss03"
    assert jobs["18"].waiting and jobs["18"].reason == "Resources"
    assert jobs["18"].start_time == datetime(2026, 11, 28, 3, 0)
    assert jobs["18"].node is None and jobs["18"].port is None
    assert jobs["19"].start_time is None
    assert jobs["20"].finished
    assert jobs["21"].running and jobs["21"].port is None
    assert jobs["23"].port is None  # 99999 is no port


def test_squeue_gives_the_details_scontrol_gives():
    marker = new_marker()
    jobs = parse_squeue(_recorded_squeue(marker), marker)
    assert jobs["17"].end_time == datetime(2026, 11, 28, 2, 32, 38).astimezone()
    assert (jobs["17"].partition, jobs["17"].cpus, jobs["17"].gres) == ("gpu", 4, "gres:gpu:2")
    assert (jobs["21"].partition, jobs["21"].cpus, jobs["21"].gres) == ("long", 8, None)
    assert jobs["19"].end_time is None


def test_squeue_argv_asks_for_several_jobs_in_one_request():
    argv = squeue_argv(["12", "3", "12", "100"], new_marker())
    assert argv[argv.index("--jobs") + 1] == "3,12,100"


def _status(comment):
    return JobStatus(job_id="5", state="RUNNING", node="n1", reason=None, start_time=None,
                     comment=comment)  # fmt: skip


@pytest.mark.parametrize(
    ("comment", "port", "marked"),
    [
        ("moss:submit=ab12", None, True),
        ("moss:port=4000;moss:submit=ab12", 4000, True),
        ("moss:port=4000", 4000, False),
        ("moss:port=4000;moss:submit=ab123", 4000, False),
        ("moss:submit=ab12x", None, False),
        ("moss:port=4000;moss:submit=ab12;x", None, False),
        ("moss:port=4000;moss:submit=AB12", None, False),
    ],
)
def test_a_job_keeps_its_submission_mark_next_to_its_port(comment, port, marked):
    status = _status(comment)
    assert status.port == port
    assert status.submitted_with("ab12") is marked


def test_squeue_comment_cannot_forge_another_job():
    marker = new_marker()
    jobs = parse_squeue(_recorded_squeue(marker), marker)
    # Job 22's owner put a line break and a fake record for job 999 in its comment.
    assert "999" not in jobs
    assert jobs["22"].comment.startswith("moss:port=1234\n999|")
    assert jobs["22"].port is None


def test_squeue_without_marker_is_refused():
    with pytest.raises(ValueError):
        parse_squeue("17|RUNNING|node3|None|N/A|\n", new_marker())


def test_squeue_argv_asks_for_one_job_by_id():
    marker = new_marker()
    argv = squeue_argv("12", marker)
    # One id: slurmctld looks up that job alone instead of sending its whole table.
    assert argv[argv.index("--jobs") + 1] == "12"
    assert argv[-1].startswith(marker) and argv[-1].endswith("|%u|%e|%P|%C|%b|%k")
    assert "--states=all" in argv
    assert new_marker() != marker


def test_state_only_query_and_its_output():
    argv = squeue_states_argv(["12", "3", "12"])
    assert "--only-job-state" in argv
    assert argv[argv.index("--jobs") + 1] == "3,12"
    assert parse_job_states("3|RUNNING\n12|PENDING\n") == {"3": "RUNNING", "12": "PENDING"}
    with pytest.raises(ValueError):
        parse_job_states("3|RUNNING x\n")


@pytest.mark.parametrize(
    "text, version",
    [("slurm 22.05.8\n", (22, 5)), ("slurm 24.11.5\n", (24, 11)), ("slurm-wlm 25.05.0-1", (25, 5))],
)
def test_slurm_version(text, version):
    assert parse_slurm_version(text) == version


def _recorded_scontrol(marker):
    out = (DATA / "scontrol_show_jobs.txt").read_text().replace("@M@", marker)
    return out, (DATA / "scontrol_show_jobs.err").read_text()


RECORDED_IDS = ["4", "5", "99999", "6", "7"]


def test_scontrol_batch_reads_each_job_by_id():
    assert show_jobs_argv("/opt/slurm/bin/scontrol")[:2] == ["/opt/slurm/bin/scontrol", "--local"]
    marker = new_scontrol_marker()
    text = show_jobs_input(["4", "5"], marker)
    assert text == f"show job 4\nshow hostnames {marker}\nshow job 5\nshow hostnames {marker}\n"
    with pytest.raises(ValueError):
        show_jobs_input(["4\nshow job 5"], marker)
    assert marker.endswith("z")  # scontrol would read trailing digits as a number


def test_scontrol_batch_states_owners_and_ports():
    """Recorded on the local cluster: job 4 runs with a port, 5 is held, 99999 is
    unknown, 6's owner renamed it to fake another owner, 7's owner wrote a fake
    marker and a fake record of job 4 into its comment."""
    out, err = _recorded_scontrol("@M@")
    jobs = parse_show_jobs(out, err, RECORDED_IDS, "@M@")
    assert jobs["4"].running and jobs["4"].port == 40001 and jobs["4"].node == "node4"
    assert jobs["4"].user == "moss01"
    assert jobs["5"].waiting and jobs["5"].reason == "JobHeldUser" and jobs["5"].user == "moss02"
    assert jobs["5"].node is None and jobs["5"].start_time is None
    assert jobs["99999"] is None
    # A name repeating "UserId=": not believed, asked about again elsewhere.
    assert jobs["6"] == AMBIGUOUS
    # The comment's fake record of job 4 stays inside job 7's part: job 4 still runs
    # (above), and job 7 has only said something of itself.
    assert jobs["7"].user == "moss04" and jobs["7"].running


def test_scontrol_batch_failures_are_never_read_as_gone():
    out, err = _recorded_scontrol("@M@")
    # The controller not answering: nothing may be concluded.
    down = "scontrol: error: Unable to contact slurm controller (connect failure)\n"
    with pytest.raises(ValueError, match="connect failure"):
        parse_show_jobs("", down, ["4"], "@M@")
    # Cut short (scontrol killed half-way): refused, not "the rest is gone".
    with pytest.raises(ValueError):
        parse_show_jobs(out[: out.index("show job 6")], err, RECORDED_IDS, "@M@")
    # A marker other than the one sent: nothing matches.
    with pytest.raises(ValueError):
        parse_show_jobs(out, err, RECORDED_IDS, new_scontrol_marker())
    # An unknown job must come with scontrol's own error for it.
    with pytest.raises(ValueError):
        parse_show_jobs(out, "", RECORDED_IDS, "@M@")


ENDED_JOB = (
    "JobId=42 JobName=jupyter-moss01 UserId=moss01(1001) GroupId=moss01(1001) "
    "MCS_label=N/A Priority=1 Nice=0 Account=moss QOS=normal JobState=FAILED "
    "Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 "
    "Reboot=0 ExitCode=1:0 Comment={comment} WorkDir=/home/moss01 "
    "StdErr=/home/moss01/.jupyterhub_moss_42.log StdIn=/dev/null "
    "StdOut=/home/moss01/.jupyterhub_moss_42.log Power=\n"
)


def test_job_files_are_read_from_an_ended_jobs_record():
    record = ENDED_JOB.format(comment="moss-submitted")
    assert parse_job_files(record) == ("/home/moss01/.jupyterhub_moss_42.log", "1:0")


@pytest.mark.parametrize(
    "comment",
    [
        "x StdOut=/etc/shadow",
        "x ExitCode=0:0",
        "a StdOut=/dev/zero ExitCode=0:0 b",
    ],
)
def test_a_comment_that_repeats_a_field_makes_that_field_unknown(comment):
    # Searched from the end, the faked field came first for ExitCode and last for
    # StdOut; now a field written twice is never believed.
    path, exit_code = parse_job_files(ENDED_JOB.format(comment=comment))
    if "StdOut=" in comment:
        assert path is None
    else:
        assert path == "/home/moss01/.jupyterhub_moss_42.log"
    if "ExitCode=" in comment:
        assert exit_code is None
    else:
        assert exit_code == "1:0"


def test_exact_field_needs_the_field_exactly_once():
    assert exact_field(" A=1 B=2", "A") == "1"
    assert exact_field(" A=1 B=2 A=3", "A") is None
    assert exact_field(" B=2", "A") is None
    assert exact_field(" A= B=2", "A") is None
