"""The ScalingPolicy API: the single source of the CRD schema, the CSV descriptors and the docs.

Every field carries a description (``kubectl explain`` shows it) and a camelCase JSON name.
Validation that a structural schema cannot say (relations between fields) is written as CEL
rules with `schema.cel`; the API server enforces them at admission.
"""

from __future__ import annotations

import datetime
import typing
from typing import Any, ClassVar, Literal

import pydantic
import pydantic.alias_generators
from pydantic import Field

from api import schema

TargetKind = Literal["Deployment", "StatefulSet"]
Phase = Literal["Initializing", "Learning", "Active", "Paused", "Error"]
DecisionAction = Literal["scale_up", "scale_down", "hold"]
# baseline: the HPA formula acted; explore/exploit: the Q-learner acted; fallback: metrics were
# missing and the fallback ladder chose; cooldown: a change was wanted but the cooldown held it.
DecisionMode = Literal["baseline", "explore", "exploit", "fallback", "cooldown"]
MetricType = Literal["AverageValue", "Value"]
ConditionStatus = Literal["True", "False", "Unknown"]
# Who sets the replicas now: the HPA formula (phase Learning) or the promoted learner (Active).
Acting = Literal["hpa", "learner"]

# Names of Kubernetes objects and kubeconfig contexts, bounded so CEL cost estimates stay small.
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# Public: the operator checks its own names (--namespace, tenancy grants, metric endpoints)
# with the same patterns.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# An http(s) base URL without user info, query or fragment, in ASCII (same meaning in the API
# server's RE2 and in pydantic's engine: explicit ASCII classes only).
_SERVER_ADDRESS = r"^https?://[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]+(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
# Kubeconfig context names: printable ASCII without spaces (EKS's ARNs and GKE's names fit).
CONTEXT = r"^[!-~]+$"


class Model(pydantic.BaseModel):
    """Base of every API type: camelCase on the wire, snake_case in Python."""

    model_config = pydantic.ConfigDict(
        alias_generator=pydantic.alias_generators.to_camel,
        populate_by_name=True,
        # The API server prunes unknown fields already; ignoring them here keeps an older
        # operator working with objects written by a newer one.
        extra="ignore",
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The object as Kubernetes stores it: camelCase keys, no unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _admits_none(annotation: Any) -> bool:
    return annotation is None or type(None) in typing.get_args(annotation)


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in typing.get_args(annotation)


class SpecModel(Model):
    """Base of the spec types: they accept exactly what the API server admits, so a spec the
    models take is a spec the CRD takes and the other way round (the admission fuzzing test
    holds them to it). Hence strict types (no "5" for a number, no 1 for a boolean), except
    that a whole float is an integer (the API server stores 5.0 as 5), and a null where the
    field cannot be null is as good as absent (the API server prunes it or puts the default in).
    Relations between fields are CEL rules in the CRD and the same checks here."""

    model_config = pydantic.ConfigDict(strict=True)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _as_the_api_server_reads_it(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        by_alias = {f.alias or n: f for n, f in cls.model_fields.items()}
        out: dict[str, Any] = {}
        for key, value in data.items():
            field = by_alias.get(key) or cls.model_fields.get(key)
            if field is not None and value is None and not _admits_none(field.annotation):
                continue
            if (
                field is not None
                and isinstance(value, float)
                and value.is_integer()
                and _is_int(field.annotation)
            ):
                value = int(value)
            out[key] = value
        return out


# ---------------------------------------------------------------------------------------------
# spec


class TargetRef(SpecModel):
    """The workload to scale."""

    api_version: Literal["apps/v1"] = Field(
        default="apps/v1", description="API version of the target workload."
    )
    kind: TargetKind = Field(
        default="Deployment",
        description="Kind of the target workload; it must have a scale subresource.",
    )
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description="Name of the target workload.",
    )
    namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description=(
            "Namespace of the target in the member cluster. Only allowed together with "
            "`cluster`; in the operator's own cluster the target is always in the policy's "
            "namespace. Defaults to the policy's namespace."
        ),
    )
    cluster: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=CONTEXT,
        description=(
            "Name of a context in the member-clusters kubeconfig the operator is given. "
            "Absent means the cluster the operator runs in (the hub)."
        ),
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel(
            "!has(self.__namespace__) || has(self.cluster)",
            "target.namespace may only be set together with target.cluster",
        )
    )

    @pydantic.model_validator(mode="after")
    def _namespace_with_cluster(self) -> TargetRef:
        if self.namespace is not None and self.cluster is None:
            raise ValueError("target.namespace may only be set together with target.cluster")
        return self


