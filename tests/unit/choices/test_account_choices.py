"""Which accounts, QOS and run times a user may combine on the hub's partitions, and
the refusals of a choice outside them.

The user of the fixtures (tests/data/sacctmgr_*.txt, scontrol_partitions.txt) has:
moss (default; QOS normal), proj1 (capped, normal, short; default normal), proj2
(long, normal; MaxWall 8 h) and physics on debug only. The partitions: cpu (open,
12 h), gpu (AllowQos=normal,short; 1 h), long (DenyAccounts=moss; 2 days), debug
(30 min), staff (AllowGroups=admins,staff; DenyQos=capped; partition QOS part_cap
of 6 h) and empty (AllowAccounts=proj2).
"""

import json

import pytest
from support import DATA

from jupyterhub_moss.choices.accounts import (
    AccountView,
    allowed_choices,
    check_account_qos,
    check_name,
    refuse_without_accounting,
    usable_partitions,
)
from jupyterhub_moss.errors import OptionError
from jupyterhub_moss.slurm.accounting import (
    Association,
    Qos,
    UserAccounts,
    parse_associations,
    parse_qos,
)
from jupyterhub_moss.slurm.clusterinfo import PartitionInfo, parse_partitions

CONFIGURED = ["cpu", "gpu", "long", "debug", "staff", "empty"]
USER = parse_associations((DATA / "sacctmgr_assoc.txt").read_text(), "moss")
QOS = parse_qos((DATA / "sacctmgr_qos.txt").read_text())
PARTITIONS = parse_partitions((DATA / "scontrol_partitions.txt").read_text())
GROUPS = {"moss03", "users"}


def view(user=USER, qos=QOS, partitions=PARTITIONS, groups=GROUPS, **kwargs) -> AccountView:
    return allowed_choices(user, qos, partitions, groups, CONFIGURED, **kwargs)


VIEW = view()


def refusal(*args) -> str:
    with pytest.raises(OptionError) as info:
        check_account_qos(*args)
    return str(info.value)


# -- what each account may use ----------------------------------------------------------


def test_each_account_gets_the_partitions_its_associations_and_lists_allow():
    usable = {name: list(choice.partitions) for name, choice in VIEW.accounts.items()}
    assert usable == {
        "moss": ["cpu", "gpu", "debug"],  # long denies moss; staff needs a group
        "proj1": ["cpu", "gpu", "long", "debug"],
        "proj2": ["cpu", "gpu", "long", "debug", "empty"],  # empty allows proj2 only
        "physics": ["debug"],  # its association names debug only
    }
    assert VIEW.default_account == "moss"


def test_refused_partitions_keep_slurms_reason():
    assert VIEW.accounts["moss"].refusals["long"] == "partition 'long' is closed to account 'moss'"
    assert (
        VIEW.accounts["moss"]
        .refusals["staff"]
        .startswith("partition 'staff' is open only to members of the Unix groups")
    )
    # No association on cpu is no refusal by a list: nothing recorded.
    assert "cpu" not in VIEW.accounts["physics"].refusals


def test_partition_allowqos_filters_the_association_qos():
    proj1 = VIEW.accounts["proj1"].partitions
    assert proj1["cpu"].qos == ("capped", "normal", "short")
    assert proj1["gpu"].qos == ("normal", "short")
    assert VIEW.accounts["proj2"].partitions["gpu"].qos == ("normal",)


def test_allowgroups_opens_a_partition_to_members_and_denyqos_removes_a_qos():
    staff_view = view(groups={"users", "staff"})
    assert staff_view.accounts["moss"].partitions["staff"].qos == ("normal",)
    assert staff_view.accounts["proj1"].partitions["staff"].qos == ("normal", "short")
    assert "staff" in usable_partitions(staff_view)
    assert "staff" not in usable_partitions(VIEW)


