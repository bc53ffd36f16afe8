"""Reservations: scontrol's lines parsed, who may use which on which partition, the
labels of the choices and the refusal of one that is not open to the user."""

from datetime import datetime, timedelta, timezone

import pytest

from jupyterhub_moss.choices.facts import check_reservation
from jupyterhub_moss.errors import OptionError
from jupyterhub_moss.slurm.clusterinfo import expand_hostlist
from jupyterhub_moss.slurm.reservations import (
    Reservation,
    describe_reservation,
    parse_reservations,
    reservations_argv,
    usable_reservations,
)

# As `scontrol --oneliner show reservation` prints them (Slurm 22.05).
R1 = (
    "ReservationName=r1 StartTime=2026-12-03T10:00:00 EndTime=2026-12-03T10:10:00 "
    "Duration=00:10:00 Nodes=node4 NodeCnt=1 CoreCnt=64 Features=(null) PartitionName=(null) "
    "Flags=IGNORE_JOBS,SPEC_NODES TRES=cpu=64 Users=moss07 Groups=(null) Accounts=(null) "
    "Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)"
)
R2 = (
    "ReservationName=r2 StartTime=2026-12-03T14:00:00 EndTime=2026-12-03T16:00:00 "
    "Duration=02:00:00 Nodes=node[1-2,4] NodeCnt=3 CoreCnt=120 Features=(null) "
    "PartitionName=cpu Flags=PURGE_COMP=00:05:00 TRES=cpu=120 Users=-moss03,-moss04 "
    "Groups=(null) Accounts=(null) Licenses=(null) State=INACTIVE BurstBuffer=(null) "
    "Watts=n/a MaxStartDelay=(null)"
)
NOW = datetime(2026, 12, 3, 10, 5)  # local time, as Slurm prints it


def res(**kwargs) -> Reservation:
    """A reservation active from 10:00 to 11:00 on node4, for moss07."""
    values = {
        "name": "r",
        "start": datetime(2026, 12, 3, 10, 0).astimezone(),
        "end": datetime(2026, 12, 3, 11, 0).astimezone(),
        "nodes": ("node4",),
        "node_list": "node4",
        "users": ("moss07",),
        "state": "ACTIVE",
    }
    values.update(kwargs)
    return Reservation(**values)


def usable(reservations, user="moss07", groups=(), accounts=None, partition="long", nodes=None):
    if nodes is None:
        nodes = {"node3", "node4"}
    found = usable_reservations(reservations, user, groups, accounts, partition, nodes, NOW)
    return [r.name for r in found]


# -- parsing ---------------------------------------------------------------------------


def test_argv_asks_for_one_line_per_reservation():
    assert reservations_argv() == ["scontrol", "--oneliner", "show", "reservation"]
    assert reservations_argv("/opt/slurm/bin/scontrol")[0] == "/opt/slurm/bin/scontrol"


def test_no_reservations_in_the_system_gives_none():
    assert parse_reservations("No reservations in the system\n") == ()
    assert parse_reservations("") == ()


def test_a_line_is_parsed_into_its_fields():
    (r1,) = parse_reservations(R1 + "\n")
    assert r1.name == "r1"
    assert r1.start == datetime(2026, 12, 3, 10, 0).astimezone()
    assert r1.end == datetime(2026, 12, 3, 10, 10).astimezone()
    assert r1.start.tzinfo is not None  # local time, made aware
    assert r1.nodes == ("node4",)
    assert r1.partition is None
    assert r1.users == ("moss07",)
    assert (r1.groups, r1.accounts) == ((), ())
    assert r1.flags == frozenset({"IGNORE_JOBS", "SPEC_NODES"})
    assert r1.state == "ACTIVE"
    assert r1.active


def test_hostlist_deny_list_partition_and_valued_flags_are_parsed():
    r1, r2 = parse_reservations(f"{R1}\n{R2}\n")
    assert r2.nodes == ("node1", "node2", "node4")
    assert r2.node_list == "node[1-2,4]"
    assert r2.partition == "cpu"
    assert r2.users == ("-moss03", "-moss04")
    assert r2.flags == frozenset({"PURGE_COMP"})
    assert r2.state == "INACTIVE"
    assert not r2.active


def test_a_line_without_a_reservation_name_is_skipped():
    text = f"StartTime=2026-12-03T10:00:00 State=ACTIVE\n{R1}\ngarbage\n"
    assert [r.name for r in parse_reservations(text)] == ["r1"]


def test_a_repeated_field_cannot_replace_the_first():
    line = R1 + " Comment=see Users=moss01 State=INACTIVE"
    (r1,) = parse_reservations(line)
    assert r1.users == ("moss07",)
    assert r1.state == "ACTIVE"


