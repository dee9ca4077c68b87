"""Start-up time of the local clusters (hack/localcluster), for docs/local-clusters.md.

    .venv/bin/python -m benchmarks.local_clusters_startup [--runs 5]

Each configuration is started and stopped `--runs` times in this process; the table gives
the median, min and max seconds from `start()` until every cluster is usable (API server
ready, nodes Ready, default ServiceAccount; metrics.k8s.io Available with metrics-server),
and the ratio of medians against one cluster without metrics-server (the baseline).
"""

from __future__ import annotations

import argparse
import statistics
import time

from hack.localcluster import LocalClusters

CONFIGURATIONS = (
    ("1 cluster (baseline)", ("hub",), False),
    ("2 clusters", ("hub", "member"), False),
    ("2 clusters + metrics-server", ("hub", "member"), True),
)


def measure(names: tuple[str, ...], metrics_server: bool, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        clusters = LocalClusters(names, metrics_server=metrics_server)
        began = time.monotonic()
        clusters.start()
        seconds.append(time.monotonic() - began)
        clusters.stop()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    results = [(label, measure(names, ms, runs)) for label, names, ms in CONFIGURATIONS]
    baseline = statistics.median(results[0][1])
    print(f"| configuration | median s | min s | max s | ratio to baseline | ({runs} runs each)")
    print("|---|---|---|---|---|")
    for label, seconds in results:
        median = statistics.median(seconds)
        print(
            f"| {label} | {median:.2f} | {min(seconds):.2f} | {max(seconds):.2f} "
            f"| {median / baseline:.2f} |"
        )


if __name__ == "__main__":
    main()