def test_account_whose_every_qos_a_partition_refuses_cannot_use_it():
    user = UserAccounts("a", (Association("a", None, ("capped",), None, None),))
    choices = view(user=user)
    assert "gpu" not in choices.accounts["a"].partitions
    assert choices.accounts["a"].refusals["gpu"] == (
        "partition 'gpu' is closed to all of its QOS (capped)"
    )


def test_partition_specific_association_takes_precedence_over_the_general_one():
    user = UserAccounts(
        "a",
        (
            Association("a", None, ("normal",), None, None),
            Association("a", "cpu", ("short",), None, None),
        ),
    )
    choices = view(user=user).accounts["a"].partitions
    assert choices["cpu"].qos == ("short",)
    assert choices["debug"].qos == ("normal",)


def test_usable_partitions_are_those_some_account_may_use():
    assert usable_partitions(VIEW) == {"cpu", "gpu", "long", "debug", "empty"}


def test_only_configured_partitions_are_offered():
    choices = allowed_choices(USER, QOS, PARTITIONS, GROUPS, ["debug"])
    assert {name: list(c.partitions) for name, c in choices.accounts.items()} == {
        "moss": ["debug"],
        "proj1": ["debug"],
        "proj2": ["debug"],
        "physics": ["debug"],
    }


def test_unknown_partitions_and_qos_table_restrict_nothing():
    choices = view(qos=None, partitions=None)
    assert list(choices.accounts["moss"].partitions) == CONFIGURED
    assert choices.accounts["proj1"].partitions["gpu"].qos == ("capped", "normal", "short")
    assert choices.accounts["proj1"].partitions["cpu"].max_runtime("short") is None
    # The association's own MaxWall is still known.
    assert choices.accounts["proj2"].partitions["cpu"].max_runtime("normal") == 8 * 3600


def test_default_account_not_among_the_associations_falls_back_to_the_first():
    user = parse_associations("b||normal||\nc||normal||\n", "gone")
    assert view(user=user).default_account == "b"
    assert view(user=parse_associations("", "moss")).default_account is None


# -- default QOS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "qos, default_qos, expected",
    [
        (("capped", "normal", "short"), "short", "short"),  # DefaultQOS
        (("capped", "normal", "short"), None, "normal"),  # else normal
        (("capped", "normal", "short"), "gone", "normal"),  # a DefaultQOS not allowed
        (("short",), None, "short"),  # else the only one
        (("short", "capped"), None, "short"),  # else the first
        ((), None, None),  # none listed: Slurm picks
    ],
)
def test_default_qos(qos, default_qos, expected):
    user = UserAccounts("a", (Association("a", None, qos, default_qos, None),))
    assert view(user=user).accounts["a"].partitions["cpu"].default_qos == expected


def test_default_qos_must_be_allowed_on_the_partition():
    user = UserAccounts("a", (Association("a", None, ("capped", "short"), "capped", None),))
    assert view(user=user).accounts["a"].partitions["gpu"].default_qos == "short"


# -- run-time limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    "account, partition, qos, seconds, source",
    [
        ("proj1", "cpu", "short", 30 * 60, "QOS 'short'"),
        ("proj1", "cpu", "capped", 20 * 60, "QOS 'capped'"),
        ("proj1", "cpu", "normal", 12 * 3600, "partition 'cpu'"),
        ("proj1", "debug", "normal", 30 * 60, "partition 'debug'"),
        ("proj2", "long", "normal", 8 * 3600, "account 'proj2'"),  # association MaxWall
        ("proj2", "debug", "normal", 30 * 60, "partition 'debug'"),  # below the association's
        # PartitionTimeLimit: the QOS's 3 days go past the partition's 2 days.
        ("proj2", "long", "long", 3 * 86400, "QOS 'long'"),
        ("proj2", "cpu", "long", 3 * 86400, "QOS 'long'"),
        ("proj2", "empty", "normal", 8 * 3600, "account 'proj2'"),
    ],
)
def test_runtime_cap_per_account_partition_and_qos(account, partition, qos, seconds, source):
    cap = VIEW.accounts[account].partitions[partition].cap(qos)
    assert (cap.seconds, cap.source) == (seconds, source)


