"""``python -m jupyterhub_moss``: the ``jupyterhub-moss`` admin command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
