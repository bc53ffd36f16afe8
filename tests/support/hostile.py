"""Hypothesis strategies of hostile user options, and the checks every entry point must pass.

A case passes when the options are refused naming one of the fields that were
sent, or when the batch script has exactly the expected #SBATCH lines, each one
word with the value the options ask for, exports exactly the expected values (as
bash reads them), and is otherwise the baseline's line for line.

``valid_option_sets`` is the other side: options within the partitions' limits,
hostile text where a value may hold any, that must be accepted with the values
given.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from functools import lru_cache

from hypothesis import strategies as st

from jupyterhub_moss.choices.options import OPTION_NAMES
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
    "account": st.sampled_from(["", "proj1", "moss", "-A", "a b", "x" * 70]),
    "qos": st.sampled_from(["", "normal", "short", "--qos=x", "q;q"]),
    "gpu_type": st.sampled_from(["", "any", "V100-SXM2-32GB", "h100", "{type}"]),
    "default_url": st.sampled_from(["", "/lab", "/tree", "/lab/tree/x.ipynb", "https://x", "lab"]),
    "root_dir": st.sampled_from(["", "~/", "/tmp", "~/project one", "relative", "~root"]),
    "environment_id": st.sampled_from(["", "default", "py312"]),
    "environment_path": st.sampled_from(
        [
            "",
            "/opt/envs/ml/bin",
            "/images/lab.sif",
            "relative/bin",
            "/a b/bin",
            "/x/../etc",
            "/x//bin",
            "/$(touch pwned)/bin",
            "~/env/bin",
        ]
    ),  # fmt: skip
    "environment_modules": st.sampled_from(
        ["", "python/3.12", "python/3.12 cuda/12", "a;b", "x`y`", "../up", "-f", "$(id)"]
    ),
    "mem": st.sampled_from(["", "4G", "500M", "4 G", "lots"]),
    "output": st.sampled_from(["", "true", "false", "/etc/passwd", "yes"]),
    "options": st.sampled_from(["", "--constraint=ib", "--qos=high", "--uid=0", "--qos=ignored"]),
}

hostile_text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)


@st.composite
def hostile_option_sets(draw, json_values: bool = True):
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


#: The limits of the seed's partitions, as both test_partitions.SEED (with its recorded
#: sinfo) and hubtools.PARTITIONS (on the local cluster) have them:
#: (max_nprocs, max_ngpus, max_runtime in seconds, GPU template).
LIMITS = {
    "cpu": (28, 0, 12 * 3600, None),
    "gpu": (128, 2, 3600, "gpu:V100-SXM2-32GB:{}"),
    "long": (28, 0, 12 * 3600, None),
}
#: Memory every partition's nodes have, in MB (the smallest node has 64000M).
MEMORY_MB = 64000
#: The free-form options both the unit and the hub tests allow.
ALLOWED = {"--constraint": r"[a-z0-9]+", "--qos": r"normal|high"}

# Text that means something to a shell, in a path that is otherwise fine.
SHELL_PIECES = [
    "$(touch pwned)",
    "`touch pwned`",
    "'",
    '"',
    "\\",
    "$HOME",
    "${IFS}",
    "$'\\x41'",
    "*",
    "?",
    "[a]",
    "~",
    " ",
    "; touch pwned;",
    "&& touch pwned",
    "| cat",
    "> pwned",
    "#",
    "!",
    "{a,b}",
    "%j",
    "é",
    "日本",
    "\u00a0",
    "\U0001f600",
]
# Anything printable: no control characters, line breaks or surrogates.
_PRINTABLE = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\u0085\u2028\u2029"
)


@st.composite
def hostile_root_dirs(draw) -> str:
    """An absolute or home-relative folder holding text a shell would act on."""
    prefix = draw(st.sampled_from(["/", "~/", "/tmp/", "~/my project/"]))
    pieces = draw(
        st.lists(
            st.one_of(st.sampled_from(SHELL_PIECES), st.text(_PRINTABLE, max_size=12)),
            min_size=1,
            max_size=6,
        )
    )
    return prefix + "".join(pieces)


def _runtime_text(draw, seconds: int) -> str:
    """``seconds`` in one of Slurm's forms that can express it."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    forms = [f"{seconds // 60}:{secs:02d}", f"{seconds // 3600}:{minutes:02d}:{secs:02d}"]
    forms.append(f"{days}-{hours}:{minutes}:{secs}")
    if secs == 0:
        forms += [str(seconds // 60), f"{days}-{hours}:{minutes:02d}"]
        if minutes == 0:
            forms.append(f"{days}-{hours}")
    return draw(st.sampled_from(forms))


def _memory_text(draw, megabytes: int) -> str:
    """``megabytes`` as a user may write it."""
    forms = [str(megabytes), f"{megabytes}M", f"{megabytes}m", f"{megabytes}MB"]
    forms.append(f"{megabytes * 1024}K")
    if megabytes % 1024 == 0:
        forms += [f"{megabytes // 1024}G", f"{megabytes // 1024}g", f"{megabytes // 1024}GB"]
    return draw(st.sampled_from(forms))


@st.composite
def valid_option_sets(draw, json_values: bool = True, gpus: bool | None = None):
    """``(sent, expected)``: options within the partitions' limits, which must be
    accepted, and the validated values they must give (the fields of
    :class:`~jupyterhub_moss.choices.options.UserOptions`).

    ``gpus=True`` asks for GPUs always, ``False`` never, ``None`` sometimes.
    """
    if gpus:
        partition = "gpu"
    else:
        partition = draw(st.sampled_from(sorted(LIMITS)))
    max_nprocs, max_ngpus, max_runtime, _ = LIMITS[partition]
    sent: dict = {}
    expected = {
        "partition": partition,
        "nprocs": 1,
        "ngpus": 0,
        "runtime": min(3600, max_runtime),
        "runtime_chosen": False,
        "memory_mb": None,
        "reservation": None,
        "default_url": None,
        "root_dir": None,
        "sbatch_options": (),
        "environment_id": None,
        "environment_path": None,
        "environment_modules": None,
        "account": None,
        "qos": None,
        "gpu_type": None,
    }

    def number(value: int):
        return value if json_values and draw(st.booleans()) else str(value)

    def padded(text: str) -> str:
        # Surrounding blanks are dropped by the validation.
        return draw(st.sampled_from(["", " ", "  "])) + text + draw(st.sampled_from(["", " "]))

    if partition != "cpu" or draw(st.booleans()):  # cpu is the default
        sent["partition"] = partition
    if draw(st.booleans()):
        expected["nprocs"] = draw(st.integers(1, max_nprocs))
        sent["nprocs"] = number(expected["nprocs"])
    if max_ngpus and (gpus or (gpus is None and draw(st.booleans()))):
        expected["ngpus"] = draw(st.integers(1, max_ngpus))
        sent["ngpus"] = number(expected["ngpus"])
    elif gpus is None and draw(st.integers(0, 5)) == 0:
        sent["ngpus"] = number(0)
    if draw(st.booleans()):
        seconds = draw(
            st.one_of(
                st.integers(1, max_runtime // 60).map(lambda m: m * 60),
                st.integers(60, max_runtime),
            )
        )
        expected["runtime"] = seconds
        expected["runtime_chosen"] = True
        if json_values and seconds % 60 == 0 and draw(st.booleans()):
            sent["runtime"] = seconds // 60  # a bare number is minutes
        else:
            sent["runtime"] = padded(_runtime_text(draw, seconds))
    if draw(st.booleans()):
        megabytes = draw(
            st.one_of(
                st.integers(1, MEMORY_MB),
                st.integers(1, MEMORY_MB // 1024).map(lambda g: g * 1024),
            )
        )
        expected["memory_mb"] = megabytes
        sent["memory"] = padded(_memory_text(draw, megabytes))
    # No reservation: one must exist and be open to the user (test_reservations.py).
    if draw(st.booleans()):
        url = draw(
            st.from_regex(
                r"/[A-Za-z0-9_.@:+-]{0,12}(/[A-Za-z0-9_.@:+-]{1,12}){0,3}", fullmatch=True
            )
        )
        if ".." not in url and "//" not in url:
            expected["default_url"] = url
            sent["default_url"] = url
    if draw(st.integers(0, 3)) > 0:
        root_dir = draw(
            st.one_of(hostile_root_dirs(), st.sampled_from(["/", "~", "~/", "/tmp", "~/a b"]))
        )
        expected["root_dir"] = root_dir.strip()
        sent["root_dir"] = root_dir
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(sorted(ALLOWED)), unique=True, min_size=1))
        words = []
        for name in names:
            if name == "--qos":
                value = draw(st.sampled_from(["normal", "high"]))
            else:
                value = draw(st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True))
            words.append(f"{name}={value}")
        expected["sbatch_options"] = tuple(words)
        sent["options"] = " ".join(words)
    choice = draw(st.integers(0, 7))
    if choice == 0:
        sent["environment_id"] = ""
    elif choice == 1:
        sent["environment_id"] = expected["environment_id"] = "default"
    elif choice == 2:
        # The user's own environment (the tests' hubs allow it): a folder or an image.
        path = draw(
            st.one_of(
                st.from_regex(r"/[A-Za-z0-9_.+@-]{1,12}(/[A-Za-z0-9_+@-]{1,12}){0,3}/bin",
                              fullmatch=True),
                st.from_regex(r"/[A-Za-z0-9_+@-]{1,12}/[A-Za-z0-9_+@-]{1,12}\.sif", fullmatch=True),
            )
        )  # fmt: skip
        if "/../" not in path + "/" and "//" not in path:
            sent["environment_path"] = expected["environment_path"] = path
    elif choice == 3:
        names = draw(
            st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}(/[0-9][0-9.]{0,6})?", fullmatch=True),
                     min_size=1, max_size=3)
        )  # fmt: skip
        names = [n for n in names if ".." not in n] or ["python"]
        sent["environment_modules"] = " ".join(names)
        expected["environment_modules"] = " ".join(names)
    return sent, expected