def test_no_limit_anywhere_is_no_cap():
    # empty: MaxTime=UNLIMITED; normal: no MaxWall; proj1: no MaxWall.
    assert VIEW.accounts["proj2"].partitions["empty"].cap("long").source == "QOS 'long'"
    user = UserAccounts("a", (Association("a", None, ("normal",), None, None),))
    assert view(user=user, partitions={}).accounts["a"].partitions["empty"].cap("normal") is None


def test_partition_qos_maxwall_comes_before_the_job_qos_and_association():
    choices = view(groups={"staff"})
    cap = choices.accounts["proj2"].partitions["staff"].cap("long")
    assert (cap.seconds, cap.source) == (6 * 3600, "partition QOS 'part_cap'")
    cap = choices.accounts["proj2"].partitions["staff"].cap("normal")
    assert (cap.seconds, cap.source) == (6 * 3600, "partition QOS 'part_cap'")


def test_overpartqos_puts_the_job_qos_before_the_partition_qos():
    qos = dict(QOS, over=Qos("over", 10 * 3600, {}, frozenset({"OverPartQOS"})))
    user = UserAccounts("a", (Association("a", None, ("over",), None, None),))
    cap = view(user=user, qos=qos, groups={"staff"}).accounts["a"].partitions["staff"].cap("over")
    assert (cap.seconds, cap.source) == (10 * 3600, "QOS 'over'")


def test_qos_maxwall_comes_before_the_association_maxwall_as_in_slurm():
    user = UserAccounts("a", (Association("a", None, ("short", "normal"), None, 10 * 60),))
    choice = view(user=user).accounts["a"].partitions["cpu"]
    # Slurm's order: the first limit set is used, so short's 30 min, not the account's 10.
    assert choice.max_runtime("short") == 30 * 60
    assert choice.max_runtime("normal") == 10 * 60


def test_without_enforced_limits_only_the_partition_maxtime_caps():
    choices = view(enforce_limits=False)
    assert choices.accounts["proj1"].partitions["cpu"].max_runtime("short") == 12 * 3600
    assert choices.accounts["proj2"].partitions["cpu"].max_runtime("normal") == 12 * 3600


# -- the page's JSON --------------------------------------------------------------------


def test_as_dict_is_what_the_page_reads():
    user = parse_associations("proj1||capped,normal,short|normal|\nphysics|debug|normal||\n", "")
    choices = allowed_choices(user, QOS, PARTITIONS, GROUPS, ["gpu", "debug"])
    data = choices.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data == {
        "default_account": "proj1",
        "accounts": {
            "proj1": {
                "partitions": {
                    "gpu": {
                        "qos": ["normal", "short"],
                        "default_qos": "normal",
                        "max_runtime": 3600,
                        "max_runtime_by_qos": {"normal": 3600, "short": 1800},
                    },
                    "debug": {
                        "qos": ["capped", "normal", "short"],
                        "default_qos": "normal",
                        "max_runtime": 1800,
                        "max_runtime_by_qos": {"capped": 1200, "normal": 1800, "short": 1800},
                    },
                }
            },
            "physics": {
                "partitions": {
                    "debug": {
                        "qos": ["normal"],
                        "default_qos": "normal",
                        "max_runtime": 1800,
                        "max_runtime_by_qos": {"normal": 1800},
                    }
                }
            },
        },
    }


def test_as_dict_gives_null_for_no_limit():
    data = view(partitions=None).as_dict()
    assert data["accounts"]["moss"]["partitions"]["cpu"]["max_runtime_by_qos"] == {"normal": None}


# -- checking a choice ------------------------------------------------------------------


def test_empty_account_and_qos_are_the_defaults():
    assert check_account_qos("", "", "cpu", 3600, VIEW) == ("moss", "normal")
    assert check_account_qos(None, None, "cpu", None, VIEW) == ("moss", "normal")
    assert check_account_qos("proj1", "", "cpu", 600, VIEW) == ("proj1", "normal")


