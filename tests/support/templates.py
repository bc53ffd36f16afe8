"""JupyterHub's own template folders, for pages rendered without a hub."""

import os
from pathlib import Path

import pytest

DEV_ROOT = Path(os.environ.get("MOSS_DEV_ROOT", "/opt/moss-dev"))


def jupyterhub_template_folders():
    folders = []
    for venv in ("jh5", "jh6"):
        folder = DEV_ROOT / venv / "share/jupyterhub/templates"
        if (folder / "home.html").exists():
            folders.append(pytest.param(str(folder), id=venv))
    try:
        from jupyterhub._data import DATA_FILES_PATH
    except ImportError:  # pragma: no cover
        pass
    else:
        folder = os.path.join(DATA_FILES_PATH, "templates")
        if os.path.exists(os.path.join(folder, "home.html")):
            folders.append(pytest.param(folder, id="installed"))
    return folders
