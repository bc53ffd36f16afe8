"""What the hub knows of a server's job beyond its state: its end time, partition,
CPUs and GPUs (read from the watcher's own ``scontrol`` records, no call of their
own), kept in the server's state; and where its output goes."""

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import DATA
from support.fakeslurm import SQUEUE, argvs, fake_command

from jupyterhub_moss.slurm.batch_script import JobRequest, render_batch_script
from jupyterhub_moss.slurm.output import FALLBACK_OUTPUT, STATE_OUTPUT, output_paths, plan_output
from jupyterhub_moss.slurm.scontrol import AMBIGUOUS, parse_show_jobs
from jupyterhub_moss.slurm.squeue import JobStatus, parse_aware_time
from jupyterhub_moss.slurm.watcher import DETAILS_EVERY, JobWatcher
from jupyterhub_moss.spawner.lifecycle import MOSlurmSpawner
from jupyterhub_moss.spawner.state import (
    details_from_state,
    details_from_status,
    gpu_count,
    log_url,
    output_from_state,
    parse_end,
)


def local(*args) -> datetime:
    """A local time of the hub, as Slurm prints it, made aware."""
    return datetime(*args).astimezone()


def recorded(name, marker="@M@"):
    return (DATA / name).read_text().replace("@M@", marker)


# -- scontrol records ---------------------------------------------------------------------


def test_a_running_jobs_record_gives_its_end_partition_and_cpus():
    jobs = parse_show_jobs(
        recorded("scontrol_show_jobs.txt"),
        (DATA / "scontrol_show_jobs.err").read_text(),
        ["4", "5", "99999", "6", "7"],
        "@M@",
    )
    running = jobs["4"]
    assert running.end_time == local(2026, 12, 3, 0, 28, 31)
    assert running.end_time.tzinfo is not None
    assert (running.partition, running.cpus, running.gres) == ("debug", 1, None)
    # Pending: "EndTime=Unknown".
    assert jobs["5"].end_time is None and jobs["5"].partition == "cpu"


def test_a_gpu_jobs_tres_per_node_and_a_name_faking_a_detail():
    jobs = parse_show_jobs(recorded("scontrol_show_job_details.txt"), "", ["31", "32"], "@M@")
    gpu = jobs["31"]
    assert gpu.gres == "gres:gpu:V100-SXM2-32GB:1" and gpu_count(gpu.gres) == 1
    assert (gpu.partition, gpu.cpus, gpu.node) == ("gpu", 4, "node3")
    assert gpu.end_time == local(2026, 12, 3, 17, 0, 1)
    # The owner named the job "x EndTime=2099-...": not believed, asked again by squeue.
    assert jobs["32"] == AMBIGUOUS


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-03T17:00:00", local(2026, 12, 3, 17, 0, 0)),
        ("Unknown", None),
        ("N/A", None),
        ("", None),
        ("in 2 hours", None),  # SLURM_TIME_FORMAT=relative: not a time
    ],
)
def test_end_times_are_aware_or_unknown(text, expected):
    assert parse_aware_time(text) == expected


@pytest.mark.parametrize(
    "gres, gpus",
    [
        (None, 0),
        ("", 0),
        ("gres:gpu:1", 1),
        ("gres:gpu:V100-SXM2-32GB:2", 2),
        ("gres/gpu:3", 3),
        ("gpu:2", 2),
        ("gres:gpu", 1),
        ("gres:gpu:a100:1,gres:gpu:v100:2", 3),
        ("gres:shard:4", 0),
        ("gres:gpu:2(IDX:0-1)", 2),
    ],
)
def test_gpus_counted_from_tres_per_node(gres, gpus):
    assert gpu_count(gres) == gpus


# -- the watcher: details kept between its cheap polls, read again now and then -----------

