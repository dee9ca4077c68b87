"""`nimbusguard manifests`: write or check the files generated from the api/v1 models."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "manifests", help="generate the CRD (and other manifests) from api/v1"
    )
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from api import generate

    return generate.main(["--check"] if args.check else [])
