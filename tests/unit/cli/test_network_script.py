"""The network check's job script and its comment, without Slurm."""

import subprocess

from jupyterhub_moss.cli.network import network_script, parse_network_comment


def test_the_check_job_script_is_valid_bash_and_carries_its_arguments_as_words():
    script = network_script(
        "cpu", "https://hub.ib:8081/hub/api", (41000, 41999), ["--account=ops"], ca="C'A"
    )
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert "#SBATCH --partition=cpu\n" in script and "#SBATCH --account=ops\n" in script
    # What python would get as sys.argv[1:], read back by bash itself.
    command = script[script.index("exec python3 -I -S -c") :]
    command = command.replace("exec python3 -I -S -c", "printf '%s\\n'", 1)
    words = subprocess.run(["bash", "-c", command], capture_output=True, text=True).stdout
    assert words.splitlines()[-4:] == ["https://hub.ib:8081/hub/api", "41000", "41999", "C'A"]


def test_the_comment_is_read_only_once_the_job_has_written_it():
    assert parse_network_comment("moss-submit:abc") is None
    assert parse_network_comment("moss-net:port=41234;hub=ok") == {"port": "41234", "hub": "ok"}
    said = parse_network_comment("moss-net:port=0;hub=URLError  urlopen error timed out")
    assert said["port"] == "0" and said["hub"].startswith("URLError")