class ScaleRule(SpecModel):
    """How fast one direction may move, after the HPA behavior API."""

    stabilization_window_seconds: int = Field(
        ge=0,
        le=3600,
        description=(
            "The baseline uses the most conservative recommendation of this many past seconds "
            "(highest for scale-down, lowest for scale-up)."
        ),
    )
    max_pods: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="At most this many replicas added or removed by one action.",
    )
    max_percent: int = Field(
        default=100,
        ge=1,
        le=1000,
        description=(
            "At most this percentage of the current replicas added or removed by one action; "
            "the larger of maxPods and maxPercent applies."
        ),
    )


def _default_scale_up() -> ScaleRule:
    return ScaleRule(stabilization_window_seconds=0, max_pods=4, max_percent=100)


def _default_scale_down() -> ScaleRule:
    return ScaleRule(stabilization_window_seconds=300, max_pods=4, max_percent=100)


class Behavior(SpecModel):
    """Rate limits and smoothing shared by the HPA baseline and the learner's shield."""

    tolerance: float = Field(
        default=0.1,
        ge=0.0,
        lt=1.0,
        description=(
            "No change while the metric is within this fraction of its target "
            "(the HPA's tolerance)."
        ),
    )
    scale_up: ScaleRule = Field(
        default_factory=_default_scale_up, description="Limits for adding replicas."
    )
    scale_down: ScaleRule = Field(
        default_factory=_default_scale_down, description="Limits for removing replicas."
    )


class ScalingSpec(SpecModel):
    """Replica bounds, cooldowns and cadence."""

    min_replicas: int = Field(
        default=1,
        le=10000,
        description="Fewest replicas the policy will set.",
        json_schema_extra=schema.cel("self >= 0", "minReplicas must be 0 or more"),
    )
    max_replicas: int = Field(ge=1, le=10000, description="Most replicas the policy will set.")
    cooldown_period: int = Field(
        default=60,
        ge=0,
        le=86400,
        description=(
            "Seconds that must pass after a scaling action before the next one, in either "
            "direction (unless scaleUpCooldown/scaleDownCooldown override it)."
        ),
    )
    scale_up_cooldown: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description=(
            "Seconds after any scaling action before a scale-up; defaults to cooldownPeriod."
        ),
    )
    scale_down_cooldown: int | None = Field(
        default=None,
        ge=0,
        le=86400,
        description=(
            "Seconds after any scaling action before a scale-down; defaults to cooldownPeriod."
        ),
    )
    evaluation_interval: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Seconds between two evaluations of the policy.",
    )
    fallback_replicas: int | None = Field(
        default=None,
        ge=0,
        le=10000,
        description=(
            "Floor of replicas when no metric works at all, applied after holding the last "
            "replicas for one cooldown. The operator never scales down without a metric, so "
            "a value below the current replicas changes nothing. Absent means keep holding."
        ),
    )
    behavior: Behavior = Field(
        default_factory=Behavior,
        description="Tolerance, step limits and stabilization windows.",
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel_rules(
            ("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas"),
            (
                "!has(self.fallbackReplicas) || (self.fallbackReplicas >= self.minReplicas"
                " && self.fallbackReplicas <= self.maxReplicas)",
                "fallbackReplicas must lie between minReplicas and maxReplicas",
            ),
        )
    )

    @pydantic.model_validator(mode="after")
    def _bounds(self) -> ScalingSpec:
        if self.min_replicas < 0:
            raise ValueError("minReplicas must be 0 or more")
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        fallback = self.fallback_replicas
        if fallback is not None and not self.min_replicas <= fallback <= self.max_replicas:
            raise ValueError("fallbackReplicas must lie between minReplicas and maxReplicas")
        return self


