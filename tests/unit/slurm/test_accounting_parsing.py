"""Parsers of scontrol (config, partitions) and sacctmgr (associations, QOS) output.

The fixtures are written by hand in Slurm 22.05's output format (the local
controller had no slurmdbd when they were made): scontrol_config_*.txt and
scontrol_partitions.txt as ``scontrol show config`` and ``scontrol --oneliner show
partition`` print them, sacctmgr_*.txt as ``--noheader --parsable2`` prints them.
"""

import pytest
from support import DATA

from jupyterhub_moss.slurm.accounting import (
    Association,
    assoc_argv,
    default_account_argv,
    parse_associations,
    parse_default_account,
    parse_qos,
    parse_tres,
    qos_argv,
)
from jupyterhub_moss.slurm.clusterinfo import (
    MAX_HOSTS,
    PartitionInfo,
    config_argv,
    expand_hostlist,
    parse_config,
    parse_partitions,
    partition_refusal,
    partitions_argv,
)


def read(name: str) -> str:
    return (DATA / name).read_text()


# -- argument lists ---------------------------------------------------------------------


def test_scontrol_argv_are_the_documented_commands():
    assert config_argv() == ["scontrol", "show", "config"]
    assert partitions_argv() == ["scontrol", "--all", "--oneliner", "show", "partition"]
    assert config_argv("/opt/slurm/bin/scontrol")[0] == "/opt/slurm/bin/scontrol"


def test_assoc_argv_names_the_user_and_the_cluster_only_when_given():
    fields = "format=Account,Partition,QOS,DefaultQOS,MaxWall"
    base = ["sacctmgr", "--noheader", "--parsable2", "show", "assoc", "where", "user=moss01"]
    assert assoc_argv("moss01") == [*base, fields]
    assert assoc_argv("moss01", "moss") == [*base, "cluster=moss", fields]
    assert assoc_argv("moss01", "", sacctmgr="/x/sacctmgr")[0] == "/x/sacctmgr"


def test_default_account_and_qos_argv():
    assert default_account_argv("moss01") == [
        "sacctmgr",
        "--noheader",
        "--parsable2",
        "show",
        "user",
        "moss01",
        "format=DefaultAccount",
    ]
    assert qos_argv() == [
        "sacctmgr",
        "--noheader",
        "--parsable2",
        "show",
        "qos",
        "format=Name,MaxWall,MaxTRESPU,Flags",
    ]


# -- scontrol show config ---------------------------------------------------------------


def test_config_with_slurmdbd_has_accounting_and_its_enforcement():
    config = parse_config(read("scontrol_config_slurmdbd.txt"))
    assert config.accounting is True
    assert config.enforce == frozenset({"associations", "limits", "qos"})
    assert (config.cluster, config.version) == ("moss", "22.05.8")
    assert config.enforces_associations


def test_config_without_slurmdbd_has_no_accounting_and_enforces_nothing():
    config = parse_config(read("scontrol_config_none.txt"))
    assert config.accounting is False
    assert config.enforce == frozenset()
    assert config.cluster == "moss"
    assert not config.enforces_associations


def test_config_keeps_the_first_value_of_a_name_and_ignores_other_sections():
    text = (
        "AccountingStorageType   = accounting_storage/slurmdbd\n"
        "ClusterName             = first\n"
        "\nSome Plugin Configuration:\nClusterName = second\n"
    )
    assert parse_config(text).cluster == "first"


@pytest.mark.parametrize(
    "text",
    ["", "garbage\x00\n= = =\n", "ClusterName\n", "x" * 100000, None, 42],
    ids=["empty", "junk", "no-value", "huge-line", "none", "int"],
)
def test_config_from_odd_text_is_no_accounting_and_does_not_raise(text):
    config = parse_config(text)
    assert (config.accounting, config.enforce, config.cluster) == (False, frozenset(), "")


# -- scontrol --oneliner show partition -------------------------------------------------


def test_partitions_read_every_partition_in_order():
    parts = parse_partitions(read("scontrol_partitions.txt"))
    assert list(parts) == ["cpu", "gpu", "long", "debug", "staff", "empty"]


def test_open_partition_has_no_lists_its_maxtime_and_nodes():
    cpu = parse_partitions(read("scontrol_partitions.txt"))["cpu"]
    assert cpu == PartitionInfo(
        name="cpu",
        allow_groups=None,
        allow_accounts=None,
        allow_qos=None,
        deny_accounts=None,
        deny_qos=None,
        qos=None,
        max_time=12 * 3600,
        nodes=frozenset({"node1", "node2"}),
    )