SCONTROL_DETAILS = r"""
jobs="$(dirname "$0")/jobs"
while read -r verb what arg; do
    echo "scontrol: $verb $what $arg"
    if [ "$what" = hostnames ]; then echo "$arg"; continue; fi
    found=$(grep "^$arg|" "$jobs")
    if [ -z "$found" ]; then
        echo "slurm_load_jobs error: Invalid job id specified" >&2; continue
    fi
    IFS='|' read -r id state node end partition cpus gres comment <<<"$found"
    printf 'JobId=%s JobName=jupyter UserId=moss01(1002) GroupId=g(1) JobState=%s ' "$id" "$state"
    printf 'Reason=None StartTime=2026-12-03T16:00:00 EndTime=%s Partition=%s ' "$end" "$partition"
    printf 'NodeList=%s BatchHost=%s NumCPUs=%s Comment=%s StdOut=/tmp/x ' \
        "$node" "$node" "$cpus" "$comment"
    printf 'TresPerNode=%s\n' "$gres"
done
"""


@pytest.fixture
def slurm_2411(tmp_path):
    (tmp_path / "version").write_text("slurm 24.11.5\n")
    (tmp_path / "mode").write_text("ok")
    fake_command(tmp_path, "scontrol", SCONTROL_DETAILS)
    return fake_command(tmp_path, "squeue", SQUEUE)


def set_job(tmp_path, end):
    line = f"7|RUNNING|node1|{end}|cpu|4|gres:gpu:1|moss:port=4000\n"
    (tmp_path / "jobs").write_text(line)


async def test_a_settled_job_keeps_its_end_time_and_sees_a_new_one_within_ten_polls(
    tmp_path, slurm_2411
):
    set_job(tmp_path, "2026-12-03T17:00:00")
    watcher = JobWatcher(
        squeue=slurm_2411,
        scontrol=str(tmp_path / "scontrol"),
        interval=60,
        fast_interval=0.05,
        timeout=5,
    )
    watcher.watch("7", owner="moss01")
    assert await watcher.refresh()
    status = watcher.status("7", "moss01")
    assert status.end_time == local(2026, 12, 3, 17, 0, 0)
    assert (status.partition, status.cpus, status.gres) == ("cpu", 4, "gres:gpu:1")

    # scontrol update TimeLimit=...: the cheap polls do not see it, but keep what
    # the last detailed look said (squeue --only-job-state gives no end time).
    set_job(tmp_path, "2026-12-03T18:00:00")
    details_before = len(argvs(tmp_path, "scontrol"))
    seen_at = None
    for poll in range(1, DETAILS_EVERY + 2):
        assert await watcher.refresh()
        end = watcher.status("7", "moss01").end_time
        assert end is not None
        if end == local(2026, 12, 3, 18, 0, 0):
            seen_at = poll
            break
        assert end == local(2026, 12, 3, 17, 0, 0)
    assert seen_at is not None and seen_at >= DETAILS_EVERY - 2
    state_only = [a for a in argvs(tmp_path, "squeue") if "--only-job-state" in a]
    assert len(state_only) >= DETAILS_EVERY - 2
    assert len(argvs(tmp_path, "scontrol")) - details_before == 1
    watcher.stop()


async def test_the_watcher_asks_slurm_for_iso_times(tmp_path, slurm_2411, monkeypatch):
    monkeypatch.setenv("SLURM_TIME_FORMAT", "relative")
    body = 'echo "$SLURM_TIME_FORMAT" >> "$(dirname "$0")/time_format"\n' + SCONTROL_DETAILS
    fake_command(tmp_path, "scontrol", body)
    set_job(tmp_path, "2026-12-03T17:00:00")
    watcher = JobWatcher(
        squeue=slurm_2411, scontrol=str(tmp_path / "scontrol"), interval=60, fast_interval=0.05
    )
    watcher.watch("7", owner="moss01")
    assert await watcher.refresh()
    assert set((tmp_path / "time_format").read_text().split()) == {"standard"}
    watcher.stop()


# -- the state ------------------------------------------------------------------------------


def spawner_for(name="moss01"):
    spawner = MOSlurmSpawner(job_workdir="{home}/work")
    spawner.user = SimpleNamespace(name=name)
    spawner.hub = SimpleNamespace(base_url="/hub/")
    spawner._home = lambda required=True: f"/home/{name}"
    return spawner


