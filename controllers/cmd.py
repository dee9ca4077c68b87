"""`nimbusguard run`: start the operator (kubebuilder's cmd/main.go)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    from controllers import settings

    parser: argparse.ArgumentParser = sub.add_parser(
        "run", help="run the operator against a hub cluster (and member clusters)"
    )
    settings.add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from controllers import manager, observability, settings
    from nimbusguard import version

    try:
        cfg = settings.from_arguments(args)
    except settings.SettingsError as exc:
        print(f"nimbusguard run: {exc}", file=sys.stderr)
        return 2
    observability.configure_logging(cfg.log_level, cfg.log_format)
    logging.getLogger("nimbusguard").info("starting %s", version.describe())
    try:
        return asyncio.run(manager.run(cfg))
    except Exception as exc:  # a start-up failure must say what, not dump a stack
        from nimbusguard.clients import errors

        if isinstance(exc, errors.ClientError):
            print(f"nimbusguard run: {exc}", file=sys.stderr)
            return 1
        raise
