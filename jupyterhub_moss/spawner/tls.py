"""JupyterHub's ``internal_ssl`` for servers that run on compute nodes.

With ``c.JupyterHub.internal_ssl = True`` the hub makes each server a key and a
certificate before ``start()`` (``Spawner.create_certs``) and asks the spawner to
make them readable by the server (``Spawner.move_certs``). The hub's files are in
its own private folder, on the hub's host; a job runs as the user, on another
host. So:

- the certificate names every node of the partition the user chose (the job's
  node is not known until Slurm starts it), as the hub will address it:
  ``node_address``, and JupyterHub's ``trusted_alt_names``. An admin who sets
  ``ssl_alt_names`` names them instead (a wildcard such as ``DNS:*.ib.cluster``
  keeps certificates small on big partitions);
- the three files travel as text in the batch script (which goes to ``sbatch`` on
  its standard input and which Slurm keeps readable by the user and Slurm's
  administrators only, like the server's API token beside them). The job writes
  them into a folder of its own that only the user can read, and points the
  server at them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

__all__ = ["TLS_FILES", "node_alt_names", "read_server_certs", "server_alt_names"]

# The keys of JupyterHub's certificate paths, and the file names the job gives them.
TLS_FILES = {"keyfile": "server.key", "certfile": "server.crt", "cafile": "ca.crt"}


def node_alt_names(nodes, node_address: str) -> list[str]:
    """Subject alternative names (``DNS:name`` or ``IP:address``) for ``nodes`` as
    the hub reaches them: ``node_address`` formatted with each node's name."""
    names = []
    for node in sorted(nodes):
        address = node_address.format(node=node)
        try:
            names.append(f"IP:{ipaddress.ip_address(address)}")
        except ValueError:
            names.append(f"DNS:{address}")
    return list(dict.fromkeys(names))


def server_alt_names(configured, trusted, nodes, node_address: str) -> list[str] | None:
    """The names of a server's certificate: None to keep ``configured`` (the
    spawner's ``ssl_alt_names``, set by the admin); else ``nodes`` as
    :func:`node_alt_names` gives them, then ``trusted`` (JupyterHub's
    ``trusted_alt_names``, which ``ssl_alt_names`` holds until an admin sets it)."""
    if list(configured) != list(trusted):
        return None
    return list(dict.fromkeys(node_alt_names(nodes, node_address) + list(trusted)))


def read_server_certs(paths: dict[str, str]) -> dict[str, str]:
    """The text of the key, certificate and authorities at JupyterHub's ``paths``
    (readable by the hub), by the names of :data:`TLS_FILES`."""
    certs = {}
    for key in TLS_FILES:
        text = Path(paths[key]).read_text()
        if "\x00" in text or not text.strip():
            raise ValueError(f"{paths[key]} is not a PEM file")
        certs[key] = text
    return certs
