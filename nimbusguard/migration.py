"""HPAs (autoscaling/v2) and KEDA ScaledObjects turned into equivalent ScalingPolicies (pure).

`convert(obj)` takes one manifest as a dict and returns a `Conversion`: the ScalingPolicy (or
None when nothing usable was found) and one `Note` per field that could not be carried over,
or only approximately, each naming the field and saying why. `nimbusguard convert` is the I/O
around it; docs/migration.md walks users through it.

What maps to what:

| HPA / ScaledObject | ScalingPolicy |
|---|---|
| scaleTargetRef (Deployment, StatefulSet) | spec.target |
| minReplicas / minReplicaCount | spec.scaling.minReplicas (KEDA's default 0 needs prometheus) |
| maxReplicas / maxReplicaCount | spec.scaling.maxReplicas (KEDA's default 100) |
| Resource cpu, Utilization / cpu trigger | spec.metrics.cpu.targetUtilization |
| prometheus trigger (threshold, metricType) | spec.metrics.prometheus |
| behavior.*.stabilizationWindowSeconds | spec.scaling.behavior.*.stabilizationWindowSeconds |
| behavior.*.policies Pods / Percent | maxPods / maxPercent (the larger applies: selectPolicy Max) |
| behavior.*.policies periodSeconds | scaleUpCooldown / scaleDownCooldown (one action per period) |
| behavior.*.tolerance | spec.scaling.behavior.tolerance (one value for both directions) |
| pollingInterval (KEDA; the HPA's sync period is 15 s) | spec.scaling.evaluationInterval |
| fallback.replicas (KEDA) | spec.scaling.fallbackReplicas |
| autoscaling.keda.sh/paused annotation | spec.paused |
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pydantic

from api.v1 import groupversion_info as gv, scalingpolicy_types as types

JSON = dict[str, Any]

HPA_KINDS = {("autoscaling/v2", "HorizontalPodAutoscaler")}
KEDA_KINDS = {("keda.sh/v1alpha1", "ScaledObject")}
SUPPORTED_TARGETS = ("Deployment", "StatefulSet")
CONVERTED_FROM = f"{gv.GROUP}/converted-from"

# The HPA's defaults (kube-controller-manager and the autoscaling/v2 API).
HPA_SYNC_SECONDS = 15
HPA_POLICY_PERIOD = 15
KEDA_POLLING_SECONDS = 30
KEDA_MAX_REPLICAS = 100
KEDA_PAUSED = "autoscaling.keda.sh/paused"
KEDA_PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"


@dataclasses.dataclass(frozen=True)
class Note:
    """One field that was not carried over, or only approximately."""

    field: str  # path in the source object, e.g. spec.metrics[1]
    message: str  # what happened and why
    dropped: bool = True  # False: carried over, but with different semantics

    def __str__(self) -> str:
        word = "not carried over" if self.dropped else "approximated"
        return f"{self.field}: {word}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Conversion:
    """The outcome of converting one object."""

    source: str  # e.g. "HorizontalPodAutoscaler shop/web"
    policy: JSON | None  # the ScalingPolicy, or None when nothing could be converted
    notes: tuple[Note, ...]


class _Notes(list[Note]):
    def drop(self, field: str, message: str) -> None:
        self.append(Note(field, message, dropped=True))

    def approx(self, field: str, message: str) -> None:
        self.append(Note(field, message, dropped=False))


def describe(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "?")
    ns = meta.get("namespace")
    return f"{obj.get('kind', '?')} {ns + '/' if ns else ''}{name}"


def convert(obj: JSON) -> Conversion:
    """One HPA or ScaledObject as a ScalingPolicy, with notes on what did not fit."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in HPA_KINDS:
        return _convert(obj, _hpa)
    if key in KEDA_KINDS:
        return _convert(obj, _scaled_object)
    if obj.get("kind") == "HorizontalPodAutoscaler":
        why = f"apiVersion {obj.get('apiVersion')} is not read; export it as autoscaling/v2"
    else:
        why = "only autoscaling/v2 HorizontalPodAutoscalers and keda.sh/v1alpha1 ScaledObjects"
    return Conversion(describe(obj), None, (Note("apiVersion/kind", why),))


