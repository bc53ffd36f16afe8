"""Stand-ins for squeue and scontrol that answer from a file and log their calls."""

import stat


def fake_command(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(f'#!/bin/bash\necho "run $*" >> {tmp_path}/{name}.calls\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def polls(tmp_path):
    """Polls made so far: one scontrol run each."""
    return calls(tmp_path, "scontrol")


def argvs(tmp_path, name) -> list[str]:
    f = tmp_path / f"{name}.calls"
    return f.read_text().splitlines() if f.exists() else []


def calls(tmp_path, name):
    f = tmp_path / f"{name}.calls"
    return len(f.read_text().splitlines()) if f.exists() else 0


# Fake Slurm commands answering from a file of "id|state|node|reason|start|comment"
# lines (a 7th field names the owner; moss01 if left out). "mode" makes them fail.
FAKE_MODES = r"""
mode=$(cat "$(dirname "$0")/mode")
case "$mode" in
down) echo "error: Unable to contact slurm controller (connect failure)" >&2; exit 1 ;;
slow) sleep 5 ;;
esac
jobs="$(dirname "$0")/jobs"
"""


# scontrol --local --oneliner, reading "show job ID" / "show hostnames MARKER" lines.
SCONTROL = (
    FAKE_MODES
    + r"""
while read -r verb what arg; do
    echo "scontrol: $verb $what $arg"
    if [ "$what" = hostnames ]; then echo "$arg"; continue; fi
    found=
    [ "$mode" = unknown ] || found=$(grep "^$arg|" "$jobs")
    if [ -z "$found" ]; then
        echo "slurm_load_jobs error: Invalid job id specified" >&2; continue
    fi
    IFS='|' read -r id state node reason start comment user <<<"$found"
    printf 'JobId=%s JobName=jupyter UserId=%s(1002) GroupId=g(1) JobState=%s Reason=%s ' \
        "$id" "${user:-moss01}" "$state" "$reason"
    printf 'StartTime=%s NodeList=%s BatchHost=%s Comment=%s StdOut=/tmp/x\n' \
        "$start" "$node" "$node" "$comment"
done
"""
)


# squeue: --version, --only-job-state, or one job's details with a record marker.
SQUEUE = (
    FAKE_MODES
    + r"""
if [ "$1" = --version ]; then cat "$(dirname "$0")/version"; exit 0; fi
if [ "$1" = --only-job-state ]; then
    ids=",${@: -3:1},"
    while IFS='|' read -r id state rest; do
        case "$ids" in *",$id,"*) echo "$id|$state" ;; esac
    done < "$jobs"
    exit 0
fi
fmt=${@: -1}
marker=${fmt%%%*}
ids=",${@: -3:1},"
printed=0
while IFS='|' read -r id state node reason start comment user; do
    case "$ids" in *",$id,"*) ;; *) continue ;; esac
    [ "$mode" = unknown ] && continue
    printf '%s%s|%s|%s|%s|%s|%s|N/A|cpu|1|N/A|%s\n' "$marker" "$id" "$state" "$node" \
        "$reason" "$start" "${user:-moss01}" "$comment"
    printed=1
done < "$jobs"
if [ "$printed" = 0 ] && [ "${ids//[^,]/}" = ",," ]; then
    echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1
fi
"""
)
