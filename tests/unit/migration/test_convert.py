"""`nimbusguard convert` on HPA and ScaledObject manifests of the kinds users write.

Every policy it writes validates against the generated CRD schema and the models; every field
it cannot carry over is named in the output; it exits non-zero only when nothing converted.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from api import crd
from api.v1 import scalingpolicy_types as types
from nimbusguard import cli, convert_cli, migration

MANIFESTS = Path(__file__).parent / "manifests"
VALIDATOR = jsonschema.Draft4Validator(crd.openapi_schema())


def _load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def _convert(name: str) -> migration.Conversion:
    (obj,) = [d for d in _load(name) if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]
    return migration.convert(obj)


def _spec(conversion: migration.Conversion) -> dict[str, Any]:
    assert conversion.policy is not None, conversion.notes
    VALIDATOR.validate(conversion.policy)
    types.ScalingPolicy.model_validate(conversion.policy)
    spec: dict[str, Any] = conversion.policy["spec"]
    return spec


def _fields(conversion: migration.Conversion) -> dict[str, migration.Note]:
    return {n.field: n for n in conversion.notes}


def test_the_hpa_walkthrough_converts_exactly() -> None:
    conversion = _convert("hpa-php-apache.yaml")
    spec = _spec(conversion)
    assert conversion.notes == ()
    assert spec["target"] == {"kind": "Deployment", "name": "php-apache"}
    assert spec["metrics"] == {"cpu": {"targetUtilization": 50}}
    scaling = spec["scaling"]
    assert (scaling["minReplicas"], scaling["maxReplicas"]) == (1, 10)
    # The HPA's defaults: 15 s sync, down-stabilization 300 s, policies per 15 s.
    assert scaling["evaluationInterval"] == 15
    assert scaling["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert scaling["behavior"]["scaleUp"] == {
        "stabilizationWindowSeconds": 0,
        "maxPods": 4,
        "maxPercent": 100,
    }
    assert (scaling["scaleUpCooldown"], scaling["scaleDownCooldown"]) == (15, 15)
    assert conversion.policy is not None
    assert conversion.policy["metadata"]["namespace"] == "default"


def test_behavior_bounds_and_tolerance_carry_over_and_memory_is_named() -> None:
    conversion = _convert("hpa-web-behavior.yaml")
    spec = _spec(conversion)
    scaling = spec["scaling"]
    assert (scaling["minReplicas"], scaling["maxReplicas"]) == (3, 40)
    assert scaling["behavior"]["scaleUp"] == {
        "stabilizationWindowSeconds": 0,
        "maxPods": 6,
        "maxPercent": 100,
    }
    # A percentage alone: the pod limit must not widen it.
    assert scaling["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 600,
        "maxPercent": 10,
        "maxPods": 1,
    }
    assert (scaling["scaleUpCooldown"], scaling["scaleDownCooldown"]) == (30, 120)
    assert scaling["behavior"]["tolerance"] == 0.05
    notes = _fields(conversion)
    assert "memory" in notes["spec.metrics[1]"].message
    assert notes["spec.metrics[1]"].dropped
    assert not notes["spec.behavior.*.tolerance"].dropped


def test_custom_metric_is_explained_and_the_rest_converted() -> None:
    conversion = _convert("hpa-requests-adapter.yaml")
    spec = _spec(conversion)
    assert spec["metrics"] == {"cpu": {"targetUtilization": 75}}
    note = _fields(conversion)["spec.metrics[0]"]
    assert "http_requests_per_second" in note.message
    assert "prometheus" in note.message


def test_an_external_metric_alone_converts_nothing_and_says_why() -> None:
    conversion = _convert("hpa-sqs-external.yaml")
    assert conversion.policy is None
    assert "sqs_messages_visible" in _fields(conversion)["spec.metrics[0]"].message


def test_disabled_scale_down_is_approximated_on_a_statefulset_with_default_metrics() -> None:
    conversion = _convert("hpa-statefulset-no-scale-down.yaml")
    spec = _spec(conversion)
    assert spec["target"]["kind"] == "StatefulSet"
    assert spec["metrics"] == {"cpu": {"targetUtilization": 80}}  # autoscaling/v2's default
    down = spec["scaling"]["behavior"]["scaleDown"]
    assert down["maxPods"] == 1
    assert spec["scaling"]["scaleDownCooldown"] == 86400
    assert not _fields(conversion)["spec.behavior.scaleDown.selectPolicy"].dropped


def test_keda_prometheus_with_scale_to_zero() -> None:
    conversion = _convert("keda-prometheus.yaml")
    spec = _spec(conversion)
    assert spec["metrics"]["prometheus"] == {
        "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
        "query": 'sum(rate(http_requests_total{service="frontend"}[2m]))',
        "targetValue": 50.0,
        "metricType": "AverageValue",
    }
    scaling = spec["scaling"]
    assert (scaling["minReplicas"], scaling["maxReplicas"]) == (0, 25)
    assert scaling["evaluationInterval"] == 15
    assert scaling["behavior"]["scaleDown"]["maxPods"] == 2
    assert scaling["scaleDownCooldown"] == 60
    notes = _fields(conversion)
    assert "activation" in notes["spec.triggers[0].metadata.activationThreshold"].message
    assert "spec.cooldownPeriod" in notes
    assert "vector(0)" in notes["spec.triggers[0].metadata.ignoreNullValues"].message


def test_keda_cpu_with_fallback_and_pause() -> None:
    conversion = _convert("keda-cpu-fallback-paused.yaml")
    spec = _spec(conversion)
    assert spec["paused"] is True
    assert spec["metrics"] == {"cpu": {"targetUtilization": 70}}
    assert spec["scaling"]["fallbackReplicas"] == 6
    assert (spec["scaling"]["minReplicas"], spec["scaling"]["maxReplicas"]) == (2, 16)
    assert spec["scaling"]["evaluationInterval"] == 30  # KEDA's default pollingInterval
    assert "spec.triggers[0].metadata.containerName" in _fields(conversion)


def test_keda_unsupported_trigger_next_to_a_prometheus_one() -> None:
    conversion = _convert("keda-kafka-and-prometheus.yaml")
    spec = _spec(conversion)
    assert spec["metrics"]["prometheus"]["metricType"] == "Value"
    assert spec["metrics"]["prometheus"]["targetValue"] == 0.5
    notes = _fields(conversion)
    assert "kafka" in notes["spec.triggers[0]"].message
    assert "spec.triggers[1].authenticationRef" in notes
    assert "spec.triggers[1].metadata.namespace" in notes
    assert "spec.triggers[1].metadata.ignoreNullValues" not in notes  # set to false: no change


def test_keda_only_unsupported_trigger_or_target_converts_nothing() -> None:
    rabbit = _convert("keda-rabbitmq.yaml")
    assert rabbit.policy is None
    assert "rabbitmq" in _fields(rabbit)["spec.triggers[0]"].message
    rollout = _convert("keda-argo-rollout.yaml")
    assert rollout.policy is None
    assert "Rollout" in _fields(rollout)["spec.scaleTargetRef"].message


def test_keda_min_zero_without_prometheus_becomes_one() -> None:
    obj = _load("keda-argo-rollout.yaml")[0]
    obj["spec"]["scaleTargetRef"] = {"name": "web"}
    conversion = migration.convert(obj)
    spec = _spec(conversion)
    assert spec["scaling"]["minReplicas"] == 1
    assert "prometheus" in _fields(conversion)["spec.minReplicaCount"].message


def test_an_old_hpa_api_version_is_refused_with_the_reason() -> None:
    obj = _load("hpa-php-apache.yaml")[0]
    obj["apiVersion"] = "autoscaling/v1"
    conversion = migration.convert(obj)
    assert conversion.policy is None
    assert "autoscaling/v2" in conversion.notes[0].message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("100", 100.0), ("500m", 0.5), (7, 7.0), ("1.5k", 1500.0), ("abc", None), (True, None)],
)
def test_quantities(value: object, expected: float | None) -> None:
    assert migration._quantity(value) == expected


# ---------------------------------------------------------------------------------------------
# the command


def _run(argv: list[str], stdin: str = "") -> int:
    args = cli.build_parser().parse_args(["convert", *argv])
    code: int = convert_cli._run(args, stdin=io.StringIO(stdin))
    return code


def test_a_directory_of_mixed_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["-f", str(MANIFESTS)]) == 0
    out, err = capsys.readouterr()
    policies = [d for d in yaml.safe_load_all(out) if d]
    assert len(policies) == 8
    for policy in policies:
        VALIDATOR.validate(policy)
    assert "8 of 11 HPAs/ScaledObjects converted" in err
    assert "skipped Deployment shop/checkout" in err
    assert "could not convert ScaledObject jobs/mailer" in err
    # What did not fit is in the output, next to the policy it concerns.
    assert "#   spec.metrics[1]: Resource memory" in out
    assert "# $ kubectl delete hpa web -n shop\n" in out


def test_stdin_and_a_kubectl_list(capsys: pytest.CaptureFixture[str]) -> None:
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": _load("hpa-php-apache.yaml") + _load("hpa-web-behavior.yaml"),
    }
    assert _run(["-f", "-"], stdin=yaml.safe_dump(listed)) == 0
    out, _ = capsys.readouterr()
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(out) if d]
    assert names == ["php-apache", "web"]


def test_nothing_convertible_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        [
            "-f",
            str(MANIFESTS / "keda-rabbitmq.yaml"),
            "-f",
            str(MANIFESTS / "hpa-sqs-external.yaml"),
        ]
    )
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "0 of 2" in err


def test_unreadable_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _run(["-f", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
    assert _run(["-f", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err
    assert "not YAML" in err


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "policies.yaml"
    assert _run(["-f", str(MANIFESTS / "hpa-php-apache.yaml"), "-o", str(out)]) == 0
    (policy,) = [d for d in yaml.safe_load_all(out.read_text()) if d]
    assert policy["kind"] == "ScalingPolicy"


def test_the_installed_command_reads_piped_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nimbusguard.cli", "convert"],
        input=(MANIFESTS / "keda-prometheus.yaml").read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "kind: ScalingPolicy" in done.stdout
