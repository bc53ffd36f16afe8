"""The tests that need the local Slurm cluster: every test in this folder is marked
``cluster``, and is skipped where no cluster answers (tests/conftest.py)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before the root conftest looks for the marker
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.cluster)
