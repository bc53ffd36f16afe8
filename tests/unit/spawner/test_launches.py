"""spawner/lifecycle.py: each server's last launches, newest first and distinct,
kept in its state and through a stop (the spawn page's "Start again")."""

from jupyterhub_moss.spawner.lifecycle import MOSlurmSpawner as Server


def options(partition="cpu", nprocs=1):
    return {"partition": partition, "nprocs": nprocs, "ngpus": 0, "runtime": "1:00:00"}


def test_launches_are_kept_newest_first_and_each_only_once():
    server = Server()
    server.record_launch(options("cpu"))
    server.record_launch(options("gpu"))
    server.record_launch(options("cpu"))  # again: moves to the front
    assert [e["options"]["partition"] for e in server.moss_launches] == ["cpu", "gpu"]


def test_start_again_presets_bounds_the_launches_kept():
    server = Server(start_again_presets=2)
    for n in range(1, 5):
        server.record_launch(options(nprocs=n))
    assert [e["options"]["nprocs"] for e in server.moss_launches] == [4, 3]


def test_the_launches_go_into_the_state_and_come_back_from_it():
    server = Server()
    server.record_launch(options("gpu"))
    state = server.get_state()
    again = Server()
    again.load_state(state)
    assert again.moss_launches == server.moss_launches


def test_malformed_launches_read_back_from_the_database_are_dropped():
    server = Server()
    good = {"options": options(), "time": 1.0}
    server.load_state({"moss_launches": [good, "not a launch", {"options": 3, "time": "x"}]})
    assert [e["options"] for e in server.moss_launches] == [options()]


def test_a_stop_clears_the_state_but_keeps_the_launches():
    server = Server()
    server.record_launch(options())
    kept = list(server.moss_launches)
    server.clear_state()
    assert server.moss_launches == kept


def test_no_launch_leaves_no_key_in_the_state():
    assert "moss_launches" not in Server().get_state()
