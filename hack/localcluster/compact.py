"""etcd compaction through etcd's JSON gateway (no etcdctl needed).

Compacting at the current revision makes every older resourceVersion unusable: a watch the
API server must resume from etcd at such a version fails with 410 Gone, as after a long
partition in production.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the caller's loopback etcd URL
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def revision(etcd_url: str, *, timeout: float = 10.0) -> int:
    """etcd's current revision (from the header of a one-key range request)."""
    key = base64.b64encode(b"/registry/compact-probe").decode()
    answer = _post(f"{etcd_url}/v3/kv/range", {"key": key, "limit": 1}, timeout)
    return int(answer["header"]["revision"])


def compact(etcd_url: str, *, timeout: float = 30.0) -> int:
    """Compact etcd at its current revision (physically); returns that revision."""
    current = revision(etcd_url, timeout=timeout)
    _post(f"{etcd_url}/v3/kv/compaction", {"revision": str(current), "physical": True}, timeout)
    return current
