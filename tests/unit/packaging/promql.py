"""Just enough PromQL lexing to find the series and labels an expression reads.

Not a parser: it removes string literals, range/offset brackets and grouping clauses, then
takes every identifier that is not a function call or a keyword as a series name and every
identifier inside `{...}` or a grouping clause as a label name. Good enough to catch a
dashboard or an alert that names a metric the operator does not export.
"""

from __future__ import annotations

import dataclasses
import re

from prometheus_client import metrics as prom_metrics

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}
# Series Prometheus itself writes for every target.
PROMETHEUS_SERIES = {"up": frozenset({"job", "instance"})}
# Labels Prometheus attaches to every scraped series (ServiceMonitor target labels).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "service", "container"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER_SUFFIX = re.compile(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b")


@dataclasses.dataclass(frozen=True)
class Reads:
    series: frozenset[str]
    labels: frozenset[str]


def reads(expr: str) -> Reads:
    """Series names and label names `expr` refers to."""
    text = _STRING.sub('""', expr)
    labels: set[str] = set()
    for body in _MATCHERS.findall(text):
        labels.update(m.group(1) for m in re.finditer(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)", body))
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    for _, names in _GROUPING.findall(text):
        labels.update(n.strip() for n in names.split(",") if n.strip())
    text = _GROUPING.sub(" ", text)
    text = _NUMBER_SUFFIX.sub(" ", text)
    series = {
        m.group(1)
        for m in _IDENT.finditer(text)
        if m.group(2) is None and m.group(1).lower() not in KEYWORDS
    }
    return Reads(frozenset(series), frozenset(labels))


def exported(metrics: object) -> dict[str, frozenset[str]]:
    """Series names an `observability.Metrics` exposes, with their label names, whether or not
    a labelled child exists yet: counters end in _total, histograms have _bucket/_sum/_count."""
    out: dict[str, frozenset[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, prom_metrics.MetricWrapperBase):
            continue
        # NB: label names are not public API; _labelnames has been stable for years.
        labels = frozenset(collector._labelnames)
        for family in collector.describe():
            if family.type == "counter":
                out[f"{family.name}_total"] = labels
            elif family.type == "histogram":
                out[f"{family.name}_bucket"] = labels | {"le"}
                out[f"{family.name}_sum"] = labels
                out[f"{family.name}_count"] = labels
            else:
                out[family.name] = labels
    return out


def problems(expr: str, known: dict[str, frozenset[str]]) -> list[str]:
    """What is wrong with `expr`: unknown series, or labels none of its series has."""
    found = reads(expr)
    universe = {**known, **PROMETHEUS_SERIES}
    out = [f"unknown series {s!r}" for s in sorted(found.series) if s not in universe]
    if not found.series & set(universe):
        out.append("reads no series at all")
    available = set(TARGET_LABELS)
    for s in found.series & set(universe):
        available |= universe[s]
    out.extend(
        f"label {lbl!r} is on none of its series" for lbl in sorted(found.labels - available)
    )
    return out
