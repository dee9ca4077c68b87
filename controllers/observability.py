"""The operator's Prometheus metrics and its structured (JSON) logs.

Per-policy series carry the label `policy="<namespace>/<name>"` and are removed when the
policy is deleted, so cardinality follows the number of live policies.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import sys
from typing import Any

import prometheus_client as prom

from nimbusguard import version

# The *_created series double every counter's cardinality and no dashboard reads them.
prom.disable_created_metrics()  # type: ignore[no-untyped-call]

PHASES = ("Initializing", "Learning", "Active", "Paused", "Error")


class Metrics:
    """All series the operator exports, in one registry (tests make their own).

    Besides the nimbusguard_* series: nimbusguard_build_info (version labels, value 1) and
    the client library's process_*, python_info and python_gc_* collectors, as every
    Prometheus-instrumented process has them.
    """

    def __init__(self, registry: prom.CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else prom.CollectorRegistry()
        prom.ProcessCollector(registry=r)
        prom.PlatformCollector(registry=r)
        prom.GCCollector(registry=r)
        self.build_info = prom.Info(
            "nimbusguard_build", "Version of the running operator (value 1).", registry=r
        )
        self.build_info.info(version.build_info())
        self.policies = prom.Counter(
            "nimbusguard_policies", "ScalingPolicies seen since the operator started.", registry=r
        )
        self.active_policies = prom.Gauge(
            "nimbusguard_active_policies", "ScalingPolicies in phase Active.", registry=r
        )
        self.policies_by_phase = prom.Gauge(
            "nimbusguard_policies_by_phase", "ScalingPolicies per phase.", ["phase"], registry=r
        )
        self.workflows = prom.Counter(
            "nimbusguard_workflows", "Evaluation workflows run.", registry=r
        )
        self.workflows_successful = prom.Counter(
            "nimbusguard_workflows_successful",
            "Evaluation workflows that reached a decision without an error.",
            registry=r,
        )
        self.scaling_actions = prom.Counter(
            "nimbusguard_scaling_actions",
            "Scale requests sent to targets.",
            ["direction"],
            registry=r,
        )
        self.decisions = prom.Counter(
            "nimbusguard_decisions",
            "Decisions by action and by who decided.",
            ["action", "mode"],
            registry=r,
        )
        self.epsilon = prom.Gauge(
            "nimbusguard_q_learning_epsilon",
            "Exploration rate of the policy's learner.",
            ["policy"],
            registry=r,
        )
        self.reward = prom.Gauge(
            "nimbusguard_reward",
            "Reward of the policy's last scored transition.",
            ["policy"],
            registry=r,
        )
        self.regret = prom.Gauge(
            "nimbusguard_regret",
            "Cumulative reward the baseline's choices would have earned minus the executed "
            "choices' (negative: the learner did better).",
            ["policy"],
            registry=r,
        )
        self.shield_interventions = prom.Counter(
            "nimbusguard_shield_interventions",
            "Actions the shield vetoed.",
            ["policy"],
            registry=r,
        )
        self.fallbacks = prom.Counter(
            "nimbusguard_fallbacks",
            "Evaluations decided by the fallback ladder, by rung.",
            ["policy", "rung"],
            registry=r,
        )
        self.replicas = prom.Gauge(
            "nimbusguard_policy_replicas",
            "Replicas of the policy's target: current (scale), ready, and desired (last decision).",
            ["policy", "kind"],
            registry=r,
        )
        self.utilization = prom.Gauge(
            "nimbusguard_policy_utilization",
            "Last per-replica metric divided by its target (1 = on target).",
            ["policy"],
            registry=r,
        )
        self.reconcile_duration = prom.Histogram(
            "nimbusguard_reconcile_duration_seconds",
            "Time to evaluate one policy (I/O included).",
            ["handler"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.leader = prom.Gauge(
            "nimbusguard_leader", "1 while this instance holds the leader Lease.", registry=r
        )
        # Scale: is this process keeping up with its policies? (controllers/cadence.py)
        self.evaluation_lag = prom.Histogram(
            "nimbusguard_evaluation_lag_seconds",
            "How late an evaluation started: actual start minus when it was due (the previous "
            "evaluation's target read + the interval or retry delay it asked for). Grows when "
            "a process holds more policies than it can evaluate.",
            # Fine between 1 and 30 s, where a process just behind its schedule sits: with
            # 10 and 30 only, every p99 in between read 27-28 s by interpolation
            # (docs/scaling.md, "Persist and takeover round").
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120),
            registry=r,
        )
        self.gc_pause = prom.Histogram(
            "nimbusguard_gc_pause_seconds",
            "How long a collection of Python's cyclic garbage collector blocked the process, "
            "by generation (2: a full collection).",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.evaluation_overdue = prom.Gauge(
            "nimbusguard_evaluation_overdue_seconds",
            "Seconds the most overdue policy has been waiting past its due time (0: none).",
            registry=r,
        )
        self.evaluated_policies = prom.Gauge(
            "nimbusguard_evaluated_policies",
            "Distinct policies this instance evaluated since it started acting (or took over).",
            registry=r,
        )
        self.owned_policies = prom.Gauge(
            "nimbusguard_owned_policies",
            "Policies this instance evaluates: all it sees, or those in the shards it holds.",
            registry=r,
        )
        # A standby writes no status and no Event (it must not compete with the leader), so
        # a standby that cannot follow the leader's Q-tables says so here and in its log.
        self.standby_table_errors = prom.Counter(
            "nimbusguard_standby_table_errors",
            "Q-table listings and reads a standby could not make: its takeover will read them.",
            ["operation"],
            registry=r,
        )
        self.shards = prom.Gauge(
            "nimbusguard_shards",
            "Shard Leases the policies are spread over (--shards).",
            registry=r,
        )
        self.shards_held = prom.Gauge(
            "nimbusguard_shards_held", "Shard Leases this instance holds.", registry=r
        )
        # How evaluations read their targets (--target-reads): a watched view ("watch"), or a
        # GET ("get": the view could not vouch for the answer, or reads are GETs by setting).
        self.target_reads = prom.Counter(
            "nimbusguard_target_reads",
            "Reads of the policies' targets, by how they were answered.",
            ["source"],
            registry=r,
        )
        # Why each status write was made: "news" (something that must be seen at once),
        # "refresh" (nothing new for about a minute: controllers/refresh.py), "unsure" (this
        # instance had not written it yet, or its last write failed), "record" (the scale
        # record's states: controllers/intents.py) or "invalid" (a spec the models refuse).
        self.status_writes = prom.Counter(
            "nimbusguard_status_writes",
            "ScalingPolicy status writes, by why they were made.",
            ["why"],
            registry=r,
        )
        for phase in PHASES:
            self.policies_by_phase.labels(phase=phase).set(0)
        for source in ("watch", "get"):
            self.target_reads.labels(source=source)
        for why in ("news", "refresh", "unsure", "record", "invalid"):
            self.status_writes.labels(why=why)
        # At 0 from the start: `increase()` cannot see a counter's first increment from absent.
        for operation in ("list", "read"):
            self.standby_table_errors.labels(operation=operation)

    def move_phase(self, was: str | None, now: str | None) -> None:
        """One policy went from phase `was` to `now` (None: none known, or forgotten). Counted
        per move, not recounted over every policy: that was O(policies) per evaluation."""
        if was == now:
            return
        for phase, step in ((was, -1), (now, 1)):
            if phase is None:
                continue
            self.policies_by_phase.labels(phase=phase).inc(step)
            if phase == "Active":
                self.active_policies.inc(step)

    def forget_policy(self, policy: str) -> None:
        """Drop every series labelled with this policy."""
        for metric in (
            self.epsilon,
            self.reward,
            self.regret,
            self.shield_interventions,
            self.utilization,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(policy)
        for labelled in (self.fallbacks, self.replicas):
            labelled.remove_by_labels({"policy": policy})


# Logging -------------------------------------------------------------------------------------

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the policy's namespace/name/cluster when known.

    kopf attaches `k8s_ref` to the records of its per-object loggers; our own code passes
    `extra={"policy": ..., "cluster": ...}` (see `policy_logger`).
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            out["namespace"] = ref.get("namespace")
            out["policy"] = ref.get("name")
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("k8s_ref", "k8s_skip", "settings"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP client's per-request lines drown everything else at DEBUG.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # kopf logs "Handler 'observe' succeeded." at INFO for every watch event, our own status
    # echoes included (a line per status write); its warnings and errors still show.
    objects = logging.getLogger("kopf.objects")
    objects.setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)


def policy_logger(
    logger: logging.Logger, namespace: str, name: str, cluster: str | None
) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose every line names the policy and its target cluster."""
    # NB: "name" is a reserved LogRecord attribute; the policy's name goes under "policy".
    return logging.LoggerAdapter(
        logger, {"namespace": namespace, "policy": name, "cluster": cluster or "hub"}
    )
