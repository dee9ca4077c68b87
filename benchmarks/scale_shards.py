"""The scale benchmark with R replicas and K shard Leases (`--replicas R --shards K`).

R operators run with `--leader-elect --shards K` and JSON logs. Measured: the time until the
replicas together own and have evaluated every policy; per replica, over the steady window,
CPU, RSS, shards held, policies owned and evaluations per second; then one replica is
SIGKILLed and the time until the survivors own every policy and hold every shard again.
Afterwards every replica's log is read: each decision line names its policy, so two
evaluations of the same policy by different replicas closer than half an interval would be a
double evaluation (counted, should be zero).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from typing import Any

from benchmarks import scale_fleet as fleet, scale_operator, scale_probe as probe, scale_run
from benchmarks.scale_decisions import decisions


def _owned(scrapes: Iterable[probe.Scrape]) -> int:
    return sum(int(probe.gauge(s, "nimbusguard_owned_policies")) for s in scrapes)


def _held(scrapes: Iterable[probe.Scrape]) -> int:
    return sum(int(probe.gauge(s, "nimbusguard_shards_held")) for s in scrapes)


def doubles(events: Iterable[tuple[str, float, str]], interval: float) -> int:
    """Consecutive decisions of one policy by different replicas less than half an interval
    apart."""
    by_policy: dict[str, list[tuple[float, str]]] = {}
    for policy, when, replica in events:
        by_policy.setdefault(policy, []).append((when, replica))
    count = 0
    for seen in by_policy.values():
        seen.sort()
        for (t0, r0), (t1, r1) in itertools.pairwise(seen):
            if r0 != r1 and t1 - t0 < interval / 2:
                count += 1
    return count


def run(n: int, opts: scale_run.Options, replicas: int, shards: int) -> dict[str, Any]:
    say = opts.progress
    result: dict[str, Any] = {"policies": n, "interval": fleet.INTERVAL, "replicas": replicas,
                              "shards": shards}  # fmt: skip
    operators: list[scale_operator.Operator] = []
    with scale_run.environment(n, opts, result) as env:
        try:
            for index in range(replicas):
                operators.append(
                    scale_operator.Operator(
                        kubeconfig=env.kubeconfig,
                        operator_namespace=fleet.OPERATOR_NAMESPACE,
                        log_file=env.workdir / f"operator-{index}.log",
                        identity=f"scale-{index}",
                        leader_elect=True,
                        extra_args=(f"--shards={shards}", "--log-format=json", *opts.extra_args),
                    ).start()
                )
            say(f"[N={n}] {replicas} replicas, {shards} shards: waiting for every policy")
            began = time.monotonic()
            scale_run._wait(
                lambda: (
                    _owned(o.metrics() for o in operators) >= n
                    and _held(o.metrics() for o in operators) >= shards
                ),
                10 * fleet.INTERVAL + n / 5,
                "every policy owned",
            )
            result["seconds_to_all_owned"] = round(time.monotonic() - began, 1)
            time.sleep(2 * fleet.INTERVAL)  # every owned policy evaluated, then warm
            result["steady"] = _window(n, opts, env, operators)
            say(f"[N={n}] SIGKILL replica 0")
            operators[0].kill()
            killed = time.monotonic()
            survivors = operators[1:]
            scale_run._wait(
                lambda: (
                    _owned(o.metrics() for o in survivors) >= n
                    and _held(o.metrics() for o in survivors) >= shards
                ),
                120,
                "the lost replica's shards taken over",
                step=0.5,
            )
            result["seconds_to_take_over"] = round(time.monotonic() - killed, 1)
            time.sleep(fleet.INTERVAL)
        finally:
            for operator in operators:
                operator.stop()
        events = [e for i, o in enumerate(operators) for e in decisions(o.log_file, f"scale-{i}")]
        result["decisions_logged"] = len(events)
        result["double_evaluations"] = doubles(events, fleet.INTERVAL)
    return result


def _window(
    n: int,
    opts: scale_run.Options,
    env: scale_run.Environment,
    operators: list[scale_operator.Operator],
) -> dict[str, Any]:
    pids = {**env.pids, **{f"operator-{i}": o.pid for i, o in enumerate(operators)}}
    meter = probe.CpuMeter(pids)
    before = [o.metrics() for o in operators]
    servers_before = env.servers.scrape()
    meter.start()
    ends = time.monotonic() + opts.window
    while time.monotonic() < ends:
        meter.sample()
        time.sleep(5.0)
    cores = meter.stop()
    after = [o.metrics() for o in operators]
    requests = scale_run._requests(servers_before, env.servers.scrape(), opts.window)
    per_replica: list[dict[str, Any]] = []
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        evaluations = sum(probe.delta(b, a, "nimbusguard_workflows_total").values())
        lag = probe.histogram_delta(b, a, "nimbusguard_evaluation_lag_seconds")
        per_replica.append(
            {
                "cores": round(cores[f"operator-{i}"], 3),
                "rss_mb": round(meter.peak_rss.get(f"operator-{i}", 0) / 2**20, 1),
                "shards_held": int(probe.gauge(a, "nimbusguard_shards_held")),
                "owned_policies": int(probe.gauge(a, "nimbusguard_owned_policies")),
                "evaluations_per_second": round(evaluations / opts.window, 2),
                "lag_p99": scale_run._round(probe.quantile(0.99, lag)),
            }
        )
    return {
        "expected_evaluations_per_second": round(n / fleet.INTERVAL, 2),
        "evaluations_per_second": round(sum(r["evaluations_per_second"] for r in per_replica), 2),
        "operator_cores": round(sum(r["cores"] for r in per_replica), 3),
        "apiserver_cores": round(
            sum(v for k, v in cores.items() if k.endswith("/kube-apiserver")), 3
        ),
        "requests": requests,
        "per_replica": per_replica,
    }
