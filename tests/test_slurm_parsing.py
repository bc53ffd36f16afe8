"""Parsers of sinfo and squeue output, on output recorded from the local cluster
(sinfo_idle, sinfo_busy) and written by hand for what it cannot produce (sinfo_mixed)."""

from datetime import datetime
from pathlib import Path

import pytest

from jupyterhub_moss.slurm.sinfo import parse_gres, parse_sinfo, sinfo_argv
from jupyterhub_moss.slurm.squeue import new_marker, parse_squeue, squeue_argv
from jupyterhub_moss.slurm.timefmt import UNLIMITED

DATA = Path(__file__).parent / "data"


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
    assert jobs["18"].waiting and jobs["18"].reason == "Resources"
    assert jobs["18"].start_time == datetime(2026, 11, 28, 3, 0)
    assert jobs["18"].node is None and jobs["18"].port is None
    assert jobs["19"].start_time is None
    assert jobs["20"].finished
    assert jobs["21"].running and jobs["21"].port is None
    assert jobs["23"].port is None  # 99999 is no port


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


def test_squeue_argv():
    marker = new_marker()
    argv = squeue_argv(["12", "3", "12"], marker)
    assert argv[argv.index("--jobs") + 1] == "3,12"
    assert argv[-1].startswith(marker)
    assert "--states=all" in argv
    assert new_marker() != marker
