"""The user's choices: read, checked against the admin's partitions and what
Slurm knows about the user (accounts, QOS, reservations), and remembered for
"Start again"."""
