"""Write the synthetic stress traces the benchmark uses (4 days each, 15 s rows).

    python -m benchmarks.synthetic_traces --out build/traces

Each file has columns `time_seconds` and `load`; days 1-2 are for training and tuning
(`--start 0 --end 48`), days 3-4 for testing (`--start 48 --end 96`). The seeds are fixed, so the
files are the same on every machine.
"""

from __future__ import annotations

import argparse
import pathlib

from nimbusguard.simulator import synthetic

SEEDS = {"flash_crowd": 11, "step": 12, "ramp": 13, "sawtooth": 14}
DAYS = 4.0
INTERVAL = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("build/traces"))
    args = parser.parse_args()
    for shape, seed in SEEDS.items():
        path = args.out / f"{shape}.csv"
        synthetic.write(path, shape, seed, DAYS, INTERVAL)
        print(path)


if __name__ == "__main__":
    main()
