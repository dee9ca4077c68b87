"""Reading the target as plain JSON through the real client, against a local HTTP server:
the fields the workflow needs, and errors as clear as the client's models made them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, workloads

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "generation": 3},
    "spec": {
        "replicas": 4,
        "selector": {
            "matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "track", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
    },
    "status": {"observedGeneration": 3, "replicas": 5, "readyReplicas": 3},
}


class Server:
    """Answers every request with the next scripted (status, body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str]] = []
        self.paths: list[str] = []
        self.bodies: list[bytes] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        self.bodies.append(await request.read())
        status, body = self.answers.pop(0)
        return web.Response(status=status, text=body, content_type="application/json")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, k8s.ApiClient]]:
    server = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{port}"))
    try:
        yield server, api
    finally:
        await api.close()  # type: ignore[no-untyped-call]
        await runner.cleanup()


WEB = workloads.TargetRef("Deployment", "web", "shop", cluster="edge")


async def test_a_deployment_gives_replicas_readiness_and_selector(
    served: tuple[Server, k8s.ApiClient],
) -> None:
    server, api = served
    server.answers.append((200, json.dumps(DEPLOYMENT)))

    state = await workloads.read(api, WEB)

    assert server.paths == ["/apis/apps/v1/namespaces/shop/deployments/web"]
    assert state == workloads.TargetState(
        replicas=4,
        ready_replicas=3,
        total_replicas=5,
        selector="app=web,tier=front,track in (a,b),!canary",
        generation_observed=True,
    )


async def test_a_statefulset_without_status_or_replicas(
    served: tuple[Server, k8s.ApiClient],
) -> None:
    server, api = served
    body: dict[str, Any] = {"metadata": {"generation": 2}, "spec": {}}
    server.answers.append((200, json.dumps(body)))

    state = await workloads.read(api, workloads.TargetRef("StatefulSet", "db", "shop"))

    assert server.paths == ["/apis/apps/v1/namespaces/shop/statefulsets/db"]
    assert state == workloads.TargetState(1, 0, 0, "", False)


async def test_an_error_status_keeps_its_code_and_the_servers_message(
    served: tuple[Server, k8s.ApiClient],
) -> None:
    server, api = served
    status = {"kind": "Status", "code": 404, "message": 'deployments.apps "web" not found'}
    server.answers.append((404, json.dumps(status)))
    server.answers.append((403, "forbidden, and not JSON"))

    with pytest.raises(errors.ApiError) as missing:
        await workloads.read(api, WEB)
    with pytest.raises(errors.ApiError) as refused:
        await workloads.read(api, WEB)

    assert (missing.value.status, missing.value.reason) == (404, "NotFound")
    assert str(missing.value) == 'HTTP 404: deployments.apps "web" not found'
    assert missing.value.cluster == "edge"
    assert (refused.value.status, str(refused.value)) == (403, "HTTP 403: Forbidden")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("<html>proxy error</html>", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"spec": {"replicas": "four"}}), "replicas is 'four', not an integer"),
        (json.dumps({"status": ["x"]}), "status is not an object"),
    ],
)
async def test_an_answer_that_is_not_a_workload_is_a_clear_error(
    served: tuple[Server, k8s.ApiClient], body: str, says: str
) -> None:
    server, api = served
    server.answers.append((200, body))

    with pytest.raises(errors.ClientError) as info:
        await workloads.read(api, WEB)

    assert info.value.reason == "InvalidResponse"
    assert says in str(info.value)


async def test_no_server_is_unreachable_not_a_crash() -> None:
    api = k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9"))
    try:
        with pytest.raises(errors.ClusterUnreachableError, match="cluster 'edge' did not answer"):
            await workloads.read(api, WEB)
    finally:
        await api.close()  # type: ignore[no-untyped-call]
