"""The compatibility sets: the tests that dev/test.sh runs again with JupyterHub 5
(marker ``compat_jh5``) and against Slurm 24.11 (marker ``compat_slurm24``), after
the whole suite has run once on the main pair (JupyterHub 6, Slurm 22.05).

Each entry covers a place where the package's behaviour depends on the version;
the reason says which. An entry is (file, test, reason); a test name with ``[``
names the parametrized cases whose id starts with it. conftest.py puts the marker
on the tests listed, and refuses a run that selects a set in which an entry no
longer names any test.
"""

from . import REPO, TESTS

JUPYTERHUB5 = [
    (
        "test_spawn.py",
        "test_bad_form_value_is_shown_on_the_form_and_nothing_is_submitted",
        "a refused value: 400 with its message on the form and over REST (apply_user_options)",
    ),
    (
        "test_spawn.py",
        "test_slurm_refusal_reaches_the_user",
        "an error raised in start() becomes the REST answer's message",
    ),
    (
        "test_account_refusal.py",
        "test_no_job_is_submitted_for_root_slurm_or_an_account_under_the_minimum",
        "a 403 through the HTTPError path",
    ),
    (
        "test_cli_script.py",
        "test_a_refused_option_exits_1_with_the_hubs_message_and_no_script[options0",
        "the error's message in the admin command",
    ),
    (
        "test_browser.py",
        "test_failed_start_shows_the_job_output",
        "JupyterHub 5's pending page shows the failure and its HTML link",
    ),
    (
        "test_spawn.py",
        "test_rest_spawn_with_user_options",
        "a wrapped REST body reaches start() unwrapped",
    ),
    (
        "test_accounts.py",
        "test_forbidden_combinations_are_refused_over_rest_naming_the_field[moss05",
        "the account check reads the wrapped body",
    ),
    (
        "test_spawn_links.py",
        "test_a_cross_site_link_submits_nothing_and_shows_the_filled_in_form",
        "plain and opt- links; LinkNeedsConfirmation through JupyterHub's form path",
    ),
    (
        "test_spawn_links.py",
        "test_a_link_without_fetch_metadata_or_with_a_wrong_token_submits_nothing",
        "no Sec-Fetch-*, a forged _xsrf, a same-site request",
    ),
    (
        "test_spawn_links.py",
        "test_a_link_with_the_users_own_token_or_from_the_hubs_page_starts_at_once",
        "_xsrf against handler.xsrf_token; an opt- link that starts",
    ),
    (
        "test_spawn_links.py",
        "test_a_cross_site_link_to_a_named_server_creates_nothing",
        "a named server's link (JupyterHub 5 creates the record on GET)",
    ),
    (
        "test_spawn_links.py",
        "test_the_start_button_on_a_links_form_starts_the_links_options",
        "the form posts back to the link's URL with the token",
    ),
    (
        "test_spawn_links.py",
        "test_each_spawn_page_links_only_to_its_own_server",
        "the user's servers by name (orm_spawners) on a named server's page",
    ),
    (
        "test_browser.py",
        "test_a_shared_link_opens_the_filled_in_form_and_start_runs_it",
        "a link typed into a real browser, then Start",
    ),
    (
        "test_form_http.py",
        "test_resources_endpoint_needs_a_token_that_may_start_the_users_servers",
        "has_scope('servers!user=') with narrow and wide tokens",
    ),
    (
        "test_estimate_cluster.py",
        "test_estimate_is_refused_to_anonymous_and_services",
        "XSRF on a cookie POST, the user's kind, a server's own token",
    ),
    (
        "test_job_log.py",
        "test_reading_logs_too_fast_is_a_429_that_says_when_to_ask_again",
        "an exception's headers through the API's write_error",
    ),
    (
        "test_config.py",
        "test_bad_partitions_stop_the_hub_at_start_up[type]",
        "the spawner_class watcher stops the hub at start-up",
    ),
    (
        "test_config.py",
        "test_partition_unknown_to_slurm_is_logged_and_shown_unavailable",
        "the 'moss' entry point and the start-up report on the loop",
    ),
    (
        "test_config.py",
        "test_batchspawner_endpoint_is_not_reachable[",
        "the patch of JupyterHub's API handlers, imported before and after",
    ),
    (
        "test_faults.py",
        "test_hub_restart_while_pending_follows_the_job_to_its_server",
        "_save_state_now, and a restart resuming a pending server",
    ),
    (
        "test_cli_script.py",
        "test_a_named_server_has_its_own_prefix_and_job_name",
        "the admin command's offline spawner on JupyterHub 5's Spawner and Hub",
    ),
    (
        "test_browser_facts.py",
        "test_home_page_shows_each_servers_job_and_when_it_ends",
        "the home page template and its script on JupyterHub 5's page",
    ),
    (
        "test_test_user_homes.py",
        "test_every_path_in_the_test_users_homes_belongs_to_its_user",
        "nothing the run did left a foreign path in a home",
    ),
]

