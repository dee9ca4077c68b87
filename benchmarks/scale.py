"""Scale benchmark: how many ScalingPolicies one operator process holds, on real API servers.

    python -m benchmarks.scale [--policies 250,500,1000] [--window 120] [--takeover]
                               [--profile] [--out docs/benchmarks/scale.json]

For each N: two local clusters (hub and member, hack/localcluster) with enough kwok nodes, a
real Prometheus scraping a load exporter of N changing series (hack/scaleload.py), N kwok
Deployments split evenly over hub and member, N ScalingPolicies in the hub at a 15 s
evaluation interval on an AverageValue Prometheus metric each, and `nimbusguard run` as a
child process. Everything shares this machine, so each number says whose it is:

- evaluation lag p50/p99 and evaluation time: the operator's own /metrics
  (nimbusguard_evaluation_lag_seconds, nimbusguard_reconcile_duration_seconds), over the window;
- CPU: /proc utime+stime of each process separately (operator, each kube-apiserver, etcd,
  controller manager, scheduler, kwok, Prometheus), in cores over the window; RSS peak sampled;
- API requests/s by verb and resource and 429s: the API servers' own apiserver_request_total,
  over the window and, for comparison, over a quiet window before the operator starts
  (controller manager, scheduler and kwok traffic);
- Prometheus queries/s: Prometheus's own prometheus_http_requests_total{handler="/api/v1/query"};
- status writes per policy per minute: PATCH scalingpolicies/status from apiserver_request_total;
- time from start until every policy was evaluated once; with --takeover, from a SIGKILLed
  leader until its standby leads and until it evaluated every policy.

Results go to the JSON file (all runs, every number), a plot next to it under docs/img/, and
the generated section of docs/scaling.md. With --profile the operator runs under cProfile
and the per-evaluation CPU breakdown is added (cProfile slows the run: its lag numbers are
not comparable; profile runs are kept out of the table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import scale_profile, scale_report, scale_run, scale_shards

ROOT = Path(__file__).resolve().parents[1]


def _machine() -> str:
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores shared with other work (load average {load:.1f} at the start), "
        f"Python {platform.python_version()}"
    )


def _code() -> str:
    """The commit the operator under test was run from (the child imports the working tree),
    with "+changes" when tracked files differ from it: a table that does not say which code
    it measured cannot be compared with the next one."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git checkout)"
    return head + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", default="250,500,1000", help="comma-separated N values")
    parser.add_argument("--window", type=float, default=120.0, help="measured seconds per N")
    parser.add_argument("--takeover", action="store_true", help="also kill the leader")
    parser.add_argument("--profile", action="store_true", help="run the operator under cProfile")
    parser.add_argument(
        "--memory",
        choices=("plain", "trace", "census"),
        help="write the operator's memory report (benchmarks/scale_memory.py); trace: with "
        "tracemalloc, slow (kept out of the table); census: the objects by type every 60 s",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "scale.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "scaling.md")
    parser.add_argument("--no-doc", action="store_true", help="only print and write the JSON")
    parser.add_argument(
        "--operator-arg", action="append", default=[], help="extra `nimbusguard run` flag"
    )
    parser.add_argument("--replicas", type=int, default=1, help=">1: sharded, see scale_shards")
    parser.add_argument("--shards", type=int, default=6, help="shard Leases with --replicas")
    parser.add_argument(
        "--from-json", type=Path, help="only rewrite the doc section and plot from a results file"
    )
    args = parser.parse_args(argv)
    ns = [int(part) for part in args.policies.split(",") if part]
    machine = _machine()
    results: list[dict[str, Any]] = []
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        scale_report.write_section(
            args.doc,
            scale_report.section(
                saved["runs"], saved["command"], saved["machine"], saved.get("code")
            ),
        )
        scale_report.plot(saved["runs"], ROOT / "docs" / "img" / "scale.png")
        return 0
    if args.replicas > 1:
        for n in ns:
            opts = scale_run.Options(
                window=args.window,
                extra_args=tuple(args.operator_arg),
                progress=lambda line: print(line, file=sys.stderr),
            )
            results.append(scale_shards.run(n, opts, args.replicas, args.shards))
            print(json.dumps(results[-1], indent=1), flush=True)
        saved_shards = {"machine": machine, "code": _code(), "runs": results}
        args.out.write_text(json.dumps(saved_shards, indent=2) + "\n")
        return 0
    for n in ns:
        profile = Path(tempfile.mkdtemp(prefix="scale-prof-")) / "operator.prof"
        opts = scale_run.Options(
            window=args.window,
            takeover=args.takeover,
            profile=profile if args.profile else None,
            memory=profile.with_name("memory.json") if args.memory else None,
            memory_trace=args.memory == "trace",
            memory_census=args.memory == "census",
            extra_args=tuple(args.operator_arg),
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        result = scale_run.run(n, opts)
        if args.profile:
            result["profile_ms_per_evaluation"] = scale_profile.per_evaluation(
                profile, result["profile_evaluations"]
            )
            print("\n".join(scale_profile.render(result["profile_ms_per_evaluation"])))
        results.append(result)
        print(json.dumps(result["steady"], indent=1), flush=True)
        if "memory" in result:
            print(json.dumps(result["memory"], indent=1), flush=True)
    print("\n".join(scale_report.table(results)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.scale " + shlex.join(sys.argv[1:] if argv is None else argv)
    code = _code()
    saved = {"machine": machine, "command": command, "code": code, "runs": results}
    args.out.write_text(json.dumps(saved, indent=2) + "\n")
    if not args.no_doc and not args.profile and args.memory not in ("trace", "census"):
        scale_report.write_section(args.doc, scale_report.section(results, command, machine, code))
        scale_report.plot(results, ROOT / "docs" / "img" / "scale.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