def test_an_unreadable_time_is_unknown_and_its_text_kept():
    line = R1.replace("StartTime=2026-12-03T10:00:00", "StartTime=Tomorr 10:00")
    (r1,) = parse_reservations(line)
    assert r1.start is None
    assert r1.start_text.startswith("Tomorr")
    assert r1.end == datetime(2026, 12, 3, 10, 10).astimezone()


def test_malformed_nodes_leave_the_node_list_empty():
    (r1,) = parse_reservations(R1.replace("Nodes=node4", "Nodes=node[4"))
    assert r1.nodes == ()
    assert r1.name == "r1"


@pytest.mark.parametrize(
    "text, hosts",
    [
        ("node4", ["node4"]),
        ("node[1-2,4]", ["node1", "node2", "node4"]),
        ("node[01-03]", ["node01", "node02", "node03"]),
        ("node[8-10]", ["node8", "node9", "node10"]),
        ("gpu[1-2],node7", ["gpu1", "gpu2", "node7"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("node[1-2]-ib", ["node1-ib", "node2-ib"]),
        ("", []),
    ],
)
def testexpand_hostlist(text, hosts):
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize("text", ["node[1-", "node]1[", "node[2-1]", "node[a-b]", "n[[1]]"])
def test_expand_hostlist_refuses_malformed_lists(text):
    with pytest.raises(ValueError):
        expand_hostlist(text)


def test_expand_hostlist_refuses_a_huge_range():
    with pytest.raises(ValueError, match="may name at most"):
        expand_hostlist("node[1-999999999]")


# -- who may use which -----------------------------------------------------------------


def test_a_named_user_may_use_it_and_others_may_not():
    reservations = [res(users=("moss07", "moss08"))]
    assert usable(reservations, user="moss08") == ["r"]
    assert usable(reservations, user="moss01") == []


def test_a_deny_list_refuses_those_named_and_allows_the_rest():
    reservations = [res(users=("-moss03", "-moss04"))]
    assert usable(reservations, user="moss03") == []
    assert usable(reservations, user="moss01") == ["r"]


def test_groups_let_in_their_members():
    reservations = [res(users=(), groups=("physics",))]
    assert usable(reservations, groups={"moss", "physics"}) == ["r"]
    assert usable(reservations, groups={"moss"}) == []
    assert usable([res(users=(), groups=("-physics",))], groups={"physics"}) == []


def test_users_and_accounts_must_both_match():
    reservations = [res(users=("moss07",), accounts=("proj1",))]
    assert usable(reservations, accounts={"proj1", "moss"}) == ["r"]
    assert usable(reservations, accounts={"moss"}) == []
    assert usable(reservations, user="moss01", accounts={"proj1"}) == []


def test_groups_and_accounts_must_both_match():
    reservations = [res(users=(), groups=("physics",), accounts=("proj1",))]
    assert usable(reservations, groups={"physics"}, accounts={"proj1"}) == ["r"]
    assert usable(reservations, groups={"physics"}, accounts={"proj2"}) == []
    assert usable(reservations, groups={"chem"}, accounts={"proj1"}) == []


def test_an_accounts_only_reservation_needs_known_accounts():
    reservations = [res(users=(), accounts=("proj1",))]
    assert usable(reservations, accounts={"proj1"}) == ["r"]
    assert usable(reservations, accounts={"proj2"}) == []
    assert usable(reservations, accounts=None) == []


def test_with_unknown_accounts_a_reservation_naming_the_user_is_kept():
    assert usable([res(accounts=("proj1",))], accounts=None) == ["r"]


def test_an_account_deny_list_needs_one_account_not_denied():
    reservations = [res(users=(), accounts=("-proj2",))]
    assert usable(reservations, accounts={"proj2"}) == []
    assert usable(reservations, accounts={"proj2", "proj1"}) == ["r"]


def test_a_reservation_naming_nobody_is_not_offered():
    assert usable([res(users=())]) == []


def test_maint_is_offered_only_to_the_users_it_names():
    assert usable([res(users=("moss07",), flags=frozenset({"MAINT"}))]) == ["r"]
    assert usable([res(users=("-moss01",), flags=frozenset({"MAINT"}))]) == []
    assert (
        usable([res(users=(), groups=("moss",), flags=frozenset({"MAINT"}))], groups={"moss"}) == []
    )


def test_inactive_reservations_are_offered_only_when_starting_soon():
    soon = res(
        name="soon",
        state="INACTIVE",
        start=NOW.astimezone() + timedelta(minutes=50),
        end=NOW.astimezone() + timedelta(hours=2),
    )
    later = res(
        name="later",
        state="INACTIVE",
        start=NOW.astimezone() + timedelta(minutes=70),
        end=NOW.astimezone() + timedelta(hours=2),
    )
    unknown = res(name="unknown", state="INACTIVE", start=None)
    assert usable([later, soon, unknown]) == ["soon"]


def test_ended_reservations_are_not_offered():
    ended = res(end=NOW.astimezone() - timedelta(seconds=1))
    assert usable([ended]) == []
    assert usable([res(end=None)]) == ["r"]  # end unknown: Slurm decides


def test_the_partition_must_be_the_reservations_or_share_a_node():
    on_node4 = res(name="node4", nodes=("node4",))
    on_cpu = res(name="cpu", nodes=("node9",), partition="cpu")
    elsewhere = res(name="elsewhere", nodes=("node1", "node2"))
    everything = [on_node4, on_cpu, elsewhere]
    assert usable(everything, partition="long", nodes={"node3", "node4"}) == ["node4"]
    assert usable(everything, partition="cpu", nodes={"node1"}) == ["cpu", "elsewhere"]
    assert usable(everything, partition="gpu", nodes={"node3"}) == []


def test_unknown_partition_nodes_do_not_hide_reservations():
    found = usable_reservations([res()], "moss07", (), None, "long", None, NOW)
    assert [r.name for r in found] == ["r"]


def test_a_name_the_form_would_refuse_is_not_offered():
    assert usable([res(name="bad name"), res(name="r+1"), res(name="ok")]) == ["ok"]


def test_aware_now_is_accepted():
    found = usable_reservations(
        [res()], "moss07", (), None, "long", {"node4"}, NOW.astimezone(timezone.utc)
    )
    assert len(found) == 1


def test_parsed_lines_end_to_end():
    reservations = parse_reservations(f"{R1}\n{R2}\n")
    # At 10:05, moss07 may use r1 (named, active on node4); r2 (which does not deny
    # moss07, on node4 too) starts at 14:00, too late to be offered yet.
    assert usable(reservations, partition="long", nodes={"node3", "node4"}) == ["r1"]
    at_13_30 = datetime(2026, 12, 3, 13, 30)
    found = usable_reservations(reservations, "moss07", (), None, "long", {"node4"}, at_13_30)
    assert [r.name for r in found] == ["r2"]  # r1 has ended
    found = usable_reservations(reservations, "moss03", (), None, "long", {"node4"}, at_13_30)
    assert found == []  # r2 denies moss03


# -- words -----------------------------------------------------------------------------


def test_describe_an_active_reservation_says_until_when():
    (r1,) = parse_reservations(R1)
    assert describe_reservation(r1, NOW) == "r1 · node4 · until 10:10"


def test_describe_a_future_reservation_says_when_it_starts():
    r2 = res(name="r2", node_list="", nodes=(), state="INACTIVE")
    r2 = Reservation(**{**r2.__dict__, "start": datetime(2026, 12, 3, 14, 0).astimezone()})
    assert describe_reservation(r2, NOW) == "r2 · starts 14:00"
    (_, parsed) = parse_reservations(f"{R1}\n{R2}")
    assert describe_reservation(parsed, NOW) == "r2 · node[1-2,4] · starts 14:00"


def test_describe_is_in_local_time_whatever_the_time_zone_of_now():
    (r1,) = parse_reservations(R1)
    assert describe_reservation(r1, NOW.astimezone(timezone.utc)) == "r1 · node4 · until 10:10"


def test_describe_gives_the_date_on_another_day():
    r = res(end=datetime(2026, 12, 4, 9, 30).astimezone())
    assert describe_reservation(r, NOW) == "r · node4 · until 2026-12-04 09:30"


def test_describe_shortens_a_long_node_list():
    r = res(node_list="node[" + ",".join(str(i) for i in range(1, 60, 2)) + "]")
    label = describe_reservation(r, NOW)
    assert "…" in label
    assert len(label.split(" · ")[1]) == 40


# -- the chosen one --------------------------------------------------------------------


def test_check_reservation_accepts_a_usable_one_and_nothing():
    usable_now = [res(name="r1"), res(name="r2")]
    assert check_reservation("r2", usable_now, "long") == "r2"
    assert check_reservation(" r1 ", usable_now, "long") == "r1"
    assert check_reservation("", usable_now, "long") is None
    assert check_reservation(None, [], "long") is None


def test_check_reservation_names_the_choices():
    with pytest.raises(OptionError) as info:
        check_reservation("r1", [res(name="r2")], "long")
    assert info.value.field == "reservation"
    assert str(info.value) == (
        "reservation: 'r1' is not a reservation you may use on partition 'long'; choose one of: r2"
    )


def test_check_reservation_says_when_none_is_open():
    with pytest.raises(OptionError) as info:
        check_reservation("r1", [], "long")
    assert str(info.value) == (
        "reservation: 'r1' is not a reservation you may use on partition 'long'; "
        "none is open to you now"
    )


def test_check_reservation_without_facts_checks_the_form_only():
    assert check_reservation("anything", None, "long") == "anything"
    with pytest.raises(OptionError, match="must be a reservation name"):
        check_reservation("a b", None, "long")
    with pytest.raises(OptionError, match="must be a string"):
        check_reservation(3, None, "long")
