"""The operator review dashboard (web page) over the provenance stores under an output folder.

``serve(root, ...)`` runs it with uvicorn; ``create_app(...)`` builds the FastAPI app;
``add_user(path, name, password, role)`` writes the users file. See ``docs/dashboard.md``.
"""

from flows.dashboard.app import create_app, serve
from flows.dashboard.auth import add_user, remove_user

__all__ = ["add_user", "create_app", "remove_user", "serve"]
