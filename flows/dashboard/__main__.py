"""``python -m flows.dashboard serve --root OUT`` / ``python -m flows.dashboard add-user NAME --role operator``.

A stand-in until the project's CLI wires ``restoration dashboard`` and ``restoration dashboard-user``.
"""

import argparse
import getpass
from pathlib import Path

from flows.dashboard.app import default_users_file, serve
from flows.dashboard.auth import ROLES, add_user


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.dashboard")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the review dashboard")
    s.add_argument("--root", type=Path, required=True, help="output folder holding the reels' *.zarr stores")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--users", type=Path, default=None, help=f"users file (default {default_users_file()})")
    s.add_argument("--deployment", default=None, help="Prefect deployment for reprocessing")
    s.add_argument("--reprocess", default="auto", choices=("auto", "deployment", "local", "mark"))
    u = sub.add_parser("add-user", help="add or update a dashboard user")
    u.add_argument("name")
    u.add_argument("--role", choices=ROLES, default="operator")
    u.add_argument("--users", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.root, args.host, args.port, args.users, deployment=args.deployment, reprocess=args.reprocess)
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            raise SystemExit("passwords differ")
        path = args.users or default_users_file()
        add_user(path, args.name, password, args.role)
        print(f"{path}: {args.name} ({args.role})")


if __name__ == "__main__":
    main()