def test_partition_allow_and_deny_lists_are_read():
    parts = parse_partitions(read("scontrol_partitions.txt"))
    assert parts["gpu"].allow_qos == frozenset({"normal", "short"})
    long = parts["long"]
    # DenyAccounts is printed in place of AllowAccounts when only it is set.
    assert (long.allow_accounts, long.deny_accounts) == (None, frozenset({"moss"}))
    assert long.max_time == 2 * 86400
    assert long.nodes == frozenset({"node1", "node2", "node4"})
    staff = parts["staff"]
    assert staff.allow_groups == frozenset({"admins", "staff"})
    assert (staff.allow_qos, staff.deny_qos) == (None, frozenset({"capped"}))
    assert staff.qos == "part_cap"
    assert staff.max_time is None  # UNLIMITED
    assert staff.nodes == frozenset({"gpu01", "gpu02", "node5"})
    empty = parts["empty"]
    assert empty.nodes == frozenset()
    assert empty.allow_accounts == frozenset({"proj2"})


def test_partitions_multiline_form_reads_like_the_oneliner():
    oneliner = read("scontrol_partitions.txt")
    multiline = "\n\n".join("   " + "\n   ".join(line.split(" ")) for line in oneliner.splitlines())
    assert parse_partitions(multiline) == parse_partitions(oneliner)


def test_partition_with_unreadable_fields_is_kept_with_them_unknown():
    text = "junk words here\nPartitionName=odd MaxTime=soon Nodes=node[1-  AllowGroups=ALL\n"
    odd = parse_partitions(text)["odd"]
    assert (odd.max_time, odd.nodes, odd.allow_groups) == (None, frozenset(), None)


@pytest.mark.parametrize(
    "text",
    ["", "PartitionName=", "=== PartitionName", "\x00\xff" * 1000, None, "PartitionName=a " * 5000],
    ids=["empty", "no-name", "junk", "binary", "none", "repeated"],
)
def test_partitions_from_odd_text_do_not_raise(text):
    parts = parse_partitions(text)
    assert isinstance(parts, dict)
    assert len(parts) <= 1