@st.composite
def option_sets(draw, json_values: bool = True):
    """A dict of user options: plausible values, some hostile, some unknown keys; a
    quarter of them start from a valid set (hostile folders, GPUs) and change one value."""
    if draw(st.integers(0, 3)) > 0:
        return draw(hostile_option_sets(json_values))
    options, _ = draw(valid_option_sets(json_values))
    if options and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(options)))
        options[key] = draw(hostile_text) if draw(st.booleans()) else draw(VALID_LOOKING[key])
        if not json_values:
            options[key] = str(options[key])
    return options


def refusal_field(message: str) -> str | None:
    """The field a refusal names ("nprocs: ..." -> "nprocs")."""
    match = re.match(r"^(?:Error: )?([^:\n]{1,60}): ", message)
    return match.group(1) if match else None


SAFE_WORD = re.compile(r"[A-Za-z0-9_.:,=/+@%~-]+")
#: Values that differ from one spawn to the next: compared by form only.
TOKENS = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
_BASH = shutil.which("bash") or "/bin/bash"
_MEMORY = re.compile(r"^([0-9]+)([KMGTkmgt]?)[Bb]?\Z")
_MB = {"K": None, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def source_exports(script: str) -> dict[str, str]:
    """The variables the script's ``export`` lines set, as bash reads them.

    The block from the first ``export`` line to the next empty line is run by bash with
    an empty environment (so no program can be found), in an empty folder that must
    stay empty; only bash's own builtins print what it exported.
    """
    lines = script.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("export "))
    end = lines.index("", start)
    block = "\n".join(lines[start:end])
    show = 'for moss_n in $(compgen -e); do printf "%s=%s\\0" "$moss_n" "${!moss_n}"; done'
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            ["env", "-i", "PATH=/nonexistent", _BASH, "--noprofile", "--norc", "-c"]
            + [f"{block}\n{show}"],
            cwd=folder,
            capture_output=True,
            timeout=30,
            check=False,
        )
        left = os.listdir(folder)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-2000:]
    assert not result.stderr, result.stderr.decode("utf-8", "replace")[-2000:]
    assert left == [], f"the export lines wrote {left}"
    env = dict(item.split("=", 1) for item in result.stdout.decode("utf-8").split("\0") if item)
    for name in ("PATH", "PWD", "OLDPWD", "SHLVL", "_"):
        env.pop(name, None)
    return env