def test_empty_account_on_a_partition_the_default_cannot_use_is_the_first_that_can():
    assert check_account_qos("", "", "long", 3600, VIEW) == ("proj1", "normal")
    assert check_account_qos("", "", "empty", 3600, VIEW) == ("proj2", "normal")


def test_chosen_account_and_qos_are_returned():
    assert check_account_qos(" proj1 ", "short", "gpu", 1800, VIEW) == ("proj1", "short")
    assert check_account_qos("proj2", "long", "long", 3 * 86400, VIEW) == ("proj2", "long")


def test_account_not_of_the_user_is_refused_with_the_accounts_to_choose():
    user = parse_associations("moss||normal||\nproj1||capped,normal,short|normal|\n", "moss")
    choices = allowed_choices(user, QOS, PARTITIONS, GROUPS, CONFIGURED)
    assert refusal("x", "", "cpu", 3600, choices) == (
        "account: 'x' is not one of your Slurm accounts; choose one of: moss, proj1"
    )


def test_account_on_a_partition_it_has_no_association_for_is_refused():
    assert refusal("physics", "", "cpu", 600, VIEW) == (
        "account: 'physics' cannot be used on partition 'cpu'; it can be used on: debug"
    )


def test_account_a_partition_denies_is_refused_with_the_reason():
    assert refusal("moss", "", "long", 600, VIEW) == (
        "account: 'moss' cannot be used on partition 'long' "
        "(partition 'long' is closed to account 'moss'); it can be used on: cpu, gpu, debug"
    )


def test_qos_not_allowed_for_the_account_on_the_partition_is_refused():
    assert refusal("proj1", "capped", "gpu", 600, VIEW) == (
        "qos: 'capped' is not allowed for account 'proj1' on partition 'gpu'; "
        "choose one of: normal, short"
    )
    assert refusal("moss", "short", "cpu", 600, VIEW) == (
        "qos: 'short' is not allowed for account 'moss' on partition 'cpu'; choose one of: normal"
    )


def test_runtime_beyond_the_qos_maxwall_is_refused_naming_the_qos():
    assert refusal("proj1", "short", "cpu", 3600, VIEW) == (
        "runtime: 01:00:00 is out of range: QOS 'short' allows 1 min to 30 min (00:30:00)"
    )
    assert check_account_qos("proj1", "short", "cpu", 1800, VIEW) == ("proj1", "short")


def test_runtime_beyond_the_association_maxwall_is_refused_naming_the_account():
    assert refusal("proj2", "normal", "long", 9 * 3600, VIEW) == (
        "runtime: 09:00:00 is out of range: account 'proj2' allows 1 min to 8 h (08:00:00)"
    )


def test_partition_no_account_can_use_is_refused_on_partition():
    assert refusal("", "", "staff", 600, VIEW) == (
        "partition: your Slurm accounts cannot use partition 'staff'; "
        "choose one of: cpu, gpu, long, debug, empty"
    )
    assert refusal("moss", "", "staff", 600, VIEW).startswith("partition: ")


def test_user_without_associations_is_told_so():
    choices = view(user=parse_associations("", None))
    assert refusal("", "", "cpu", 600, choices) == (
        "account: you have no Slurm account on this cluster, so no job can be submitted"
    )
    assert refusal("moss", "", "cpu", 600, choices) == (
        "account: 'moss' is not one of your Slurm accounts; you have none"
    )


def test_qos_is_passed_on_when_the_association_lists_none():
    user = UserAccounts("a", (Association("a", None, (), None, None),))
    choices = view(user=user)
    assert check_account_qos("", "", "cpu", 600, choices) == ("a", None)
    assert check_account_qos("", "whatever", "cpu", 600, choices) == ("a", "whatever")