def test_the_state_carries_the_jobs_details_and_its_output_and_comes_back():
    spawner = spawner_for()
    spawner.job_id = "42"
    spawner.job_node = "node2"
    spawner.job_port = 40000
    spawner.job_partition = "gpu"
    spawner.job_cpus = 4
    spawner.job_gres = "gres:gpu:1"
    spawner.job_end = "2026-12-03T17:00:00+01:00"
    state = spawner.get_state()
    assert state["job_partition"] == "gpu" and state["job_cpus"] == 4
    assert state["job_gres"] == "gres:gpu:1"
    assert parse_end(state["job_end"]) == parse_end("2026-12-03T17:00:00+01:00")
    assert state["job_output_of"] == "42"
    assert state["job_output"] == [
        "/home/moss01/.local/state/jupyterhub_moss/42.log",
        "/home/moss01/work/.jupyterhub_moss_42.log",
    ]

    again = spawner_for()
    again._follow = lambda *a, **k: None  # the shared watcher needs the hub's event loop
    again.load_state(state)
    assert again.get_state() == state


def test_clearing_the_state_keeps_the_last_jobs_output_only():
    spawner = spawner_for()
    spawner.load_state(
        {
            "job_output_of": "42",
            "job_output": ["/home/moss01/.local/state/jupyterhub_moss/42.log"],
        }
    )
    spawner.job_id = "43"
    spawner.job_partition = "cpu"
    spawner.job_end = "2026-12-03T17:00:00+01:00"
    state = spawner.get_state()
    assert state["job_output_of"] == "43"  # the new job's, once it runs
    spawner._watcher = lambda: SimpleNamespace(forget=lambda job_id, owner=None: None)
    spawner.clear_state()
    state = spawner.get_state()
    assert "job_id" not in state and "job_partition" not in state and "job_end" not in state
    assert state["job_output_of"] == "43"
    assert state["job_output"][0].endswith("/43.log")


@pytest.mark.parametrize(
    "stored",
    [
        {"job_partition": "cpu x", "job_cpus": "4", "job_end": "2026-12-03T17:00:00"},
        {"job_partition": "", "job_cpus": True, "job_end": "tomorrow", "job_gres": ["gpu"]},
        {"job_cpus": -1, "job_end": 5},
    ],
)
def test_malformed_details_in_a_stored_state_are_dropped(stored):
    # A naive end time cannot be placed in time: dropped too.
    assert details_from_state(stored) == {}


@pytest.mark.parametrize(
    "stored",
    [
        {"job_output_of": "42; rm", "job_output": ["/a"]},
        {"job_output_of": 42, "job_output": ["/a"]},
        {"job_output_of": "42", "job_output": "/a"},
    ],
)
def test_a_malformed_stored_output_is_dropped(stored):
    assert output_from_state(stored) == (None, [])


def test_relative_or_odd_stored_paths_are_dropped():
    stored = {"job_output_of": "42", "job_output": ["relative.log", "/ok.log", "/a\nb", 5]}
    assert output_from_state(stored) == ("42", ["/ok.log"])


def test_details_come_from_the_watchers_status_only_where_known():
    status = JobStatus(
        job_id="1",
        state="RUNNING",
        node="n",
        reason=None,
        start_time=None,
        comment="",
        end_time=local(2026, 12, 3, 17, 0, 0),
        partition="cpu",
        cpus=2,
    )
    details = details_from_status(status)
    assert details.keys() == {"job_partition", "job_cpus", "job_end"}
    assert parse_end(details["job_end"]) == local(2026, 12, 3, 17, 0, 0)
    assert details_from_status(None) == {}


def test_log_urls_escape_the_names():
    assert log_url("/hub/", "moss01") == "/hub/moss/log/moss01"
    assert log_url("/base/hub", "a b", "x/y") == "/base/hub/moss/log/a%20b/x%2Fy"
    assert log_url("/hub/", "u", "s", api=True) == "/hub/api/moss/log/u/s"


# -- where the output goes ----------------------------------------------------------------