class PrometheusMetric(SpecModel):
    """A PromQL query that returns exactly one sample, on an endpoint the operator allows."""

    endpoint: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL,
        description=(
            "Name of a metric endpoint the operator's installer approved (URL, credentials and "
            "TLS live in the operator's configuration, nimbusguard-metric-endpoints). Set "
            "exactly one of endpoint and serverAddress."
        ),
    )
    server_address: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        pattern=_SERVER_ADDRESS,
        description=(
            "Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090; no "
            "credentials, query or fragment. The operator queries it only when its list of "
            "allowed addresses matches it; otherwise use endpoint."
        ),
    )
    query: str = Field(
        min_length=1,
        max_length=4096,
        description=(
            "PromQL instant query; it must return one vector element or a scalar "
            "(wrap it in sum(...) if needed)."
        ),
    )
    target_value: float = Field(
        gt=0,
        description="Target for the metric; what the baseline keeps the metric near.",
    )
    metric_type: MetricType = Field(
        default="AverageValue",
        description=(
            "AverageValue: the query returns a total that is divided by the ready replicas "
            "before it is compared with targetValue. Value: the query already returns the "
            "per-replica quantity (e.g. an average utilization)."
        ),
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Timeout of one query, in seconds.",
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel(
            "has(self.endpoint) != has(self.serverAddress)",
            "set exactly one of endpoint and serverAddress",
        )
    )

    @pydantic.model_validator(mode="after")
    def _one_place(self) -> PrometheusMetric:
        if (self.endpoint is None) == (self.server_address is None):
            raise ValueError("set exactly one of endpoint and serverAddress")
        return self


class CpuMetric(SpecModel):
    """Pod CPU from metrics.k8s.io against the pods' CPU requests (the HPA's semantics)."""

    target_utilization: int = Field(
        ge=1,
        le=1000,
        description="Target average CPU utilization of the pods, in percent of their requests.",
    )


class MetricsSpec(SpecModel):
    """Where the load signal comes from. prometheus is the primary source whenever it is set
    (whatever the order in the manifest); cpu is then the secondary, which the fallback ladder
    uses when the primary fails. With cpu alone, cpu is primary."""

    prometheus: PrometheusMetric | None = Field(
        default=None,
        description="A Prometheus query and its target; the primary source when set. "
        "Absent means cpu alone.",
    )
    cpu: CpuMetric | None = Field(
        default=None,
        description="Pod CPU utilization from metrics.k8s.io and its target; primary when "
        "prometheus is absent, else the fallback's secondary. Absent means prometheus alone.",
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel(
            "has(self.prometheus) || has(self.cpu)",
            "metrics needs at least one source: prometheus or cpu",
        )
    )

    @pydantic.model_validator(mode="after")
    def _a_source(self) -> MetricsSpec:
        if self.prometheus is None and self.cpu is None:
            raise ValueError("metrics needs at least one source: prometheus or cpu")
        return self


class QTableRef(SpecModel):
    """A pre-trained Q-table in a ConfigMap of the policy's namespace."""

    config_map_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=_DNS_SUBDOMAIN,
        description="Name of the ConfigMap (made with `nimbusguard train` and kubectl).",
    )
    key: str = Field(
        default="qtable.npz",
        min_length=1,
        max_length=253,
        description="Key in the ConfigMap's binaryData that holds the Q-table file.",
    )
    carry_promotion: bool = Field(
        default=False,
        description=(
            "Start Active when the table was saved Active, i.e. its learner had beaten its HPA "
            "baseline where it was trained (in `nimbusguard train`'s simulation: 5 windows of "
            "20 decisions): the learner acts from the first evaluation, without beating this "
            "policy's HPA baseline here first. The conditions QTableLoaded and BaselineBeaten "
            "and a PromotionCarriedOver Event say so; demotion works as usual. False: the "
            "warm-started learner starts in Learning."
        ),
    )


class QLearningSpec(SpecModel):
    """Tabular Q-learning parameters."""

    learning_rate: float = Field(
        # 0.02 beat 0.1 by 1-8 % of replica-hours on every benchmark trace (docs/benchmarks.md).
        default=0.02,
        description="Step size of the Q-value update, in (0, 1].",
        json_schema_extra=schema.cel("self > 0.0 && self <= 1.0", "learningRate must be in (0, 1]"),
    )
    discount_factor: float = Field(
        default=0.9,
        description="Weight of future rewards, in [0, 1).",
        json_schema_extra=schema.cel(
            "self >= 0.0 && self < 1.0", "discountFactor must be in [0, 1)"
        ),
    )
    epsilon_start: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Exploration rate at the first decision."
    )
    epsilon_end: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Exploration rate after the decay horizon."
    )
    epsilon_decay_decisions: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="Decisions over which epsilon decays linearly from epsilonStart to epsilonEnd.",
    )
    warm_start: QTableRef | None = Field(
        default=None,
        description="Start from this pre-trained Q-table instead of an empty one. Absent "
        "means start empty (or from the policy's own stored table).",
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel(
            "self.epsilonEnd <= self.epsilonStart", "epsilonEnd must not exceed epsilonStart"
        )
    )

    @pydantic.model_validator(mode="after")
    def _rates(self) -> QLearningSpec:
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError("learningRate must be in (0, 1]")
        if not 0.0 <= self.discount_factor < 1.0:
            raise ValueError("discountFactor must be in [0, 1)")
        if self.epsilon_end > self.epsilon_start:
            raise ValueError("epsilonEnd must not exceed epsilonStart")
        return self