@lru_cache(maxsize=16)
def _baseline_exports(baseline: str) -> dict[str, str]:
    return source_exports(baseline)


def _given(sent: dict, key: str) -> str | None:
    """The value sent for ``key`` as the validation reads it: without surrounding
    blanks, None when empty."""
    value = sent.get(key)
    if value is None:
        return None
    return str(value).strip() or None


def expected_memory(text: str) -> str:
    """What ``--mem`` must be for a memory the options gave (a bare number is MB)."""
    match = _MEMORY.match(text)
    assert match, text
    number, unit = int(match.group(1)), match.group(2).upper()
    megabytes = number // 1024 if unit == "K" else number * _MB[unit]
    return f"{megabytes}M"


def check_script(script: str, sent: dict, baseline: str) -> None:
    """The script for ``sent`` options: exactly the expected #SBATCH lines, each one
    word with the value ``sent`` asks for, the expected exported values, and everything
    else as in ``baseline``."""
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
    partition = _given(sent, "partition") or "cpu"
    ngpus = int(_given(sent, "ngpus") or 0)
    memory = _given(sent, "memory") or _given(sent, "mem")
    reservation = _given(sent, "reservation")
    if ngpus > 0:
        expected.append("--gres")
    if memory:
        expected.append("--mem")
    if reservation:
        expected.append("--reservation")
    expected += ["--chdir", "--output"]
    if "--open-mode" in names:
        # The default output plan appends to the file the job moves (slurm/batch_script.py).
        assert values["--open-mode"] == "append", values
        expected.append("--open-mode")
    expected.append("--no-requeue")
    options = (_given(sent, "options") or "").split()
    expected += [w.split("=", 1)[0] for w in options]
    # The account and QOS come last: sbatch keeps the last value given.
    account, qos = _given(sent, "account"), _given(sent, "qos")
    if account:
        expected.append("--account")
    if qos:
        expected.append("--qos")
    if "--comment" in names:
        # The hub marks each job until its server reports its port.
        assert names[names.index("--comment") - 1] == "--no-requeue", names
        assert re.fullmatch(r"moss:submit=[0-9a-f]{16}", values["--comment"]), values
        names.remove("--comment")
    assert names == expected, (names, expected, sent)

    assert values["--partition"] == partition
    nprocs = _given(sent, "nprocs")
    assert int(values["--cpus-per-task"]) == (int(nprocs) if nprocs else 1), values
    runtime = _given(sent, "runtime")
    if runtime:
        assert parse_duration(values["--time"]) == parse_duration(runtime), values
    if ngpus > 0:
        assert values["--gres"] == LIMITS[partition][3].replace("{}", str(ngpus)), values
    if memory:
        assert values["--mem"] == expected_memory(memory), values
    if reservation:
        assert values["--reservation"] == reservation, values
    if account:
        assert directives[-2 if qos else -1] == f"#SBATCH --account={account}", directives
    if qos:
        assert directives[-1] == f"#SBATCH --qos={qos}", directives
    for word in options:
        assert f"#SBATCH {word}" in directives, (word, directives)

    # The environment: the baseline's, with the folder and the page the user chose.
    env = source_exports(script)
    wanted = dict(_baseline_exports(baseline))
    for key, name in (
        ("root_dir", "JUPYTERHUB_ROOT_DIR"),
        ("default_url", "JUPYTERHUB_DEFAULT_URL"),
    ):
        if _given(sent, key):
            wanted[name] = _given(sent, key)
    for name in TOKENS:
        if name in wanted:
            assert re.fullmatch(r"[A-Za-z0-9]+", env.get(name, "")), (name, env.get(name))
            wanted[name] = env[name]
    assert env == wanted, (env, wanted, sent)

    # Outside the directives and the export lines, the script is the baseline's.
    # The job keeps its submission mark, a new random token each time, in a variable.
    def skeleton(text):
        return [
            re.sub(r"moss:submit=[0-9a-f]{16}", "moss:submit=TOKEN", line)
            for line in text.split("\n")
            if not line.startswith("#SBATCH ") and not line.startswith("export ")
        ]

    assert skeleton(script) == skeleton(_with_environment(baseline, sent, lines))


