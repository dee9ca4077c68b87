"""The demo's operator is approved its Prometheus the way a user approves one."""

from __future__ import annotations

import yaml

from hack.demo import operator
from nimbusguard.clients import endpoints


def test_the_endpoint_list_names_the_demo_prometheus_for_the_demo_namespace_only() -> None:
    listed = endpoints.EndpointsFile.model_validate(
        yaml.safe_load(operator.endpoints("http://10.0.0.1:9091", "demo"))
    )
    (entry,) = listed.endpoints
    assert (entry.name, entry.url, entry.namespaces) == (
        operator.ENDPOINT,
        "http://10.0.0.1:9091",
        ["demo"],
    )