class PromotionSpec(SpecModel):
    """When the learner may take over from the HPA baseline, and when it must hand back."""

    windows: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Consecutive evaluation windows in which the learner's shadow reward must beat "
            "the baseline's before the policy becomes Active."
        ),
    )
    window_decisions: int = Field(
        default=20, ge=1, le=10000, description="Decisions per evaluation window."
    )
    demotion_margin: float = Field(
        default=0.1,
        ge=0.0,
        le=10.0,
        description=(
            "When Active, a rolling violation rate above both the SLO budget and the "
            "baseline's by more than this fraction returns the policy to Learning; a learner "
            "takes over from a baseline over the budget only when it violates less by more "
            "than this fraction. Cost is judged against the policy's HPA run alongside: a "
            "learner that costs more than it hands back (HandedBack)."
        ),
    )


class AIConfig(SpecModel):
    """The learning controller."""

    q_learning: QLearningSpec = Field(
        default_factory=QLearningSpec, description="Q-learning parameters."
    )
    promotion: PromotionSpec = Field(
        default_factory=PromotionSpec, description="Promotion to Active and fallback to Learning."
    )
    slo_ratio: float = Field(
        default=1.25,
        ge=1.0,
        le=10.0,
        description=(
            "The learner counts a violation of the service level when the metric exceeds its "
            "target by this factor (1.25: 25 % above target); it trades replicas against "
            "such violations, the HPA baseline does not use it."
        ),
    )
    decision_horizon_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description=(
            "How long a scaling decision takes to show its full effect, about the time a new "
            "pod needs to become ready; the learner judges each decision this long after it."
        ),
    )
    persist_interval_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description=(
            "The Q-table is written to its ConfigMap at most once per this many seconds (at "
            "least 10), and only when it changed; also when the operator stops. A crash loses "
            "at most this much learning; a shorter interval costs one ConfigMap write per "
            "policy per interval (300: 3.3 writes a second at 1,000 policies)."
        ),
    )


class ScalingPolicySpec(SpecModel):
    """Desired behaviour of a ScalingPolicy."""

    target: TargetRef = Field(description="The workload to scale.")
    scaling: ScalingSpec = Field(description="Replica bounds, cooldowns and cadence.")
    metrics: MetricsSpec = Field(description="Load signal the decisions are based on.")
    ai_config: AIConfig = Field(
        default_factory=AIConfig, description="The learning controller's configuration."
    )
    paused: bool = Field(
        default=False,
        description="Stop evaluating and scaling; the target keeps its replicas.",
    )

    model_config = pydantic.ConfigDict(
        json_schema_extra=schema.cel(
            "self.scaling.minReplicas > 0 || has(self.metrics.prometheus)",
            "minReplicas 0 needs a prometheus metric: with no pods there is no CPU to measure",
        )
    )

    @pydantic.model_validator(mode="after")
    def _zero_needs_prometheus(self) -> ScalingPolicySpec:
        if self.scaling.min_replicas == 0 and self.metrics.prometheus is None:
            raise ValueError(
                "minReplicas 0 needs a prometheus metric: with no pods there is no CPU to measure"
            )
        return self


# ---------------------------------------------------------------------------------------------
# status


class Condition(Model):
    """The metav1.Condition shape."""

    type: str = Field(
        min_length=1,
        max_length=316,
        description="Type of the condition, e.g. Ready, TargetFound, MetricsAvailable.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase reason for the last transition.",
    )
    message: str = Field(
        default="", max_length=32768, description="Human-readable details of the last transition."
    )
    last_transition_time: datetime.datetime = Field(
        description="When the status of the condition last changed."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was set for."
    )


