"""Histories of one object's field, recorded from a watch (every change the server made
visible, in order), not from polls that can miss a value between two reads.

`ScaleHistory` records a Deployment's `spec.replicas` (what its scale subresource sets);
`StatusHistory` records a ScalingPolicy's `status.lastScalingTime` and `status.lastScale.id`.
Each entry keeps the object's resourceVersion and when the watch delivered it.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes

from tests.e2e import support
from tests.e2e.controller import helpers as h


@dataclass(frozen=True)
class Change:
    value: Any
    resource_version: str
    seen: float  # time.time() when the watch delivered it


class _History:
    """Watch one named object in a daemon thread; record `extract(obj)` whenever it changes."""

    def __init__(
        self,
        list_fn: Callable[..., Any],
        list_args: tuple[Any, ...],
        name: str,
        extract: Callable[[Any], Any],
    ) -> None:
        self._list_fn, self._list_args, self._name = list_fn, list_args, name
        self._extract = extract
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changes: list[Change] = []
        self._watch: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def changes(self) -> list[Change]:
        with self._lock:
            return list(self._changes)

    def values(self) -> list[Any]:
        return [c.value for c in self.changes]

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        self._thread.join(timeout=40)

    def _record(self, obj: Any) -> None:
        meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
        rv = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
        value = self._extract(obj)
        with self._lock:
            if not self._changes or self._changes[-1].value != value:
                self._changes.append(Change(value, str(rv), time.time()))

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            self._watch = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
            kwargs: dict[str, Any] = {
                "field_selector": f"metadata.name={self._name}",
                "timeout_seconds": 20,
            }
            if resource_version:
                kwargs["resource_version"] = resource_version
            try:
                for event in self._watch.stream(self._list_fn, *self._list_args, **kwargs):
                    if event["type"] == "ERROR":
                        resource_version = None
                        break
                    obj = event["object"]
                    if event["type"] != "DELETED":
                        self._record(obj)
                    meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
                    rv = meta["resourceVersion"] if isinstance(meta, dict) else None
                    resource_version = rv or meta.resource_version
                    if self._stop.is_set():
                        break
            except kubernetes.client.ApiException as error:
                if error.status == 410:
                    resource_version = None
                self._stop.wait(0.5)
            except Exception:  # a watch hiccup: resume
                self._stop.wait(0.5)


class ScaleHistory(_History):
    """`spec.replicas` of Deployment `namespace/name` over time."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        super().__init__(
            support.apps_v1(api).list_namespaced_deployment,
            (namespace,),
            name,
            lambda d: int(d.spec.replicas),
        )


def _status_fields(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    status = obj.get("status") or {}
    return status.get("lastScalingTime"), (status.get("lastScale") or {}).get("id")


class StatusHistory(_History):
    """(`status.lastScalingTime`, `status.lastScale.id`) of ScalingPolicy `namespace/name`."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        custom = support.custom_objects(api)

        def list_policies(namespace: str, **kwargs: Any) -> Any:
            return custom.list_namespaced_custom_object(
                h.GROUP, h.VERSION, namespace, h.PLURAL, **kwargs
            )

        super().__init__(list_policies, (namespace,), name, _status_fields)

    def scaling_times(self) -> list[datetime.datetime]:
        """Every lastScalingTime the server held, in order (repeats when it moved back)."""
        times = [c.value[0] for c in self.changes if c.value[0]]
        out: list[datetime.datetime] = []
        for stamp in times:
            parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if not out or out[-1] != parsed:
                out.append(parsed)
        return out