# -- host lists -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, hosts",
    [
        ("node[1-2,4],gpu01", ["node1", "node2", "node4", "gpu01"]),
        ("node4", ["node4"]),
        ("gpu[01-03]", ["gpu01", "gpu02", "gpu03"]),
        ("n[8-11]", ["n8", "n9", "n10", "n11"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("node[1-2]-ib", ["node1-ib", "node2-ib"]),
        ("a,b,a", ["a", "b"]),
        ("", []),
        ("(null)", []),
    ],
)
def test_expand_hostlist(text, hosts):
    assert expand_hostlist(text) == hosts


@pytest.mark.parametrize(
    "text", ["node[1-2", "node]1[", "node[a-b]", "node[3-1]", "node[]", f"n[0-{MAX_HOSTS}]"]
)
def test_expand_hostlist_refuses_malformed_or_huge_lists(text):
    with pytest.raises(ValueError):
        expand_hostlist(text)


def test_expand_hostlist_bounds_the_product_of_brackets():
    with pytest.raises(ValueError, match="at most"):
        expand_hostlist("a[0-999]b[0-999]")


# -- partition access lists -------------------------------------------------------------


def test_partition_refusal_checks_allowgroups_against_the_users_groups():
    staff = parse_partitions(read("scontrol_partitions.txt"))["staff"]
    assert partition_refusal(staff, {"users"}, "moss", "normal") == (
        "partition 'staff' is open only to members of the Unix groups: admins, staff"
    )
    assert partition_refusal(staff, {"users", "staff"}, "moss", "normal") is None


def test_partition_refusal_checks_accounts_and_qos_lists():
    parts = parse_partitions(read("scontrol_partitions.txt"))
    assert partition_refusal(parts["long"], (), "moss", None) == (
        "partition 'long' is closed to account 'moss'"
    )
    assert partition_refusal(parts["long"], (), "proj1", None) is None
    assert partition_refusal(parts["empty"], (), "proj1", None) == (
        "partition 'empty' is open only to the accounts: proj2"
    )
    assert partition_refusal(parts["gpu"], (), "moss", "capped") == (
        "partition 'gpu' is open only to the QOS: normal, short"
    )
    assert partition_refusal(parts["staff"], {"staff"}, "moss", "capped") == (
        "partition 'staff' is closed to QOS 'capped'"
    )


def test_partition_refusal_leaves_out_what_is_not_given():
    parts = parse_partitions(read("scontrol_partitions.txt"))
    assert partition_refusal(parts["long"], (), None, None) is None
    assert partition_refusal(parts["gpu"], (), "moss", None) is None
    assert partition_refusal(None, (), "anything", "anything") is None


def test_partition_refusal_ignores_deny_list_when_allow_list_is_set():
    info = PartitionInfo(name="p", allow_accounts=frozenset({"a"}), deny_accounts=frozenset({"a"}))
    assert partition_refusal(info, (), "a", None) is None


# -- sacctmgr associations --------------------------------------------------------------


def test_associations_are_read_with_their_qos_and_limits():
    user = parse_associations(read("sacctmgr_assoc.txt"), "moss")
    assert user.default_account == "moss"
    assert user.accounts == ("moss", "proj1", "proj2", "physics")
    assert user.associations == (
        Association("moss", None, ("normal",), None, None),
        Association("proj1", None, ("capped", "normal", "short"), "normal", None),
        Association("proj2", None, ("long", "normal"), None, 8 * 3600),
        Association("physics", "debug", ("normal",), None, None),
    )


def test_default_account_is_read_from_its_own_output():
    assert parse_default_account(read("sacctmgr_default_account.txt")) == "moss"
    assert parse_default_account("") is None
    assert parse_default_account("bad name|\n") is None


def test_associations_skip_malformed_lines_and_keep_the_rest():
    text = (
        "only|three|fields\n"
        "bad account||normal||\n"
        "ok||normal,b@d,short||\n"
        "ok||other||\n"  # the same association again (another cluster): first kept
        "ok|p@rt|normal||\n"
        "ok2|gpu|normal|normal|UNLIMITED\n"
        "ok3||normal||soon\n"
        "ok4||normal|||\n" + "x" * 10000 + "||normal||\n"  # a trailing "|"
    )
    user = parse_associations(text, None)
    assert user.associations == (
        Association("ok", None, ("normal", "short"), None, None),
        Association("ok2", "gpu", ("normal",), "normal", None),
        Association("ok3", None, ("normal",), None, None),
        Association("ok4", None, ("normal",), None, None),
    )
    assert user.default_account is None


def test_associations_drop_a_default_account_that_is_not_a_name():
    assert parse_associations("a||normal||\n", "x y").default_account is None


@pytest.mark.parametrize("text", ["", None, "|||||||\n" * 50000, "\x00|\x00|\x00|\x00|\x00"])
def test_associations_from_odd_text_do_not_raise(text):
    assert parse_associations(text, "moss").associations == ()


# -- sacctmgr QOS -----------------------------------------------------------------------


def test_qos_table_is_read_with_maxwall_tres_and_flags():
    table = parse_qos(read("sacctmgr_qos.txt"))
    assert list(table) == ["normal", "short", "capped", "long", "part_cap"]
    assert table["normal"].max_wall is None
    assert table["normal"].flags == frozenset()
    assert table["short"].max_wall == 30 * 60
    assert table["short"].flags == frozenset({"DenyOnLimit"})
    assert table["capped"].max_wall == 20 * 60
    long = table["long"]
    assert long.max_wall == 3 * 86400
    assert long.max_tres_per_user == {"cpu": 8, "mem": 64 * 1024, "gres/gpu": 1}
    assert long.has_flag("partitiontimelimit") and not long.has_flag("OverPartQOS")


def test_qos_skips_malformed_lines_and_keeps_the_first_of_a_name():
    text = "a|||\nb|1:00:00\nc|nonsense||\na|00:10:00||\nbad name|||\n"
    table = parse_qos(text)
    assert list(table) == ["a", "c"]
    assert table["a"].max_wall is None
    assert table["c"].max_wall is None


@pytest.mark.parametrize(
    "text, tres",
    [
        ("cpu=4,mem=16G,gres/gpu=1", {"cpu": 4, "mem": 16384, "gres/gpu": 1}),
        ("mem=500M", {"mem": 500}),
        ("mem=2048", {"mem": 2048}),
        ("mem=1T", {"mem": 1024 * 1024}),
        ("billing=2K", {"billing": 2048}),
        ("cpu=x,=3,node,mem=1.5G", {}),
        ("", {}),
    ],
)
def test_parse_tres(text, tres):
    assert parse_tres(text) == tres


@pytest.mark.parametrize("text", ["", None, "||||\n" * 50000, "a|b|c|d|e|f\n"])
def test_qos_from_odd_text_does_not_raise(text):
    assert parse_qos(text) == {}


def test_config_names_the_account_slurm_runs_as():
    assert parse_config(read("scontrol_config_slurmdbd.txt")).slurm_user == "slurm"
    assert parse_config("ClusterName = x\n").slurm_user == ""
