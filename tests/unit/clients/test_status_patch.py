"""A status write through the real client against a local HTTP server: the object back when
the caller asks for it, nothing decoded when it does not, and errors either way."""

from __future__ import annotations

import json

import pytest
from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, policies
from tests.unit.clients.test_target_read import Server, served

__all__ = ["served"]  # the fixture, used by name

PATH = "/apis/nimbusguard.io/v1/namespaces/shop/scalingpolicies/web/status"


async def test_the_written_object_comes_back_when_asked(
    served: tuple[Server, k8s.ApiClient],
) -> None:
    server, api = served
    server.answers.append((200, json.dumps({"metadata": {"resourceVersion": "8"}})))

    written = await policies.patch_status(
        api, "shop", "web", {"phase": "Learning"}, resource_version="7", uid="u1"
    )

    assert written == {"metadata": {"resourceVersion": "8"}}
    assert server.paths == [PATH]
    assert json.loads(server.bodies[0]) == {
        "status": {"phase": "Learning"},
        "metadata": {"resourceVersion": "7", "uid": "u1"},
    }


async def test_without_an_answer_nothing_is_decoded_but_errors_still_are(
    served: tuple[Server, k8s.ApiClient],
) -> None:
    server, api = served
    server.answers.append((200, "not even JSON: never read"))
    conflict = {
        "kind": "Status",
        "code": 409,
        "message": "Precondition failed: UID in precondition",
    }
    server.answers.append((409, json.dumps(conflict)))

    assert await policies.patch_status(api, "shop", "web", {}, answer=False) == {}
    with pytest.raises(errors.ApiError) as info:
        await policies.patch_status(api, "shop", "web", {}, uid="u2", answer=False)

    assert (info.value.status, str(info.value)) == (
        409,
        "HTTP 409: Precondition failed: UID in precondition",
    )