SLURM24 = [
    (
        "test_lifecycle.py",
        "test_job_ended_outside_the_hub_is_noticed_within_a_poll_interval",
        "the version check, --only-job-state seeing CANCELLED, scancel's 'already completing'",
    ),
    (
        "test_lifecycle.py",
        "test_one_slurm_query_per_interval_whatever_the_number_of_servers",
        "state-only polling of several ids in one squeue",
    ),
    (
        "test_faults.py",
        "test_controller_down_while_pending_and_running",
        "scontrol's and squeue's errors while slurmctld is down are never 'gone'",
    ),
    (
        "test_home.py",
        "test_home_shows_the_end_time_squeue_reports",
        "EndTime, and a new TimeLimit seen through the periodic detailed look",
    ),
    (
        "test_home.py",
        "test_named_servers_show_their_job_too",
        "TresPerNode: gres/gpu:1 on 24.11, gres:gpu:1 on 22.05",
    ),
    (
        "test_lifecycle.py",
        "test_progress_reports_pending_reason",
        "pending reasons and the backfill StartTime",
    ),
    (
        "test_lifecycle.py",
        "test_job_that_dies_at_start_fails_the_spawn_quickly_with_its_output",
        "FAILED, ExitCode, StdOut and the output's tail",
    ),
    (
        "test_spawn.py",
        "test_form_spawn_runs_job_with_requested_resources[",
        "the whole start, with GPUs and memory, on each partition",
    ),
    ("test_spawn.py", "test_slurm_refusal_reaches_the_user", "sbatch's refusal text"),
    (
        "test_sbatch_timeout.py",
        "test_sbatch_answering_too_late_cancels_the_job_it_left_queued",
        "squeue --user with a marker and the comment; sbatch --parsable",
    ),
    (
        "test_estimate_cluster.py",
        "test_estimate_is_in_the_future_behind_a_blocker_job",
        "sbatch --test-only's 'to start at' answer",
    ),
    (
        "test_job_log.py",
        "test_output_lands_in_the_state_folder_and_only_the_last_five_stay",
        "the output moved by the job under 24.11's job step; StdOut",
    ),
    (
        "test_shared_nodes.py",
        "test_the_hubs_own_environment_never_reaches_the_job",
        "what sbatch passes into the job's environment",
    ),
    (
        "test_form_http.py",
        "test_resources_endpoint_is_for_logged_in_users_only",
        "sinfo's CPUsState and NodeAIOT",
    ),
    ("test_form_http.py", "test_spawn_page_carries_the_partitions", "sinfo's Gres and Time"),
    (
        "test_gpu_types_cluster.py",
        "test_a_partition_with_several_types_offers_each_with_its_counts",
        "typed Gres and GresUsed",
    ),
    (
        "test_no_accounting.py",
        "test_no_account_or_qos_is_offered",
        "a cluster without slurmdbd; access through scontrol show partition",
    ),
    (
        "test_reservations.py",
        "test_only_usable_reservations_are_offered",
        "scontrol show reservation's fields, flags and times",
    ),
    (
        "test_account_refusal.py",
        "test_no_job_is_submitted_for_root_slurm_or_an_account_under_the_minimum",
        "SlurmUser in scontrol show config",
    ),
    (
        "test_cli_check.py",
        "test_the_broken_config_reports_each_fault_as_its_own_error",
        "the admin command reads sinfo, MaxTime and the config itself",
    ),
    (
        "test_cli_sudoers.py",
        "test_sudo_allows_exactly_the_commands_and_never_as_root",
        "the generated rules' regular expressions under a newer sudo",
    ),
    (
        "test_rate_limit.py",
        "test_a_flood_of_queries_is_told_to_back_off_and_logged",
        "slurmctld's per-user rate limit (23.02+) is on, and its log says when it bites",
    ),
    (
        "test_rate_limit.py",
        "test_the_watchers_queries_stay_within_the_rate_limit",
        "200 running, 200 pending and 64 starting servers within the rate limit",
    ),
    (
        "test_ready_call.py",
        "test_a_start_costs_slurmctld_a_handful_of_job_lookups_however_long_the_boot",
        "what a start costs slurmctld, where running servers are followed by state",
    ),
    (
        "test_test_user_homes.py",
        "test_every_path_in_the_test_users_homes_belongs_to_its_user",
        "nothing the run did left a foreign path in a home",
    ),
]


def _path(file: str) -> str:
    """The test file's path from the repository, wherever under tests/ it is."""
    found = sorted(TESTS.rglob(file))
    return found[0].relative_to(REPO).as_posix() if found else f"tests/{file}"


def node_ids(entries) -> dict[str, str]:
    """Node id (or the start of one, for parametrized cases) -> reason."""
    return {f"{_path(file)}::{test}": reason for file, test, reason in entries}


SETS = {"compat_jh5": node_ids(JUPYTERHUB5), "compat_slurm24": node_ids(SLURM24)}
