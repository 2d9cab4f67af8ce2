"""The operator review dashboard (web page) over the provenance stores under an output folder.

``serve(root, ...)`` runs it with uvicorn; ``default_app(root, settings, reprocess, deployment)``
builds the FastAPI app it serves, ``create_app(reader, reprocessing, settings)`` one from any
:class:`ReelReader` and :class:`ReprocessService`; ``add_user(path, name, password, role)`` writes
the users file. See ``docs/dashboard.md``.
"""

from flows.dashboard.api import DashboardSettings
from flows.dashboard.app import create_app, default_app, serve
from flows.dashboard.auth import add_user, remove_user
from flows.dashboard.reader import ReelReader
from flows.dashboard.reprocessing import ReprocessService

__all__ = ["DashboardSettings", "ReelReader", "ReprocessService", "add_user", "create_app", "default_app", "remove_user", "serve"]
