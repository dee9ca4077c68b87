"""`python -m hack.localcluster up|status|down`: local clusters for the demo and for poking.

`up` starts the clusters and returns, leaving them running (detached); the work dir (default
/tmp/nimbusguard-localcluster, or $NIMBUSGUARD_LOCALCLUSTER_DIR, or --workdir) holds the state
file that `status` and `down` read. `up --foreground` keeps them until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hack.localcluster import clusters as clusters_mod
from hack.localcluster.errors import ComponentError, LocalClusterError

PROG = "python -m hack.localcluster"


def default_workdir() -> Path:
    configured = os.environ.get("NIMBUSGUARD_LOCALCLUSTER_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "nimbusguard-localcluster"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="work dir (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start the clusters and print how to reach them")
    up.add_argument(
        "--names",
        default=",".join(clusters_mod.DEFAULT_NAMES),
        help="comma-separated cluster (= context) names (default: %(default)s)",
    )
    up.add_argument("--nodes", type=int, default=2, help="fake nodes per cluster (default: 2)")
    up.add_argument(
        "--metrics-server",
        action="store_true",
        help="also run metrics-server (pod CPU through metrics.k8s.io)",
    )
    up.add_argument(
        "--real-node",
        action="store_true",
        help="also add a real node (kubelet + containerd, tainted) to the first cluster",
    )
    up.add_argument(
        "--image",
        action="append",
        default=[],
        help="with --real-node: a podman image to load into the node (repeatable)",
    )
    up.add_argument(
        "--foreground",
        action="store_true",
        help="keep running until Ctrl-C/SIGTERM, then stop the clusters",
    )
    up.add_argument("--timeout", type=float, default=120.0, help="seconds per readiness wait")
    sub.add_parser("status", help="show the components and whether they run")
    sub.add_parser("down", help="stop the clusters and remove the work dir")
    return parser


def _say(message: str) -> None:
    print(f"localcluster: {message}", file=sys.stderr, flush=True)


def up(options: argparse.Namespace, workdir: Path) -> int:
    names = [name.strip() for name in options.names.split(",") if name.strip()]
    try:
        local = clusters_mod.LocalClusters(
            names,
            workdir=workdir,
            nodes=options.nodes,
            metrics_server=options.metrics_server,
            real_node=options.real_node,
            detached=not options.foreground,
            timeout=options.timeout,
            progress=_say,
        )
    except ValueError as error:
        raise LocalClusterError(str(error)) from error
    seconds = local.start()
    if local.real_node is not None and options.image:
        local.real_node.load_images(options.image)
    _say(f"{len(names)} cluster(s) up in {seconds:.1f}s")
    print(f"export KUBECONFIG={local.kubeconfig}")
    print(f"# contexts: {', '.join(local.names)}; kubectl {local.kubectl.parent}/kubectl")
    for name in local.names:
        print(f"# {name}: {local.cluster(name).server}")
    if not options.foreground:
        print(f"# stop with: {PROG} down" + (f" --workdir {workdir}" if options.workdir else ""))
        return 0
    _say("running in the foreground; Ctrl-C stops the clusters")
    try:
        while all(status.running for status in local.status()):
            time.sleep(1.0)
        dead = [f"{s.cluster}/{s.component} ({s.log})" for s in local.status() if not s.running]
        _say(f"stopping: component(s) exited: {', '.join(dead)}")
        return 1
    except KeyboardInterrupt:
        _say("stopping")
        return 0
    finally:
        local.stop()


def status(workdir: Path) -> int:
    local = clusters_mod.LocalClusters.attach(workdir)
    print(f"KUBECONFIG={local.kubeconfig}")
    all_up = True
    for name in local.names:
        ready = local.apiserver_ready(name)
        all_up &= ready
        print(f"{name}: {local.cluster(name).server} {'ready' if ready else 'NOT READY'}")
    for line in local.status():
        all_up &= line.running
        state = "running" if line.running else "STOPPED"
        print(
            f"  {line.cluster:<10} {line.component:<24} pid {line.pid!s:<8} {state:<8} {line.log}"
        )
    return 0 if all_up else 1


def down(workdir: Path) -> int:
    if not (workdir / clusters_mod.STATE_FILE).exists():
        _say(f"nothing running in {workdir}")
        return 0
    local = clusters_mod.LocalClusters.attach(workdir)
    local.stop()
    _say(f"stopped; removed {workdir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    workdir = options.workdir or default_workdir()
    try:
        if options.command == "up":
            return up(options, workdir)
        if options.command == "status":
            return status(workdir)
        return down(workdir)
    except LocalClusterError as error:
        _say(f"error: {error}")
        if isinstance(error, ComponentError) and error.log_tail:
            print(error.log_tail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say("interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
