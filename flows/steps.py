"""Prefect deployment steps of this project (``deploy/prefect.yaml`` names them by import path)."""

from __future__ import annotations

import os
from pathlib import Path

import flows


def enter_app_dir(directory: str | None = None) -> dict:
    """Pull step: move a flow run to the folder that holds ``flows/`` (the entrypoints are relative to it).

    ``directory``, else ``$RESTORATION_APP_DIR``, else the folder the installed ``flows`` package
    lies in (the checkout for ``pip install -e .``, site-packages for a plain install), so a worker
    needs no setting when it runs the installed package. A folder without ``flows/restore_reel.py`` is
    refused with a message that says what to set.
    """
    chosen = directory or os.environ.get("RESTORATION_APP_DIR") or str(Path(flows.__file__).resolve().parents[1])
    if not (Path(chosen) / "flows" / "restore_reel.py").is_file():
        raise FileNotFoundError(
            f"RESTORATION_APP_DIR={chosen!r} holds no flows/restore_reel.py: set RESTORATION_APP_DIR on the worker "
            "to the checkout (or /app in the image), the folder `prefect deploy` ran in"
        )
    os.chdir(chosen)
    return {"directory": chosen}
