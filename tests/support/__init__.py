"""The test harness: hubs on the local cluster, the admin command, and the data the
test files share. bench/ imports it as ``tests.support``."""

from pathlib import Path

#: The test suite's folder, its data, and the repository.
TESTS = Path(__file__).resolve().parent.parent
DATA = TESTS / "data"
REPO = TESTS.parent
