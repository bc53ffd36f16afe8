"""internal_ssl for servers on compute nodes: the names a server's certificate
carries, and the files the hub hands to the job."""

import pytest

from jupyterhub_moss.spawner.tls import (
    TLS_FILES,
    node_alt_names,
    read_server_certs,
    server_alt_names,
)


def test_the_certificate_names_each_node_as_the_hub_reaches_it():
    assert node_alt_names({"node2", "node1"}, "{node}.ib.cluster") == [
        "DNS:node1.ib.cluster",
        "DNS:node2.ib.cluster",
    ]


def test_addresses_that_are_ip_literals_become_ip_names_once_each():
    names = node_alt_names({"10.0.0.1", "fe80::1", "n1"}, "{node}")
    assert names == ["IP:10.0.0.1", "IP:fe80::1", "DNS:n1"]
    assert node_alt_names({"a", "b"}, "10.1.1.1") == ["IP:10.1.1.1"]


def test_trusted_alt_names_do_not_hide_the_nodes_but_names_an_admin_sets_replace_them():
    # JupyterHub gives ssl_alt_names the value of trusted_alt_names until an admin
    # sets it: a site that names its hub there keeps the nodes in the certificate.
    trusted = ["IP:10.0.0.5", "DNS:hub.ib"]
    assert server_alt_names(trusted, trusted, {"n2", "n1"}, "{node}.ib") == [
        "DNS:n1.ib",
        "DNS:n2.ib",
        "IP:10.0.0.5",
        "DNS:hub.ib",
    ]
    assert server_alt_names([], [], {"n1"}, "{node}") == ["DNS:n1"]
    assert server_alt_names(["DNS:*.ib"], trusted, {"n1"}, "{node}.ib") is None


def test_the_hubs_three_files_are_read_as_text(tmp_path):
    paths = {}
    for key in TLS_FILES:
        paths[key] = str(tmp_path / key)
        (tmp_path / key).write_text(f"-----BEGIN {key}-----\n")
    assert read_server_certs(paths) == {k: f"-----BEGIN {k}-----\n" for k in TLS_FILES}
    (tmp_path / "cafile").write_text("")
    with pytest.raises(ValueError, match="cafile"):
        read_server_certs(paths)


@pytest.mark.parametrize("internal_ssl, scheme", [(False, "http"), (True, "https")])
async def test_a_server_found_after_a_hub_restart_is_reached_with_the_hubs_scheme(
    internal_ssl, scheme
):
    from jupyterhub_moss import MOSlurmSpawner

    spawner = MOSlurmSpawner(node_address="{node}.ib")
    spawner.job_id, spawner.job_node, spawner.job_port = "12", "node7", 8443
    spawner.internal_ssl = internal_ssl
    assert await spawner.get_url() == f"{scheme}://node7.ib:8443"