def test_the_default_output_starts_hidden_in_the_workdir_and_moves_to_the_state_folder():
    plan = plan_output(STATE_OUTPUT, home="/home/u", username="u", workdir="/home/u/", keep=5)
    assert plan.sbatch_output == "/home/u/.jupyterhub_moss_%j.log"
    assert plan.folder == "/home/u/.local/state/jupyterhub_moss" and plan.keep == 5
    paths = output_paths(STATE_OUTPUT, "9", home="/home/u", username="u", workdir="/home/u")
    assert paths == ["/home/u/.local/state/jupyterhub_moss/9.log", "/home/u/.jupyterhub_moss_9.log"]
    assert MOSlurmSpawner().job_output == STATE_OUTPUT
    assert MOSlurmSpawner().job_output_keep == 5


@pytest.mark.parametrize(
    "pattern, paths",
    [
        ("jupyterhub_moss_%j.log", ["/w/jupyterhub_moss_9.log"]),
        (".jupyter/slurm-%j.log", ["/w/.jupyter/slurm-9.log"]),
        ("/scratch/{username}/%u-%j.out", ["/scratch/u/u-9.out"]),
        ("{home}/logs/%j.log", ["/home/u/logs/9.log"]),
        ("/scratch/%x-%j.out", []),  # the job name: Slurm tells (StdOut)
        ("/scratch/%N-%j.out", []),
    ],
)
def test_an_explicit_output_is_sbatchs_and_nothing_is_moved(pattern, paths):
    plan = plan_output(pattern, home="/home/u", username="u", workdir="/w", keep=5)
    assert plan.folder is None
    assert plan.sbatch_output == pattern.replace("{home}", "/home/u").replace("{username}", "u")
    assert output_paths(pattern, "9", home="/home/u", username="u", workdir="/w") == paths


def script_for(workdir: Path, home: Path, keep=5) -> str:
    plan = plan_output(STATE_OUTPUT, home=str(home), username="u", workdir=str(workdir), keep=keep)
    job = JobRequest(
        name="j",
        partition="cpu",
        cpus=1,
        time="1:00:00",
        output=plan.sbatch_output,
        workdir=str(workdir),
        output_dir=plan.folder,
        output_keep=plan.keep,
    )
    return render_batch_script(job, env={}, venv="/v", cmd=["x"], service_path="/")


def output_block(script: str) -> str:
    """The lines of the script that move the output (up to the first ``fi`` that
    closes them), followed by two writes."""
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("moss_output_dir="))
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi")
    return "\n".join(lines[start : end + 1]) + "\necho after-move\necho to-stderr >&2\n"


def run_block(block: str, job_id: str, stdout: Path) -> None:
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": job_id}
    with open(stdout, "ab") as out:
        out.write(b"before-move\n")
        out.flush()
        subprocess.run(["bash", "-c", block], stdout=out, stderr=out, env=env, check=True)


def test_the_job_moves_its_output_and_keeps_the_newest_five(tmp_path):
    home, workdir = tmp_path / "home", tmp_path / "work"
    workdir.mkdir()
    folder = home / ".local/state/jupyterhub_moss"
    block = output_block(script_for(workdir, home))
    subprocess.run(["bash", "-n"], input=block, text=True, check=True)

    # The folder does not exist yet: created, private.
    first = workdir / FALLBACK_OUTPUT.replace("%j", "100")
    run_block(block, "100", first)
    assert not first.exists()
    assert (folder / "100.log").read_text() == "before-move\nafter-move\nto-stderr\n"
    assert folder.stat().st_mode & 0o777 == 0o700

    # Older outputs, and files that are not outputs.
    now = datetime.now().timestamp()
    for n in range(1, 8):
        old = folder / f"{n}.log"
        old.write_text("old\n")
        os.utime(old, (now - 1000 + n, now - 1000 + n))
    (folder / "notes.txt").write_text("mine\n")
    (folder / "1x.log").write_text("mine\n")
    (folder / "100.log").touch()
    os.utime(folder / "100.log", (now - 5000, now - 5000))  # this job's own: always kept

    first = workdir / FALLBACK_OUTPUT.replace("%j", "101")
    run_block(block, "101", first)
    kept = sorted(p.name for p in folder.iterdir())
    assert kept == sorted(["101.log", "7.log", "6.log", "5.log", "4.log", "notes.txt", "1x.log"])
    assert (folder / "101.log").read_text().startswith("before-move\n")


