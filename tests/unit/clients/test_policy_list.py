"""Metadata-only LISTs through the real client against a local HTTP server: the sweep's policy
uids (in pages, every page read, per namespace when restricted) and a standby's Q-table
versions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, policies, qtables


class ListServer:
    def __init__(self) -> None:
        self.pages: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[tuple[str, dict[str, str], str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query), request.headers["Accept"]))
        status, body = self.pages.pop(0)
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")


@pytest.fixture
async def listed() -> AsyncIterator[tuple[ListServer, k8s.ApiClient]]:
    server = ListServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        yield server, api
    finally:
        await api.close()  # type: ignore[no-untyped-call]
        await runner.cleanup()


def _page(uids: list[str], token: str = "") -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadataList",
        "metadata": {"continue": token},
        "items": [{"metadata": {"uid": u, "name": u}} for u in uids],
    }


async def test_every_page_is_read_and_only_metadata_is_asked_for(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    server, api = listed
    server.pages += [(200, _page(["a", "b"], "t1")), (200, _page(["c"]))]

    assert await policies.list_uids(api) == {"a", "b", "c"}

    paths = [path for path, _, _ in server.requests]
    assert paths == ["/apis/nimbusguard.io/v1/scalingpolicies"] * 2
    first, second = (query for _, query, _ in server.requests)
    assert first == {"limit": str(policies.LIST_PAGE)}
    assert second == {"limit": str(policies.LIST_PAGE), "continue": "t1"}
    assert all("as=PartialObjectMetadataList" in accept for _, _, accept in server.requests)


async def test_restricted_namespaces_are_listed_one_by_one(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    server, api = listed
    server.pages += [(200, _page(["a"])), (200, _page(["b"]))]

    assert await policies.list_uids(api, ("shop", "blog")) == {"a", "b"}

    assert [path for path, _, _ in server.requests] == [
        "/apis/nimbusguard.io/v1/namespaces/shop/scalingpolicies",
        "/apis/nimbusguard.io/v1/namespaces/blog/scalingpolicies",
    ]


async def test_a_failed_page_fails_the_whole_list(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    """A partial list must never be taken for the truth: the sweep would forget the rest."""
    server, api = listed
    server.pages += [
        (200, _page(["a"], "t1")),
        (410, {"kind": "Status", "code": 410, "message": "continue token expired"}),
    ]

    with pytest.raises(errors.ApiError):
        await policies.list_uids(api)


@pytest.mark.parametrize(
    "items",
    [
        [{"metadata": {"uid": "b"}}, {"metadata": {"name": "no-uid"}}],
        [{"metadata": {"uid": "b"}}, "not an object"],
        [{"metadata": {"uid": "b"}}, {"metadata": None}],
        [{"metadata": {"uid": "b"}}, {"metadata": "not an object"}],
        [{"metadata": {"uid": ""}}],
        "not a list",
    ],
)
async def test_an_item_without_a_uid_fails_the_whole_list(
    listed: tuple[ListServer, k8s.ApiClient], items: Any
) -> None:
    """Taken as it is, the set would lack a live policy and the sweep would stop it."""
    server, api = listed
    server.pages.append((200, {"kind": "PartialObjectMetadataList", "items": items}))

    with pytest.raises(errors.ClientError) as raised:
        await policies.list_uids(api)
    assert raised.value.reason == "InvalidResponse"


async def test_a_continue_token_that_is_not_a_string_fails_the_list(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    """Sent back as it came, a hostile token would be the next request's query string."""
    server, api = listed
    server.pages.append((200, {"items": [{"metadata": {"uid": "a"}}], "metadata": {"continue": 7}}))

    with pytest.raises(errors.ClientError) as raised:
        await policies.list_uids(api)
    assert raised.value.reason == "InvalidResponse"


async def test_the_table_versions_are_listed_by_label_in_pages(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    server, api = listed

    def page(versions: dict[str, str], token: str = "") -> dict[str, Any]:
        items = [{"metadata": {"name": n, "resourceVersion": v}} for n, v in versions.items()]
        return {
            "kind": "PartialObjectMetadataList",
            "metadata": {"continue": token},
            "items": items,
        }

    server.pages += [(200, page({"t-a": "11", "t-b": "12"}, "t1")), (200, page({"t-c": "9"}))]

    found = await qtables.versions(api, "nimbusguard-system", "component=qtable")

    assert found == {"t-a": "11", "t-b": "12", "t-c": "9"}
    assert [path for path, _, _ in server.requests] == [
        "/api/v1/namespaces/nimbusguard-system/configmaps"
    ] * 2
    assert all(q["labelSelector"] == "component=qtable" for _, q, _ in server.requests)
    assert all("as=PartialObjectMetadataList" in accept for _, _, accept in server.requests)


async def test_a_malformed_table_listing_fails_whole(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    """A malformed answer fails the listing, as the sweep's does: nothing is half-used."""
    server, api = listed
    server.pages.append((200, {"items": [{"metadata": {"name": "t-a"}}, "not an object"]}))

    with pytest.raises(errors.ClientError) as raised:
        await qtables.versions(api, "nimbusguard-system", "component=qtable")
    assert raised.value.reason == "InvalidResponse"


async def test_served_reads_discovery_and_a_404_means_not_yet(
    listed: tuple[ListServer, k8s.ApiClient],
) -> None:
    server, api = listed
    resources = {
        "kind": "APIResourceList",
        "groupVersion": "nimbusguard.io/v1",
        "resources": [
            {"name": n, "singularName": "", "namespaced": True, "kind": "ScalingPolicy",
             "verbs": ["get"]}
            for n in ("scalingpolicies", "scalingpolicies/status")
        ],
    }  # fmt: skip
    server.pages += [
        (200, resources),
        (200, {**resources, "resources": []}),
        (404, {"kind": "Status", "code": 404}),
        (403, {"kind": "Status", "code": 403}),
    ]
    assert await policies.served(api) is True
    assert await policies.served(api) is False  # the group is there, the kind not (yet)
    assert await policies.served(api) is False  # no such group: the CRD is not installed
    with pytest.raises(errors.ApiError):
        await policies.served(api)
    assert {path for path, _, _ in server.requests} == {"/apis/nimbusguard.io/v1"}