def _convert(obj: JSON, body: Any) -> Conversion:
    notes = _Notes()
    source = describe(obj)
    spec: JSON | None = body(obj, notes)
    if spec is None:
        return Conversion(source, None, tuple(notes))
    meta = obj.get("metadata") or {}
    metadata: JSON = {"name": meta.get("name", "converted")}
    if meta.get("namespace"):
        metadata["namespace"] = meta["namespace"]
    metadata["annotations"] = {CONVERTED_FROM: f"{obj['kind']}/{meta.get('name', '?')}"}
    policy: JSON = {
        "apiVersion": gv.API_VERSION,
        "kind": gv.KIND,
        "metadata": metadata,
        "spec": spec,
    }
    try:
        types.ScalingPolicySpec.model_validate(spec)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        notes.drop(
            "spec", f"the result would not be a valid ScalingPolicy ({where}: {first['msg']})"
        )
        return Conversion(source, None, tuple(notes))
    return Conversion(source, policy, tuple(notes))


# ---------------------------------------------------------------------------------------------
# shared parts


def _target(ref: JSON | None, notes: _Notes) -> JSON | None:
    ref = ref or {}
    kind = ref.get("kind", "Deployment")
    name = ref.get("name")
    if not name:
        notes.drop("spec.scaleTargetRef", "no target name")
        return None
    if kind not in SUPPORTED_TARGETS:
        notes.drop(
            "spec.scaleTargetRef",
            f"kind {kind} is not supported: NimbusGuard scales Deployments and StatefulSets",
        )
        return None
    api_version = ref.get("apiVersion", "apps/v1")
    if api_version != "apps/v1":
        notes.drop("spec.scaleTargetRef.apiVersion", f"{api_version}: only apps/v1")
        return None
    return {"kind": kind, "name": name}


