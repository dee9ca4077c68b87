"""What the scale benchmark reads while it runs: /proc for CPU and memory, and the /metrics
pages of the API servers, the operator and Prometheus (pure parsing, thin fetching).

Counters are compared between two scrapes (`delta`); histograms give quantiles from their
bucket deltas by linear interpolation inside the bucket, as PromQL's histogram_quantile does.
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from prometheus_client.parser import text_string_to_metric_families

from hack.localcluster import ClusterInfo, rest

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels]
Scrape = dict[Sample, float]

_TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" of the command: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pids_with_argument(argument: str) -> list[int]:
    """Processes whose command line contains `argument` exactly (e.g. a config path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in argv:
            found.append(int(entry.name))
    return found


@dataclasses.dataclass
class CpuMeter:
    """CPU used by named processes between `start()` and `stop()`; peak RSS sampled."""

    pids: Mapping[str, int]
    started: dict[str, float] = dataclasses.field(default_factory=dict)
    began: float = 0.0
    peak_rss: dict[str, int] = dataclasses.field(default_factory=dict)

    def start(self) -> None:
        self.began = time.monotonic()
        self.started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def sample(self) -> None:
        for name, pid in self.pids.items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss_bytes(pid))

    def stop(self) -> dict[str, float]:
        """Cores used per process over the window (CPU seconds ÷ wall seconds)."""
        wall = max(time.monotonic() - self.began, 1e-9)
        return {
            name: (cpu_seconds(pid) - self.started.get(name, 0.0)) / wall
            for name, pid in self.pids.items()
        }


# ------------------------------------------------------------------ /metrics pages


def parse(text: str) -> Scrape:
    out: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


def fetch(url: str, timeout: float = 10.0) -> Scrape:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URL)
        return parse(resp.read().decode())


def apiserver(info: ClusterInfo) -> rest.Api:
    where = urlparse(info.server)
    return rest.Api(
        where.hostname or "127.0.0.1",
        where.port or 443,
        ca_file=info.ca_file,
        cert_file=info.client_cert_file,
        key_file=info.client_key_file,
        timeout=20.0,
    )


def fetch_apiserver(api: rest.Api) -> Scrape:
    status, body = api.request("GET", "/metrics")
    if status != 200:
        raise rest.ApiError(status, body[:200].decode(errors="replace"))
    return parse(body.decode())


def delta(before: Scrape, after: Scrape, name: str) -> dict[Labels, float]:
    """Increase of every series of counter `name` (a reset counts from zero)."""
    out = {}
    for (sample, labels), value in after.items():
        if sample != name:
            continue
        previous = before.get((sample, labels), 0.0)
        out[labels] = value - previous if value >= previous else value
    return out


def total(samples: Mapping[Labels, float], **match: str) -> float:
    return sum(v for labels, v in samples.items() if _matches(labels, match))


def _matches(labels: Labels, match: Mapping[str, str]) -> bool:
    found = dict(labels)
    return all(found.get(key, "") == value for key, value in match.items())


def gauge(scrape: Scrape, name: str, **match: str) -> float:
    return sum(v for (s, labels), v in scrape.items() if s == name and _matches(labels, match))


def label_values(scrape: Scrape, name: str, label: str, **match: str) -> set[str]:
    return {
        dict(labels)[label]
        for (sample, labels), _ in scrape.items()
        if sample == name and label in dict(labels) and _matches(labels, match)
    }


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of a histogram given cumulative counts per upper bound (inf included);
    None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower  # beyond the last finite bucket: its bound is all we know
            inside = count - below
            fraction = (rank - below) / inside if inside > 0 else 1.0
            return lower + (bound - lower) * fraction
        lower, below = bound, count
    return lower


def histogram_delta(before: Scrape, after: Scrape, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram `name` (all label sets summed) between scrapes."""
    out: dict[float, float] = {}
    for labels, value in delta(before, after, f"{name}_bucket").items():
        bound = float(dict(labels)["le"])
        out[bound] = out.get(bound, 0.0) + value
    return out


def requests_by(samples: Mapping[Labels, float]) -> dict[str, float]:
    """apiserver_request_total increases keyed "VERB resource[/subresource]"."""
    out: dict[str, float] = {}
    for labels, value in samples.items():
        found = dict(labels)
        resource = found.get("resource", "")
        if found.get("subresource"):
            resource += "/" + found["subresource"]
        key = f"{found.get('verb', '?')} {resource or '(none)'}"
        out[key] = out.get(key, 0.0) + value
    return out


def merge(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0.0) + value
    return out
