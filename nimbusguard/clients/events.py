"""Kubernetes Events on a ScalingPolicy (what `kubectl describe` shows).

Posting an Event is best effort: a failure is logged and never fails a reconciliation.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Literal

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube

logger = logging.getLogger(__name__)

COMPONENT = "nimbusguard-operator"


@dataclasses.dataclass(frozen=True)
class InvolvedObject:
    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str


async def post(
    api: k8s.ApiClient,
    obj: InvolvedObject,
    *,
    type_: Literal["Normal", "Warning"],
    reason: str,
    message: str,
    instance: str,
) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "metadata": {"generateName": f"{obj.name}.", "namespace": obj.namespace},
        "involvedObject": {
            "apiVersion": obj.api_version,
            "kind": obj.kind,
            "name": obj.name,
            "namespace": obj.namespace,
            "uid": obj.uid,
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": f"nimbusguard.io/{COMPONENT}",
        "reportingInstance": instance[:128],
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    core = k8s.CoreV1Api(api)
    try:
        await kube.call(core.create_namespaced_event, obj.namespace, body)
    except errors.ClientError as exc:
        logger.warning("could not post the %s event %r: %s", type_, reason, exc)
