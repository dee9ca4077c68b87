"""The trace-driven simulator behind `nimbusguard simulate` and `nimbusguard train`.

It runs the operator's own decision and learning code (`nimbusguard.scaling`) against a service
model (`model`), next to the HPA, a calibrated HPA, a static count and the oracle (`baselines`,
`tuning`), on real or synthetic traces (`traces`, `synthetic`). `simulation` makes one report,
`plot` its picture; `simulate_cli`, `train_cli` and `cli_args` are the commands. It may import
`nimbusguard.scaling` and `api` only (an import-linter contract holds that).
"""