class Decision(Model):
    """One evaluation's decision and why it was taken."""

    action: DecisionAction = Field(description="scale_up, scale_down or hold.")
    mode: DecisionMode = Field(
        description=(
            "Who decided: baseline (HPA formula), explore/exploit (Q-learner), fallback "
            "(metrics unavailable) or cooldown (a change was held back)."
        )
    )
    from_replicas: int = Field(ge=0, description="Replicas before the decision.")
    to_replicas: int = Field(ge=0, description="Replicas the decision asked for.")
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description=(
            "How sure the decider was: the softmax probability of the chosen action over the "
            "learner's Q-values, or 1 for rule-based decisions."
        ),
    )
    reasoning: str = Field(max_length=2048, description="Why, in one or two sentences.")
    time: datetime.datetime = Field(description="When the decision was taken.")
    baseline_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas the HPA formula recommended at the same evaluation: the "
        "counterfactual when the learner acts, the decision itself when the HPA acts.",
    )


ScaleState = Literal["Pending", "Succeeded", "Failed"]


class ScaleAction(Model):
    """The last scale request sent to the target; makes acting idempotent across restarts."""

    id: str = Field(
        min_length=1,
        max_length=128,
        description="Identifier of the evaluation that sent it.",
    )
    from_replicas: int = Field(ge=0, description="Replicas before the action.")
    to_replicas: int = Field(ge=0, description="Replicas set by the action.")
    time: datetime.datetime = Field(
        description=(
            "When the action was recorded (Pending, Failed) or when the target answered the "
            "scale request (Succeeded)."
        )
    )
    state: ScaleState | None = Field(
        default=None,
        description=(
            "Pending: recorded before the scale request was sent (counted as a scale until "
            "known otherwise). Succeeded: the target took it. Failed: the target refused it; "
            "no cooldown is charged. Absent: written by an older release (Succeeded)."
        ),
    )


class PolicyMetrics(Model):
    """Counters over the policy's life."""

    total_decisions: int = Field(
        default=0, ge=0, description="Evaluations that reached a decision."
    )
    judged_decisions: int = Field(
        default=0,
        ge=0,
        description="Decisions followed by a valid observation, so their effect could be judged.",
    )
    successful_decisions: int = Field(
        default=0,
        ge=0,
        description=(
            "Judged decisions that were carried out and after which the next observation found "
            "the metric within tolerance of its target or below it."
        ),
    )
    success_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="successfulDecisions / judgedDecisions."
    )
    scale_ups: int = Field(default=0, ge=0, description="Scale-up actions sent.")
    scale_downs: int = Field(default=0, ge=0, description="Scale-down actions sent.")
    last_metric_value: float | None = Field(
        default=None, description="Last value read from the primary metric source."
    )
    last_utilization: float | None = Field(
        default=None,
        description="Last per-replica metric divided by its target (1.0 = exactly on target).",
    )
    average_reward: float | None = Field(
        default=None, description="Exponential moving average of the learner's reward."
    )


class LearningStatus(Model):
    """Progress of the learner, and the numbers behind promotion."""

    epsilon: float = Field(ge=0.0, le=1.0, description="Current exploration rate.")
    updates: int = Field(default=0, ge=0, description="Q-table updates so far.")
    states_visited: int = Field(default=0, ge=0, description="Distinct states seen so far.")
    shadow_reward: float | None = Field(
        default=None,
        description="Mean reward the learner's choices would have earned in the last window.",
    )
    baseline_reward: float | None = Field(
        default=None, description="Mean reward of the HPA baseline's choices in the last window."
    )
    windows_beaten: int = Field(
        default=0, ge=0, description="Consecutive windows in which the learner beat the baseline."
    )
    q_table_config_map: str | None = Field(
        default=None, description="ConfigMap that persists this policy's Q-table."
    )
    last_persist_time: datetime.datetime | None = Field(
        default=None, description="When the Q-table was last written."
    )


class ScalingPolicyStatus(Model):
    """Observed state of a ScalingPolicy, written by the operator."""

    phase: Phase | None = Field(
        default=None, description="Initializing, Learning, Active, Paused or Error."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation last acted upon."
    )
    current_replicas: int | None = Field(
        default=None, ge=0, description="Replicas of the target's scale subresource."
    )
    ready_replicas: int | None = Field(
        default=None, ge=0, description="Ready replicas of the target."
    )
    target_replicas: int | None = Field(
        default=None, ge=0, description="Replicas the last decision asked for."
    )
    metric_summary: str | None = Field(
        default=None,
        max_length=64,
        description="The primary metric per replica now, against its target, as kubectl get "
        "shows it (the HPA's TARGETS): 62%/70% for cpu, 412/500 for prometheus, "
        "<unknown>/500 when the last read failed.",
    )
    acting: Acting | None = Field(
        default=None,
        description="Who sets the replicas now: hpa (the HPA formula, while the learner "
        "learns in its shadow; phase Learning) or learner (promoted, through the shield; "
        "phase Active). Absent while paused, initializing or in error.",
    )
    last_scaling_time: datetime.datetime | None = Field(
        default=None, description="When the operator last changed the target's replicas."
    )
    next_scale_time: datetime.datetime | None = Field(
        default=None, description="Earliest time the cooldown allows the next scaling action."
    )
    last_decision: Decision | None = Field(default=None, description="The latest decision.")
    last_scale: ScaleAction | None = Field(
        default=None, description="The latest scale request sent to the target."
    )
    metrics: PolicyMetrics | None = Field(default=None, description="Decision counters.")
    learning: LearningStatus | None = Field(default=None, description="Learner progress.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description=(
            "Ready, TargetFound, ClusterReachable, MetricsAvailable, Fallback, Conflict, "
            "BaselineBeaten and others, each with a reason and a message."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )


