"""`make demo` works and shows what it promises: a warm start trained on other days of the
trace, the learner acting from the first evaluation on the promotion that table earned in the
simulator (carried over in the open), one readable log line per decision with who acts and the
learner's choice next to the HPA formula's, and a summary whose numbers are those of the API
servers' record."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from hack.demo import __main__ as demo, view
from tests.e2e.support import ROOT

DECISION = re.compile(
    r"^day \d+ \d\d:\d\d  load +[\d.]+  metric \S+ +acting (hpa|learner) +(\w+) +(\d+)→(\d+) +"
    r"learner +(\d+|—)  HPA +(\d+)  phase (\w+) +\| ",
    re.MULTILINE,
)


def _running(marker: str) -> list[str]:
    """Processes whose command line names `marker` (the machine is shared: other sessions run
    clusters of their own, so only what names the demo's directories counts)."""
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


# The learner acts from the first evaluation (the promotion its warm-start table earned in the
# simulator, carried over by the policy's opt-in); 80 s covers the replay's first rise.
DURATION = 80


def test_the_demo_warm_starts_the_learner_acting_and_sums_up(tmp_path: Path) -> None:
    record = tmp_path / "demo.json"
    result = subprocess.run(
        [sys.executable, "-m", "hack.demo", "--duration", str(DURATION), "--record", str(record)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    for step in range(1, 10):
        assert f"[{step}/9]" in out
    # The operator ran as users run it: the image built from this checkout, a Pod on the real
    # node (the build says how long it took; warm, seconds).
    assert re.search(r"building the operator image \S+ from this checkout", out)
    assert re.search(r"^      built in \d+ s$", out, re.MULTILINE), out[:3000]
    assert re.search(
        r"operator Pod nimbusguard-controller-manager-\S+ Ready on node real-node", out
    )
    assert re.search(r"Q-table trained in the simulator on days [\d, ]+ of the trace", out)
    assert "day 5 is replayed, never trained on" in out
    assert "None" not in out

    # Not a TTY here: one line per decision, each naming who acted and both choices.
    lines = DECISION.findall(out)
    data = json.loads(record.read_text())
    assert len(lines) == len(data["decisions"]) >= 5, out[-3000:]
    assert {acting for acting, *_ in lines} <= {"hpa", "learner"}
    assert all(hpa != "" for *_, hpa, _phase in lines)
    # The learner took part in every decision after its first: acting, or its own choice
    # reported next to the HPA formula's (it decides in the shadow until promoted).
    assert sum(learner != "—" for *_, learner, _hpa, _phase in lines) >= len(lines) - 2
    warm = [c for c in data["status"]["conditions"] if c["type"] == "QTableLoaded"]
    assert warm and warm[0]["reason"] in ("WarmStarted", "Restored"), warm

    # The learner acts, from the first evaluation: its table beat the HPA formula in the
    # simulator on days 1-4 (the default gate) and the policy carries that promotion over, in
    # the open: the step-2 text, the conditions, an Event and the first log line say so.
    first = view.learner_first_acted_minutes(data["decisions"])
    assert first is not None and first * 60 < 2 * demo.EVALUATION_SECONDS, (first, out[-3000:])
    assert "promotion: carried over from the warm start (warmStart.carryPromotion: true)" in out
    loaded = [c for c in data["status"]["conditions"] if c["type"] == "QTableLoaded"]
    assert "promotion carried over from the warm-start table" in loaded[0]["message"], loaded
    carried = [e for e in data["events"] if e["reason"] == "PromotionCarriedOver"]
    assert carried and "not on this workload" in carried[0]["message"], data["events"]
    assert "==> acting: learner (PromotionCarriedOver: " in out
    assert f"it first acted {first:.1f} minutes after the first evaluation" in out
    # Demotion is judged at a window's end, the 20th judged decision at the earliest (~110 s):
    # within DURATION the learner made every decision.
    assert {acting for acting, *_ in lines} == {"learner"}, out[-3000:]
    assert data["status"]["acting"] == "learner"

    # The summary is computed from what the API servers recorded, and says the same.
    summary = data["summary"]
    again = view.summarize(data["samples"], data["decisions"], data["events"], data["slo_ratio"])
    assert summary == again
    scale_events = [e for e in data["events"] if e["reason"] in ("ScaledUp", "ScaledDown")]
    counters = data["status"]["metrics"]
    assert (
        summary["scale_ups"]
        == counters["scaleUps"]
        == sum(e["reason"] == "ScaledUp" for e in scale_events)
    )
    assert summary["scale_downs"] == counters["scaleDowns"]
    assert summary["scale_ups"] > 0  # the replayed load rises above what the workload started with
    assert summary["learner_decisions"] == sum(a == "learner" for a, *_ in lines)
    assert summary["learner_first_acted_minutes"] == first
    assert f"scale events     {summary['scale_events']} (" in out
    assert f"replica-minutes  {summary['replica_minutes']:.1f}" in out
    assert out.rstrip().endswith("demo: everything stopped and removed")
    # Nothing it started is left running: no process names its clusters' or its own directory.
    (state,) = re.findall(r"clusters' state: (\S+)", out)
    (operator_dir,) = re.findall(r"\(log: (\S+)/operator\.log\)", out)
    assert _running(state) == []
    assert _running(operator_dir) == []
