"""The `nimbusguard` command: one entry point, one sub-command per job.

Sub-commands live next to the code they drive; each module exposes
`register(subparsers)` that adds its parser and sets `func` (returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nimbusguard import version

# Modules that contribute sub-commands. `register` only declares arguments; heavy imports happen
# inside `func`, so one job does not pay for another's (the operator never loads matplotlib).
COMMAND_MODULES: dict[str, str] = {
    "convert": "nimbusguard.convert_cli",
    "member-rbac": "nimbusguard.tenancy_cli",
    "run": "controllers.cmd",
    "simulate": "nimbusguard.simulator.simulate_cli",
    "train": "nimbusguard.simulator.train_cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nimbusguard",
        description="NimbusGuard: a learning autoscaler for Kubernetes workloads.",
    )
    parser.add_argument(
        "--version", action="version", version=version.describe(), help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES.values():
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