# ---------------------------------------------------------------------------------------------
# root


class ObjectMeta(Model):
    """The parts of metav1.ObjectMeta the operator reads; the API server owns the schema."""

    name: str = Field(
        min_length=1, max_length=253, pattern=_DNS_SUBDOMAIN, description="Name of the object."
    )
    namespace: str | None = Field(default=None, description="Namespace of the object.")
    uid: str | None = Field(default=None, description="Unique id of the object.")
    generation: int | None = Field(default=None, description="Generation of the spec.")
    resource_version: str | None = Field(default=None, description="Version for concurrency.")


class ScalingPolicy(Model):
    """A learning autoscaler for one workload, in this cluster or a member cluster."""

    crd: ClassVar[schema.CRDMeta] = schema.CRDMeta(
        # Fits a 120-column terminal with names of 16 characters (tests/unit/api/test_crd.py);
        # the rest is in -o wide.
        printer_columns=(
            schema.PrinterColumn("Target", "string", ".spec.target.name", "Target workload."),
            schema.PrinterColumn(
                "Kind", "string", ".spec.target.kind", "Kind of the target.", priority=1
            ),
            schema.PrinterColumn(
                "Cluster", "string", ".spec.target.cluster", "Member cluster context.", priority=1
            ),
            schema.PrinterColumn(
                "Metric",
                "string",
                ".status.metricSummary",
                "Primary metric per replica now / its target (as the HPA's TARGETS).",
            ),
            schema.PrinterColumn("Min", "integer", ".spec.scaling.minReplicas", "minReplicas."),
            schema.PrinterColumn("Max", "integer", ".spec.scaling.maxReplicas", "maxReplicas."),
            schema.PrinterColumn(
                "Replicas", "integer", ".status.currentReplicas", "Replicas of the target now."
            ),
            schema.PrinterColumn(
                "Acting", "string", ".status.acting", "Who sets the replicas: hpa or learner."
            ),
            schema.PrinterColumn("Phase", "string", ".status.phase", "Lifecycle phase."),
            schema.PrinterColumn(
                "Ready",
                "string",
                '.status.conditions[?(@.type=="Ready")].status',
                "Ready condition (True while paused on purpose).",
            ),
            schema.PrinterColumn(
                "Desired", "integer", ".status.targetReplicas", "Replicas last decided.", priority=1
            ),
            schema.PrinterColumn(
                "HPA",
                "integer",
                ".status.lastDecision.baselineReplicas",
                "Replicas the HPA formula recommended at the last decision.",
                priority=1,
            ),
            schema.PrinterColumn(
                "Mode",
                "string",
                ".status.lastDecision.mode",
                "Who took the last decision.",
                priority=1,
            ),
            schema.PrinterColumn(
                "Reason",
                "string",
                '.status.conditions[?(@.type=="Ready")].reason',
                "Reason of the Ready condition.",
                priority=1,
            ),
            schema.PrinterColumn(
                "Age", "date", ".metadata.creationTimestamp", "Time since creation."
            ),
        ),
    )

    api_version: Literal["nimbusguard.io/v1"] = Field(
        default="nimbusguard.io/v1", description="APIVersion of this object."
    )
    kind: Literal["ScalingPolicy"] = Field(
        default="ScalingPolicy", description="Kind of this object."
    )
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: ScalingPolicySpec = Field(
        description="What to scale (target), between which bounds and how fast (scaling), "
        "on which signal (metrics), and how the learner learns (aiConfig)."
    )
    status: ScalingPolicyStatus = Field(
        default_factory=ScalingPolicyStatus, description="Observed state, written by the operator."
    )