def test_the_output_stays_where_slurm_put_it_if_it_cannot_be_moved(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    home = tmp_path / "home"
    home.write_text("a file where the home folder should be\n")
    block = output_block(script_for(workdir, home))
    first = workdir / FALLBACK_OUTPUT.replace("%j", "102")
    run_block(block, "102", first)
    assert first.read_text() == "before-move\nafter-move\nto-stderr\n"


def test_a_file_that_is_not_the_jobs_output_is_not_moved(tmp_path):
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    block = output_block(script_for(workdir, home))
    decoy = workdir / FALLBACK_OUTPUT.replace("%j", "103")
    decoy.write_text("someone else's\n")
    run_block(block, "103", tmp_path / "real-output")
    assert decoy.read_text() == "someone else's\n"
    assert not (home / ".local/state/jupyterhub_moss/103.log").exists()


def test_the_first_output_is_opened_for_appending(tmp_path):
    # Slurm's own messages (JOB CANCELLED...) then land at the end, whatever the
    # job's reopened output wrote meanwhile.
    lines = script_for(tmp_path / "w", tmp_path / "h").splitlines()
    output = lines.index(f"#SBATCH --output={tmp_path}/w/.jupyterhub_moss_%j.log")
    assert lines[output + 1] == "#SBATCH --open-mode=append"


def test_keep_zero_deletes_nothing(tmp_path):
    script = script_for(tmp_path / "w", tmp_path / "h", keep=0)
    assert "moss_output_dir=" in script and "rm -f" not in script


def test_an_explicit_output_renders_no_move():
    job = JobRequest(
        name="j", partition="cpu", cpus=1, time="1:00:00", output="o-%j.log", workdir="/w"
    )
    script = render_batch_script(job, env={}, venv="/v", cmd=["x"], service_path="/")
    assert "moss_output_dir" not in script and "--open-mode" not in script


def test_end_in_state_is_iso_with_offset():
    end = local(2026, 12, 3, 17, 0, 0) + timedelta(seconds=0.4)
    status = JobStatus("1", "RUNNING", "n", None, None, "", end_time=end)
    text = details_from_status(status)["job_end"]
    assert text.startswith("2026-12-03T17:00:00") and text[19] in "+-Z"


async def test_detailed_looks_come_together_so_each_poll_stays_one_process(tmp_path, slurm_2411):
    """Jobs that settled at different times get their periodic detailed look in the
    same poll: a poll never runs squeue --only-job-state and scontrol both."""
    (tmp_path / "jobs").write_text(
        "7|RUNNING|node1|2026-12-03T17:00:00|cpu|4||moss:port=4000\n"
        "8|RUNNING|node2|2026-12-03T18:00:00|cpu|2||moss:port=4001\n"
    )
    watcher = JobWatcher(
        squeue=slurm_2411,
        scontrol=str(tmp_path / "scontrol"),
        interval=60,
        fast_interval=0.05,
        timeout=5,
    )
    watcher.watch("7", owner="moss01")
    for _ in range(4):  # job 7 settles, and is asked for its state alone a few times
        assert await watcher.refresh()
    watcher.watch("8", owner="moss01")
    assert await watcher.refresh()  # 8's first look is a detailed one, next to 7's state

    def processes() -> int:
        squeue = [a for a in argvs(tmp_path, "squeue") if "--version" not in a]
        return len(squeue) + len(argvs(tmp_path, "scontrol"))

    counts = []
    for _ in range(3 * DETAILS_EVERY):
        before = processes()
        assert await watcher.refresh()
        counts.append(processes() - before)
    assert counts == [1] * len(counts), counts
    # Both were still looked at in detail now and then.
    assert len(argvs(tmp_path, "scontrol")) >= 3
    watcher.stop()
