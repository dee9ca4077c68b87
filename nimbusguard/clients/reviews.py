"""Who is calling, and may they? TokenReview and SubjectAccessReview against the hub.

What kube-apiserver's delegated authentication and authorization do for kubebuilder's
metrics endpoint: the bearer token is reviewed by the API server (TokenReview), and the
user it names is checked for `get` on the non-resource URL (SubjectAccessReview), so
`/metrics` is readable by exactly whom RBAC allows (e.g. the `metrics-reader` ClusterRole).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import kube


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]
    extra: dict[str, list[str]]


async def authenticate(api: k8s.ApiClient, token: str) -> User | None:
    """The user a bearer token belongs to, or None when the API server does not accept it."""
    review: Any = await kube.call(
        k8s.AuthenticationV1Api(api).create_token_review,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    status = review.status
    if status is None or not status.authenticated or status.user is None:
        return None
    user = status.user
    return User(
        name=user.username or "",
        uid=user.uid or "",
        groups=tuple(user.groups or ()),
        extra={k: list(v) for k, v in (user.extra or {}).items()},
    )


async def may(api: k8s.ApiClient, user: User, path: str, verb: str) -> bool:
    """Whether RBAC lets `user` do `verb` on the non-resource URL `path`."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user.name,
            "uid": user.uid,
            "groups": list(user.groups),
            "extra": user.extra,
            "nonResourceAttributes": {"path": path, "verb": verb},
        },
    }
    review: Any = await kube.call(k8s.AuthorizationV1Api(api).create_subject_access_review, body)
    return bool(review.status is not None and review.status.allowed)