def _quantity(value: Any) -> float | None:
    """A Kubernetes quantity (100, "100", "500m", "1.5k") as a number, None if not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([munkMGTP]|Ki|Mi|Gi|Ti)?\s*", value)
    if match is None:
        return None
    scale = {
        None: 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
        "P": 1e15, "Ki": 1024.0, "Mi": 1024.0**2, "Gi": 1024.0**3, "Ti": 1024.0**4,
    }[match.group(2)]  # fmt: skip
    return float(match.group(1)) * scale


def _rule(direction: str, raw: JSON | None, where: str, notes: _Notes) -> tuple[JSON, int]:
    """One direction of an HPA behavior: the ScaleRule and the cooldown its period implies."""
    default_window = 0 if direction == "scaleUp" else 300
    raw = raw or {}
    rule: JSON = {"stabilizationWindowSeconds": default_window}
    window = raw.get("stabilizationWindowSeconds")
    if isinstance(window, int):
        rule["stabilizationWindowSeconds"] = min(max(window, 0), 3600)
    select = raw.get("selectPolicy", "Max")
    policies = raw.get("policies")
    if select == "Disabled":
        # NimbusGuard cannot switch a direction off: allow one pod per day instead.
        rule.update({"maxPods": 1, "maxPercent": 1, "stabilizationWindowSeconds": 3600})
        notes.approx(
            f"{where}.selectPolicy",
            f"Disabled cannot be expressed; at most 1 pod per {direction} action, a 1 h "
            "stabilization window and a 24 h cooldown instead",
        )
        return rule, 86400
    if policies is None:
        # The HPA's default policies: 100 % (and, up, 4 pods) per 15 s.
        rule.update({"maxPods": 4, "maxPercent": 100})
        return rule, HPA_POLICY_PERIOD
    pods = [p for p in policies if p.get("type") == "Pods" and isinstance(p.get("value"), int)]
    percent = [
        p for p in policies if p.get("type") == "Percent" and isinstance(p.get("value"), int)
    ]
    pick = max if select != "Min" else min
    if select == "Min" and pods and percent:
        notes.approx(
            f"{where}.selectPolicy",
            "Min: NimbusGuard applies the larger of maxPods and maxPercent (as Max does)",
        )
    if pods:
        rule["maxPods"] = min(max(pick(p["value"] for p in pods), 1), 1000)
    if percent:
        rule["maxPercent"] = min(max(pick(p["value"] for p in percent), 1), 1000)
    if pods and not percent:
        rule["maxPercent"] = 1  # the pod limit alone decides
    if percent and not pods:
        rule["maxPods"] = 1  # the percentage alone decides
    periods = [
        p["periodSeconds"] for p in [*pods, *percent] if isinstance(p.get("periodSeconds"), int)
    ]
    period = pick(periods) if periods else HPA_POLICY_PERIOD
    if len(set(periods)) > 1:
        notes.approx(
            f"{where}.policies",
            f"policies with different periodSeconds {sorted(set(periods))}: one action per "
            f"{period} s, each within the limits above",
        )
    return rule, min(max(period, 0), 86400)


def _behavior(raw: JSON | None, where: str, scaling: JSON, notes: _Notes) -> None:
    """HPA behavior → spec.scaling.behavior and the two cooldowns."""
    raw = raw or {}
    up, up_period = _rule("scaleUp", raw.get("scaleUp"), f"{where}.scaleUp", notes)
    down, down_period = _rule("scaleDown", raw.get("scaleDown"), f"{where}.scaleDown", notes)
    behavior: JSON = {"scaleUp": up, "scaleDown": down}
    tolerances = {
        d: _quantity((raw.get(d) or {}).get("tolerance"))
        for d in ("scaleUp", "scaleDown")
        if (raw.get(d) or {}).get("tolerance") is not None
    }
    if tolerances:
        values = [t for t in tolerances.values() if t is not None]
        if values:
            behavior["tolerance"] = min(min(values), 0.99)
        if len(set(values)) > 1 or (len(tolerances) == 1 and values and values[0] != 0.1):
            notes.approx(
                f"{where}.*.tolerance",
                f"one tolerance for both directions: {min(values):g} (the HPA's default for "
                "a direction without one is 0.1)",
            )
    scaling["behavior"] = behavior
    scaling["scaleUpCooldown"] = up_period
    scaling["scaleDownCooldown"] = down_period


def _bounds(scaling: JSON, has_prometheus: bool, where: str, notes: _Notes) -> None:
    if scaling["minReplicas"] == 0 and not has_prometheus:
        scaling["minReplicas"] = 1
        notes.approx(
            where,
            "0 needs a prometheus metric (with no pods there is no CPU to measure); set to 1",
        )
    scaling["maxReplicas"] = max(scaling["maxReplicas"], scaling["minReplicas"], 1)


# ---------------------------------------------------------------------------------------------
# HorizontalPodAutoscaler (autoscaling/v2)


def _hpa_metric(i: int, metric: JSON, metrics: JSON, notes: _Notes) -> None:
    where = f"spec.metrics[{i}]"
    kind = metric.get("type")
    if kind == "Resource":
        resource = metric.get("resource") or {}
        name, target = resource.get("name"), resource.get("target") or {}
        if name != "cpu":
            notes.drop(where, f"Resource {name}: NimbusGuard measures cpu and Prometheus queries")
            return
        if target.get("type") != "Utilization" or "averageUtilization" not in target:
            notes.drop(
                where,
                f"cpu target type {target.get('type')}: only Utilization (a percentage of the "
                "pods' requests) is supported; express the value as a utilization",
            )
            return
        if "cpu" in metrics:
            notes.drop(where, "a second cpu metric; the first one is kept")
            return
        metrics["cpu"] = {"targetUtilization": int(target["averageUtilization"])}
        return
    if kind == "ContainerResource":
        notes.drop(
            where,
            "ContainerResource: NimbusGuard measures the whole pod's CPU against its "
            "requests, not one container's; use a Resource cpu metric or a prometheus query",
        )
        return
    if kind in ("Pods", "Object", "External"):
        name = ((metric.get(kind.lower()) or {}).get("metric") or {}).get("name", "?")
        notes.drop(
            where,
            f"{kind} metric {name} comes from the custom/external metrics API (e.g. "
            "prometheus-adapter); NimbusGuard asks Prometheus itself: add "
            "spec.metrics.prometheus with the PromQL behind this metric",
        )
        return
    notes.drop(where, f"metric type {kind} is unknown")


def _hpa(obj: JSON, notes: _Notes) -> JSON | None:
    spec = obj.get("spec") or {}
    target = _target(spec.get("scaleTargetRef"), notes)
    metrics: JSON = {}
    raw_metrics = spec.get("metrics")
    if raw_metrics is None:
        # autoscaling/v2's default: 80 % CPU.
        metrics["cpu"] = {"targetUtilization": 80}
    for i, metric in enumerate(raw_metrics or []):
        _hpa_metric(i, metric, metrics, notes)
    if target is None:
        return None
    if not metrics:
        notes.drop("spec.metrics", "no metric NimbusGuard can read; nothing to scale on")
        return None
    scaling: JSON = {
        "minReplicas": spec.get("minReplicas", 1),
        "maxReplicas": spec.get("maxReplicas", 1),
        "evaluationInterval": HPA_SYNC_SECONDS,
    }
    _behavior(spec.get("behavior"), "spec.behavior", scaling, notes)
    _bounds(scaling, "prometheus" in metrics, "spec.minReplicas", notes)
    return {"target": target, "scaling": scaling, "metrics": metrics}


# ---------------------------------------------------------------------------------------------
# KEDA ScaledObject (keda.sh/v1alpha1)

_PROMETHEUS_UNSUPPORTED = {
    "activationThreshold": "there is no activation threshold; 0 → 1 follows the HPA formula",
    "namespace": "no Thanos/Cortex tenant parameter",
    "customHeaders": "no custom headers to Prometheus",
    "queryParameters": "no extra query parameters",
    "unsafeSsl": "TLS settings are not configurable per policy",
    "timeout": "carried as timeoutSeconds when it is a number of milliseconds",
    "authModes": "no authentication to Prometheus",
}


def _prometheus(i: int, trigger: JSON, notes: _Notes) -> JSON | None:
    where = f"spec.triggers[{i}]"
    meta = trigger.get("metadata") or {}
    address, query = meta.get("serverAddress"), meta.get("query")
    threshold = _quantity(meta.get("threshold"))
    if not address or not query or threshold is None or threshold <= 0:
        notes.drop(where, "prometheus trigger without serverAddress, query or a threshold > 0")
        return None
    out: JSON = {
        "serverAddress": address,
        "query": query,
        "targetValue": threshold,
    }
    metric_type = trigger.get("metricType", "AverageValue")
    if metric_type in ("AverageValue", "Value"):
        out["metricType"] = metric_type
    else:
        notes.drop(f"{where}.metricType", f"{metric_type} is not valid for prometheus")
        return None
    for key, why in _PROMETHEUS_UNSUPPORTED.items():
        if key not in meta:
            continue
        if key == "timeout":
            ms = _quantity(meta[key])
            if ms is not None and 0 < ms <= 60_000:
                out["timeoutSeconds"] = ms / 1000
                continue
        if key == "activationThreshold" and _quantity(meta[key]) == 0:
            continue
        notes.drop(f"{where}.metadata.{key}", why)
    if trigger.get("authenticationRef"):
        notes.drop(
            f"{where}.authenticationRef",
            "NimbusGuard queries Prometheus without credentials; expose an endpoint the "
            "operator may read unauthenticated (e.g. inside the cluster network)",
        )
    if str(meta.get("ignoreNullValues", "true")).lower() != "false":
        notes.approx(
            f"{where}.metadata.ignoreNullValues",
            "KEDA reads an empty result as 0; NimbusGuard treats it as a failed read (the "
            "fallback ladder holds the replicas). Append `or vector(0)` to the query to keep "
            "KEDA's behaviour",
        )
    return out


def _cpu(i: int, trigger: JSON, notes: _Notes) -> JSON | None:
    where = f"spec.triggers[{i}]"
    meta = trigger.get("metadata") or {}
    metric_type = trigger.get("metricType") or meta.get("type") or "Utilization"
    value = _quantity(meta.get("value"))
    if metric_type != "Utilization":
        notes.drop(
            where,
            f"cpu metricType {metric_type}: only Utilization (a percentage of the pods' "
            "requests) is supported",
        )
        return None
    if value is None or not 1 <= value <= 1000:
        notes.drop(where, f"cpu value {meta.get('value')!r} is not a percentage from 1 to 1000")
        return None
    if meta.get("containerName"):
        notes.approx(
            f"{where}.metadata.containerName",
            "NimbusGuard measures the whole pod's CPU against its requests, not one container's",
        )
    return {"targetUtilization": math.floor(value)}


def _scaled_object(obj: JSON, notes: _Notes) -> JSON | None:
    spec = obj.get("spec") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    target = _target(spec.get("scaleTargetRef"), notes)
    metrics: JSON = {}
    for i, trigger in enumerate(spec.get("triggers") or []):
        kind = trigger.get("type")
        if kind == "prometheus":
            if "prometheus" in metrics:
                notes.drop(
                    f"spec.triggers[{i}]",
                    "a second prometheus trigger: one Prometheus query per policy (KEDA "
                    "scales on the largest); combine them in one query with max(...)",
                )
                continue
            found = _prometheus(i, trigger, notes)
            if found is not None:
                metrics["prometheus"] = found
        elif kind == "cpu":
            if "cpu" in metrics:
                notes.drop(f"spec.triggers[{i}]", "a second cpu trigger; the first one is kept")
                continue
            found = _cpu(i, trigger, notes)
            if found is not None:
                metrics["cpu"] = found
        else:
            notes.drop(
                f"spec.triggers[{i}]",
                f"trigger type {kind} has no NimbusGuard equivalent (cpu and prometheus only); "
                "if its value is in Prometheus, use a prometheus trigger on that series",
            )
    if target is None:
        return None
    if not metrics:
        notes.drop("spec.triggers", "no trigger NimbusGuard can read; nothing to scale on")
        return None
    if "prometheus" in metrics and "cpu" in metrics:
        notes.approx(
            "spec.triggers",
            "KEDA scales on the larger of its triggers; NimbusGuard uses prometheus and "
            "falls back to cpu only when Prometheus fails",
        )
    polling = spec.get("pollingInterval", KEDA_POLLING_SECONDS)
    scaling: JSON = {
        "minReplicas": spec.get("minReplicaCount", 0),
        "maxReplicas": spec.get("maxReplicaCount", KEDA_MAX_REPLICAS),
        "evaluationInterval": min(max(int(polling), 5), 3600),
    }
    if int(polling) < 5:
        notes.approx(
            "spec.pollingInterval", f"{polling} s: NimbusGuard evaluates at most every 5 s"
        )
    advanced = spec.get("advanced") or {}
    hpa_config = advanced.get("horizontalPodAutoscalerConfig") or {}
    _behavior(
        hpa_config.get("behavior"),
        "spec.advanced.horizontalPodAutoscalerConfig.behavior",
        scaling,
        notes,
    )
    _bounds(scaling, "prometheus" in metrics, "spec.minReplicaCount", notes)
    for key, why in (
        ("scalingModifiers", "no formula over several triggers"),
        ("restoreToOriginalReplicaCount", "targets keep their replicas when a policy goes"),
    ):
        if key in advanced:
            notes.drop(f"spec.advanced.{key}", why)
    if "cooldownPeriod" in spec:
        notes.drop(
            "spec.cooldownPeriod",
            "KEDA's cooldownPeriod delays only the last step to 0; NimbusGuard's scale-down "
            "stabilization window applies to every step down",
        )
    if "idleReplicaCount" in spec:
        notes.drop("spec.idleReplicaCount", "no idle replica count; minReplicas is the floor")
    if "initialCooldownPeriod" in spec:
        notes.drop("spec.initialCooldownPeriod", "no delay after creation")
    fallback = spec.get("fallback") or {}
    if "replicas" in fallback:
        floor = min(max(int(fallback["replicas"]), scaling["minReplicas"]), scaling["maxReplicas"])
        scaling["fallbackReplicas"] = floor
        notes.approx(
            "spec.fallback",
            "NimbusGuard holds the replicas for one cooldown when every metric fails, then "
            f"raises them to at least {floor}; it never scales down without a metric"
            + (" (failureThreshold does not apply)" if "failureThreshold" in fallback else ""),
        )
    out: JSON = {"target": target, "scaling": scaling, "metrics": metrics}
    if str(annotations.get(KEDA_PAUSED, "")).lower() == "true":
        out["paused"] = True
    if KEDA_PAUSED_REPLICAS in annotations:
        out["paused"] = True
        notes.approx(
            f"metadata.annotations[{KEDA_PAUSED_REPLICAS}]",
            f"paused, but the target keeps its replicas: scale it to "
            f"{annotations[KEDA_PAUSED_REPLICAS]} yourself",
        )
    for key in annotations:
        if key.startswith("autoscaling.keda.sh/paused-scale"):
            notes.drop(f"metadata.annotations[{key}]", "one direction cannot be paused alone")
    return out
