"""Hypothesis strategies of hostile user options, and the checks every entry point must pass.

A case passes when the options are refused naming one of the fields that were
sent, or when the batch script has exactly the expected #SBATCH lines, each one
word, and the rest of the script is the baseline's line for line.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

from jupyterhub_moss.options import OPTION_NAMES
from jupyterhub_moss.slurm.timefmt import parse_duration

NASTY_TEXT = [
    "\n#SBATCH --uid=0",
    "cpu\n",
    "cpu --uid=0",
    "$(id)",
    "`id`",
    "'; touch /tmp/pwned; '",
    '" && id && "',
    "</script><script>alert(1)</script>",
    "\x00",
    "\r\n",
    "\u2028",
    "/\udc80",  # a lone surrogate, as JSON's "\udc80" decodes to: not UTF-8
    "~/\ud83d",
    "１０",
    "１:00:00",
    "-1",
    "1e3",
    "0x10",
    "4 ",
    "+4",
    " 4",
    "9" * 40,
    "%j%n",
    "../../etc/passwd",
    "~root/.ssh",
    "/lab?token=x",
    "//evil.example/",
    "gpu:V100:1",
    "--uid=0",
    "--constraint=ib",
    "--qos=high --export=ALL",
    "UNLIMITED",
    "1-25",
    "12:00:01",
]

PARTITIONS = ["cpu", "gpu", "long"]
VALID_LOOKING = {
    "partition": st.sampled_from(PARTITIONS + ["debug", "ghost", "CPU", ""]),
    "nprocs": st.one_of(st.integers(-5, 200), st.integers(-5, 200).map(str)),
    "ngpus": st.one_of(st.integers(-2, 5), st.integers(-2, 5).map(str)),
    "runtime": st.one_of(
        st.integers(-5, 2000),
        st.sampled_from(
            ["30", "1:00:00", "0:30:00", "12:00:00", "13:00:00", "1-0", "0-6:30", "45:00"]
        ),
    ),
    "memory": st.sampled_from(["", "4G", "500M", "64000", "1T", "300G", "0G", "4g", "4GB"]),
    "reservation": st.sampled_from(["", "maint", "no-such-reservation", "a b"]),
    "default_url": st.sampled_from(["", "/lab", "/tree", "/lab/tree/x.ipynb", "https://x", "lab"]),
    "root_dir": st.sampled_from(["", "~/", "/tmp", "~/project one", "relative", "~root"]),
    "environment_id": st.sampled_from(["", "default", "py312"]),
    "options": st.sampled_from(["", "--constraint=ib", "--qos=high", "--uid=0", "--qos=ignored"]),
}

hostile_text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)


@st.composite
def option_sets(draw, json_values: bool = True):
    """A dict of user options: mostly plausible values, some hostile, some unknown keys."""
    keys = draw(st.lists(st.sampled_from(OPTION_NAMES), unique=True, max_size=len(OPTION_NAMES)))
    options = {}
    for key in keys:
        if draw(st.integers(0, 3)) == 0:
            value = draw(hostile_text)
        else:
            value = draw(VALID_LOOKING[key])
        if json_values and draw(st.integers(0, 15)) == 0:
            value = draw(st.sampled_from([None, True, [1], {"a": 1}, 1.5]))
        if not json_values:
            value = str(value)
        options[key] = value
    if draw(st.integers(0, 9)) == 0:
        options[draw(st.sampled_from(["output", "exec_prefix", "cmd", "__class__", "x\ny"]))] = "1"
    return options


def refusal_field(message: str) -> str | None:
    """The field a refusal names ("nprocs: ..." -> "nprocs")."""
    match = re.match(r"^(?:Error: )?([^:\n]{1,60}): ", message)
    return match.group(1) if match else None


SAFE_WORD = re.compile(r"[A-Za-z0-9_.:,=/+@%~-]+")


def check_script(script: str, sent: dict, baseline: str) -> None:
    """The script for ``sent`` options: exactly the expected #SBATCH lines, each one
    word, and everything else as in ``baseline``."""
    script.encode("utf-8")  # sbatch gets it as bytes
    lines = script.split("\n")
    directives = [line for line in lines if line.startswith("#SBATCH ")]
    names = []
    for line in directives:
        word = line[len("#SBATCH ") :]
        assert SAFE_WORD.fullmatch(word), line
        names.append(word.split("=", 1)[0])
    expected = ["--job-name", "--partition", "--nodes", "--ntasks", "--cpus-per-task", "--time"]
    values = dict(line[len("#SBATCH ") :].split("=", 1) for line in directives if "=" in line)
    if int(values.get("--cpus-per-task", 0)) < 1:
        raise AssertionError(directives)
    ngpus = sent.get("ngpus")
    if ngpus not in (None, "") and int(str(ngpus).strip()) > 0:
        expected.append("--gres")
    if sent.get("memory") not in (None, ""):
        expected.append("--mem")
    if sent.get("reservation") not in (None, ""):
        expected.append("--reservation")
    expected += ["--chdir", "--output", "--no-requeue"]
    if sent.get("options") not in (None, ""):
        expected += [w.split("=", 1)[0] for w in str(sent["options"]).split()]
    if "--comment" in names:
        # The hub marks each job until its server reports its port.
        assert names[names.index("--comment") - 1] == "--no-requeue", names
        assert re.fullmatch(r"moss:submit=[0-9a-f]{16}", values["--comment"]), values
        names.remove("--comment")
    assert names == expected, (names, expected, sent)

    partition = sent.get("partition") or "cpu"
    assert values["--partition"] == str(partition)
    nprocs = sent.get("nprocs")
    assert int(values["--cpus-per-task"]) == (1 if nprocs in (None, "") else int(str(nprocs)))
    runtime = sent.get("runtime")
    if runtime not in (None, ""):
        assert parse_duration(values["--time"]) == parse_duration(str(runtime))

    # Outside the directives and the exported values, the script is the baseline's.
    def skeleton(text):
        return [
            line
            for line in text.split("\n")
            if not line.startswith("#SBATCH ")
            and not line.startswith("export JUPYTERHUB_DEFAULT_URL=")
            and not line.startswith("export JUPYTERHUB_ROOT_DIR=")
            and not line.startswith("export JUPYTERHUB_API_TOKEN=")
            and not line.startswith("export JPY_API_TOKEN=")
            and not line.startswith("export JUPYTERHUB_CLIENT_ID=")
        ]

    assert skeleton(script) == skeleton(baseline)
