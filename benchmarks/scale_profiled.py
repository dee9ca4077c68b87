"""`nimbusguard ...` under cProfile timed by CPU (time.process_time), not by the wall clock.

    python -m benchmarks.scale_profiled OUT.prof run --kubeconfig=... (nimbusguard's arguments)

`python -m cProfile` times by the wall clock: on a machine where the operator waits for a
CPU, every function would look slower by that wait. The profile is written when the command
returns (SIGTERM makes `nimbusguard run` return).
"""

from __future__ import annotations

import cProfile
import sys
import time

from nimbusguard import cli


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile(time.process_time)
    try:
        code: int = profiler.runcall(cli.main, args)
    finally:
        profiler.dump_stats(out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