def _with_environment(baseline: str, sent: dict, lines: list[str]) -> str:
    """The baseline as it must read for the user's own environment, if ``sent`` gives
    one: its folder or image, its modules, and its folder first on the PATH."""
    path = _given(sent, "environment_path") or ""
    modules = (_given(sent, "environment_modules") or "").split()
    if not (path or modules):
        return baseline
    image = path if path.endswith(".sif") else ""
    folder = "" if image else path
    quote = shlex.quote
    if folder:
        assert f'export PATH={quote(folder.rstrip("/"))}:"$PATH"' in lines, lines
    out = []
    for line in baseline.split("\n"):
        if line.startswith("moss_venv="):
            line = f"moss_venv={quote(folder.rstrip('/'))}"
        elif line.startswith("moss_modules="):
            line = f"moss_modules=({' '.join(quote(m) for m in modules)})"
        elif line.startswith("moss_cmd=("):
            words = shlex.split(line[len("moss_cmd=(") : -1])
            command = os.path.basename(words[0])
            if folder:
                command = f"{folder.rstrip('/')}/{command}"
            runner = ["singularity", "exec", image] if image else []
            line = f"moss_cmd=({' '.join(quote(w) for w in runner + [command] + words[1:])})"
        out.append(line)
    return "\n".join(out)
