"""Differential admission fuzzing: what the models accept, the API server admits, and the
other way round; and the operator copes with whatever is admitted.

At least 1,000 ScalingPolicies (tests/e2e/admission_fuzz.py: drawn by hypothesis from the
models' schema, and mutated config/samples; odd strings in target.cluster, query, names and
URLs) are sent to the real API server with server-side dry run, with the CRD (schema + CEL)
and the tenancy admission policy in force. For every one, "the models and the tenancy rule
accept it" must equal "the API server admits it". Then at least 100 admitted ones are created
for real with the operator running: each reaches a phase after its first evaluation, within
two of its intervals, and the operator logs no traceback.

Deterministic by default (hypothesis derandomized); NIMBUSGUARD_FUZZ_SEED=<n> draws another
set, NIMBUSGUARD_FUZZ_EXAMPLES=<n> more of them.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from nimbusguard import tenancy
from tests.e2e import admission_fuzz as af, support
from tests.e2e.controller import helpers as h
from tests.e2e.controller.conftest import Admission, Scenario, dry_run

EXAMPLES = int(os.environ.get("NIMBUSGUARD_FUZZ_EXAMPLES", "1000"))
SEED = int(os.environ.get("NIMBUSGUARD_FUZZ_SEED", "0"))
REAL = 120  # admitted specs created for real (at least 100)
SETTLED = ("Learning", "Active", "Paused", "Error")


def _draw(count: int) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    @seed(SEED)
    @settings(
        max_examples=count,
        database=None,
        derandomize=SEED == 0,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(af.NAMES, af.spec_strategy())
    def collect(name: str, spec: Any) -> None:
        bodies.append(af.body(name, spec))

    collect()
    return bodies


def test_models_and_api_server_agree_and_the_operator_copes(
    scenario: Scenario, admission: Admission
) -> None:
    api, ns = scenario.api, scenario.ns
    grants = {ns: "member/granted, */everywhere"}
    admission(grants)
    started = time.monotonic()
    bodies = _draw(EXAMPLES)
    drawn = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: dry_run(api, ns, b), bodies))
    sent = time.monotonic()

    mismatches = []
    admitted: list[dict[str, Any]] = []
    for body, server in zip(bodies, answers, strict=True):
        models = af.verdict(ns, body, tenancy.Grants(grants))
        if (models is None) != (server is None):
            mismatches.append(f"models: {models}\nserver: {server}\nbody: {json.dumps(body)}")
        elif server is None:
            admitted.append(body)
    assert len(bodies) >= 1000
    assert not mismatches, f"{len(mismatches)} disagreements, e.g.\n" + "\n\n".join(mismatches[:5])
    assert len(admitted) >= 100, f"only {len(admitted)} of {len(bodies)} admitted"

    # The admitted ones, for real (unique names), with the operator running.
    sample = admitted[:REAL]
    deadlines: dict[str, float] = {}
    for i, body in enumerate(sample):
        name = f"fz-{i}"
        h.create_policy(api, ns, {**body, "metadata": {"name": name}})
        interval = body["spec"]["scaling"].get("evaluationInterval", 30)
        deadlines[name] = 2 * float(interval)
    operator = scenario.operator()
    ready_at = time.monotonic()
    pending = set(deadlines)

    def settle() -> bool:
        listed = support.custom_objects(api).list_namespaced_custom_object(
            h.GROUP, h.VERSION, ns, h.PLURAL
        )
        for item in listed["items"]:
            if (item.get("status") or {}).get("phase") in SETTLED:
                pending.discard(item["metadata"]["name"])
        late = [n for n in pending if time.monotonic() - ready_at > deadlines[n] + 15]
        assert not late, f"no phase within two intervals: {sorted(late)[:5]}"
        return not pending

    support.wait_until(settle, timeout=max(deadlines.values()) + 30, what="every policy's phase")
    log = operator.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
    print(
        f"\nfuzz: {len(bodies)} specs ({len(admitted)} admitted) drawn in {drawn - started:.1f}s, "
        f"dry-run in {sent - drawn:.1f}s; {len(sample)} created, all with a phase "
        f"{time.monotonic() - ready_at:.1f}s after the operator was ready"
    )