@pytest.mark.parametrize(
    "account, qos, message",
    [
        ("x y", "", "account: must be a Slurm account name (letters, digits, _.-)"),
        ("a;rm -rf", "", "account: must be a Slurm account name (letters, digits, _.-)"),
        ("a" * 65, "", "account: must be a Slurm account name (letters, digits, _.-)"),
        ("proj1\n", "", "account: must be a Slurm account name (letters, digits, _.-)"),
        ("proj1", "--x", "qos: must be a Slurm QOS name (letters, digits, _.-)"),
        (3, "", "account: must be a string, not int"),
        ("proj1", ["short"], "qos: must be a string, not list"),
    ],
)
def test_names_are_checked_for_form_first(account, qos, message):
    assert refusal(account, qos, "cpu", 600, VIEW) == message
    assert refusal(account, qos, "cpu", 600, None) == message


def test_without_a_view_names_are_checked_for_form_only():
    assert check_account_qos("anything", "", "cpu", 10**6, None) == ("anything", None)
    assert check_account_qos("", None, "cpu", None, None) == (None, None)


def test_check_name():
    assert check_name("account", " proj1 ") == "proj1"
    assert check_name("account", "") is None
    assert check_name("qos", None) is None
    with pytest.raises(OptionError) as info:
        check_name("account", "é")
    assert info.value.field == "account"


def test_no_accounting_refuses_any_account_or_qos():
    refuse_without_accounting("", None)
    with pytest.raises(OptionError) as info:
        refuse_without_accounting("proj1", "")
    assert str(info.value) == (
        "account: this cluster has no Slurm accounting, so no account can be chosen"
    )
    with pytest.raises(OptionError) as info:
        refuse_without_accounting(None, "short")
    assert str(info.value) == "qos: this cluster has no Slurm accounting, so no QOS can be chosen"


def test_partition_scontrol_does_not_list_restricts_nothing_there():
    partitions = {name: info for name, info in PARTITIONS.items() if name != "long"}
    choices = view(partitions=partitions)
    assert "long" in choices.accounts["moss"].partitions
    assert choices.accounts["moss"].partitions["long"].cap("normal") is None


def test_partition_without_lists_is_open_to_every_account():
    partitions = dict(PARTITIONS, long=PartitionInfo(name="long", max_time=3600))
    choices = view(partitions=partitions)
    assert choices.accounts["moss"].partitions["long"].max_runtime() == 3600


def test_the_recorded_output_of_slurm_22_05_gives_moss01s_documented_choices():
    """sacctmgr and scontrol output recorded on the local cluster (dev/cluster-up.sh)."""

    from jupyterhub_moss.choices.accounts import allowed_choices
    from jupyterhub_moss.slurm.accounting import parse_associations, parse_qos
    from jupyterhub_moss.slurm.clusterinfo import parse_partitions

    data = DATA
    accounts = parse_associations(
        (data / "sacctmgr_assoc_moss01_22.05.txt").read_text(), default_account="moss"
    )
    qos = parse_qos((data / "sacctmgr_qos_22.05.txt").read_text())
    partitions = parse_partitions((data / "scontrol_partitions_22.05.txt").read_text())
    assert set(partitions) == {"cpu", "gpu", "long", "debug", "gpumix"}
    assert partitions["gpumix"].nodes == frozenset({"node3", "node5"})
    view = allowed_choices(accounts, qos, partitions, {"moss01"}, ["cpu", "debug"])
    assert view.default_account == "moss"
    assert set(view.accounts) == {"moss", "proj1", "proj2"}
    cpu = view.accounts["proj1"].partitions["cpu"]
    assert (sorted(cpu.qos), cpu.default_qos) == (["capped", "normal", "short"], "normal")
    assert (cpu.max_runtime("short"), cpu.max_runtime("capped")) == (30 * 60, 20 * 60)
    assert cpu.max_runtime("normal") == 12 * 3600
    assert view.accounts["proj1"].partitions["debug"].max_runtime("normal") == 30 * 60
