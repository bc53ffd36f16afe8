"""The seed's partitions and the sinfo answer the unit tests check them against."""

from jupyterhub_moss.site.partitions import (
    merge_partitions,
    validate_partitions,
)
from jupyterhub_moss.slurm.sinfo import parse_sinfo

# The seed README's example, unchanged but for the partition names.
SEED = {
    "cpu": {
        "architecture": "x86_86",
        "description": "Partition 1",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": True,
        "venv": "/jupyter_env_path/bin/",
    },
    "gpu": {
        "architecture": "ppc64le",
        "description": "Partition 2",
        "gpu": "gpu:V100-SXM2-32GB:{}",
        "max_ngpus": 2,
        "max_nprocs": 128,
        "max_runtime": 1 * 3600,
        "simple": True,
        "venv": "/path/to/jupyter/env/for/partition_2/bin/",
    },
    "long": {
        "architecture": "x86_86",
        "description": "Partition 3",
        "gpu": None,
        "max_ngpus": 0,
        "max_nprocs": 28,
        "max_runtime": 12 * 3600,
        "simple": False,
        "venv": "/path/to/jupyter/env/for/partition_3/bin/",
    },
}


SINFO = """\
cpu|up|0/56/0/56|0/2/0/2|28|64000|(null)|gpu:0|12:00:00|
gpu|up|0/128/0/128|0/1/0/1|128|256000|gpu:V100-SXM2-32GB:2|gpu:V100-SXM2-32GB:0(IDX:N/A)|1:00:00|
long|up|0/56/0/56|0/2/0/2|28|64000|(null)|gpu:0|2-00:00:00|
debug|down|0/64/0/64|0/1/0/1|64|128000|(null)|gpu:0|30:00|
"""


VIEWS = merge_partitions(validate_partitions(SEED), parse_sinfo(SINFO))
