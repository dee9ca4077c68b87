"""The targets' state from one LIST and WATCH per cluster and kind, not a GET per evaluation.

At 1,000 policies every 15 s the target GETs were about 70 of the operator's ~100 API
requests a second, and their HTTP and JSON a sixth of its CPU in a leader's first round. A
watched view answers an evaluation's read from memory; the API server sends only what changed.

What keeps the view honest:
- a read falls back to a GET (`workloads.read`) whenever the view cannot vouch for the
  answer: before the first listing (after a short wait), while the watch is broken, for a
  target it does not hold (a GET gives the exact 404 or 403), and for a target this process
  scaled until the watch has delivered that write (`scaled`);
- the server ends each watch after WATCH_SECONDS and the next resumes from the last version
  seen; reads trust the view only while the server was heard from within VOUCH_SECONDS (a
  hung API server is then read with GETs, which time out and say so); a stream silent for
  longer is a dead connection, and a version too old (410) or any failure means a fresh
  listing;
- a LIST or WATCH across namespaces refused (403: a member cluster that binds the operator's
  role in the tenants' namespaces only) means one view per target namespace; refused there
  too, reads are GETs; either is retried after RETRY_REFUSED. Nothing fails that worked before.

Only the five fields an evaluation needs are kept per workload (`workloads.TargetState`), for
every workload of the kind in the cluster: a listing cannot be narrowed to targets, which
carry no common label. A view nobody has read for UNUSED_SECONDS (its policies gone, or
leadership lost) stops.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube, workloads

logger = logging.getLogger(__name__)

# Short watches: each one the server ends is news that it still answers. A hung API server
# (the process frozen, the connection open) sends nothing, and reads stop trusting the view
# VOUCH_SECONDS after the last news: they GET, time out and report the cluster unreachable,
# at most VOUCH_SECONDS later than one GET per evaluation did. One watch request per view
# every 3 s is what replaces one GET per evaluation.
WATCH_SECONDS = 3
VOUCH_SECONDS = WATCH_SECONDS + 2.0
# Beyond the server's own end of the stream: this much silence is a dead connection.
SILENCE_GRACE = 5.0
# How long a read waits for the first listing before it GETs: a leader's first round asks
# for every target at once, and one listing answers them all.
FIRST_LIST_WAIT = kube.READ_TIMEOUT
UNUSED_SECONDS = 600.0
RETRY_REFUSED = 300.0
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
# A scale without an answer may or may not have been applied, and no version says which:
# its target is read with GETs for this long.
UNANSWERED_WRITE_SECONDS = 30.0

Key = tuple[str, str]  # (namespace, name)


def _key(obj: dict[str, Any]) -> Key | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    namespace, name = meta.get("namespace"), meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return namespace, name


def _version(obj: dict[str, Any]) -> str | None:
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return version if isinstance(version, str) and version else None


class _View:
    """The watched workloads of one kind in one cluster."""

    def __init__(
        self,
        api: k8s.ApiClient,
        cluster: str | None,
        kind: str,
        namespace: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.api, self.cluster, self.kind, self.clock = api, cluster, kind, clock
        self.namespace = namespace  # None: every namespace
        self.items: dict[Key, workloads.TargetState] = {}
        # Targets this process scaled whose write the view has not seen yet: the version the
        # write produced (None: the write had no answer) and when it was made.
        self.unseen: dict[Key, tuple[str | None, float]] = {}
        self.live = False  # the view follows the server
        # When the server last showed it answers: a listing, an event, a watch it ended.
        self.heard = 0.0
        self.refused = False  # the server refused to list or watch (RBAC)
        self.listed = asyncio.Event()  # the first listing ended, in success or not
        self.used = clock()
        where = f"cluster {cluster!r}" if cluster else "the hub"
        self.where = f"{kind}s in " + (f"namespace {namespace} of {where}" if namespace else where)
        self.task = asyncio.create_task(self._run(), name=f"watch {self.where}")

    def lookup(self, ref: workloads.TargetRef) -> workloads.TargetState | None:
        """The target's state if the view vouches for it, else None (read it with a GET)."""
        if not self.live or self.clock() - self.heard > VOUCH_SECONDS:
            return None
        key = (ref.namespace, ref.name)
        unseen = self.unseen.get(key)
        if unseen is not None:
            version, since = unseen
            if version is not None or self.clock() - since < UNANSWERED_WRITE_SECONDS:
                return None
            del self.unseen[key]
        return self.items.get(key)

    def wrote(self, ref: workloads.TargetRef, version: str | None) -> None:
        self.unseen[(ref.namespace, ref.name)] = (version, self.clock())

    def _method(self) -> Callable[..., Any]:
        """The LIST (and WATCH) of the view's kind and scope, its namespace bound."""
        apps = k8s.AppsV1Api(self.api)
        if self.namespace is None:
            across: Callable[..., Any] = (
                apps.list_deployment_for_all_namespaces_without_preload_content
                if self.kind == "Deployment"
                else apps.list_stateful_set_for_all_namespaces_without_preload_content
            )
            return across
        listing: Callable[..., Any] = (
            apps.list_namespaced_deployment_without_preload_content
            if self.kind == "Deployment"
            else apps.list_namespaced_stateful_set_without_preload_content
        )
        return functools.partial(listing, self.namespace)

    async def _run(self) -> None:
        failures = 0
        try:
            while self.clock() - self.used < UNUSED_SECONDS:
                try:
                    version: str | None = await self._list()
                    while version is not None and self.clock() - self.used < UNUSED_SECONDS:
                        version = await self._watch(version)
                        if version is not None:
                            failures = 0  # a whole watch ran
                    if version is None:
                        # Once at once; again right after a listing, as any failure.
                        logger.info("the watch of %s must start over: listing again", self.where)
                        if failures:
                            await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF) - 1)])
                        failures += 1
                except errors.ApiError as exc:
                    if exc.status in (401, 403, 404):
                        # Before the readers wake: a refused view sends them elsewhere.
                        # Across namespaces, refused is the norm in a member cluster (its
                        # role is bound per tenant namespace): said once, without alarm.
                        level = (
                            logging.DEBUG
                            if self.refused
                            else logging.WARNING
                            if self.namespace
                            else logging.INFO
                        )
                        self.refused = True
                        self._stale()
                        logger.log(
                            level,
                            "%s: cannot list and watch (%s); reading %s, retrying in %.0fs",
                            self.where,
                            exc,
                            "with GETs" if self.namespace else "per namespace",
                            RETRY_REFUSED,
                        )
                        await asyncio.sleep(RETRY_REFUSED)
                    else:
                        failures = await self._back_off(exc, failures)
                except errors.ClientError as exc:
                    self._stale()
                    failures = await self._back_off(exc, failures)
                except Exception as exc:  # a bug here must not stop the reads: they GET
                    logger.exception("the watch of %s failed", self.where)
                    self._stale()
                    failures = await self._back_off(exc, failures)
        finally:
            self._stale()

    def _stale(self) -> None:
        self.live = False
        self.listed.set()

    async def _back_off(self, exc: Exception, failures: int) -> int:
        delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
        logger.info("the watch of %s failed (%s); targets are read with GETs", self.where, exc)
        await asyncio.sleep(delay)
        return failures + 1

    async def _list(self) -> str:
        """Every workload of the kind, page by page; the version to watch from."""
        began = self.clock()
        listing = self._method()
        items: dict[Key, workloads.TargetState] = {}
        token: str | None = None
        while True:
            page = await kube.call_json(
                listing,
                limit=kube.LIST_PAGE,
                _continue=token,
                timeout=kube.LIST_TIMEOUT,
                cluster=self.cluster,
            )
            objects = page.get("items") or []
            if not isinstance(objects, list):
                raise errors.ClientError(
                    f"a LIST of {self.where} answered items that are not a list",
                    reason="InvalidResponse",
                )
            for obj in objects:
                if isinstance(obj, dict):
                    self._keep(items, obj)
            meta = page.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            token = meta.get("continue") or None
            if token is None:
                break
        version = meta.get("resourceVersion")
        if not isinstance(version, str) or not version:
            raise errors.ClientError(
                f"a LIST of {self.where} answered no resourceVersion", reason="InvalidResponse"
            )
        self.items = items
        # The listing holds every write made before it began.
        self.unseen = {k: v for k, v in self.unseen.items() if v[1] >= began}
        self.live, self.refused = True, False
        self.heard = self.clock()
        self.listed.set()
        return version

    def _keep(self, items: dict[Key, workloads.TargetState], obj: dict[str, Any]) -> None:
        key = _key(obj)
        if key is None:
            return
        try:
            items[key] = workloads.state_of(obj, f"{self.kind} {key[0]}/{key[1]}")
        except errors.ClientError:
            # Not vouched for: a read of it GETs and reports the malformed field itself.
            items.pop(key, None)

    async def _watch(self, version: str) -> str | None:
        """Follow the changes after `version` until the server ends the stream; the last
        version seen, or None when the view must be listed again (410 Gone)."""
        listing = self._method()
        stream = kube.watch_events(
            listing,
            resource_version=version,
            allow_watch_bookmarks=True,
            seconds=WATCH_SECONDS,
            silence=WATCH_SECONDS + SILENCE_GRACE,
            cluster=self.cluster,
        )
        try:
            async with contextlib.aclosing(stream) as events:
                async for event in events:
                    self.heard = self.clock()
                    kind, obj = event.get("type"), event["object"]
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            return None
                        raise errors.ClientError(
                            f"the watch of {self.where} failed: {obj.get('message')}",
                            reason="WatchFailed",
                        )
                    version = _version(obj) or version
                    if kind == "BOOKMARK":
                        continue
                    key = _key(obj)
                    if key is None:
                        continue
                    if kind == "DELETED":
                        self.items.pop(key, None)
                    else:
                        self._keep(self.items, obj)
                    unseen = self.unseen.get(key)
                    if unseen is not None and unseen[0] == _version(obj):
                        del self.unseen[key]
        except errors.ApiError as exc:
            if exc.status == 410:
                return None
            raise
        self.heard = self.clock()  # the server ended the stream on time
        return version


class TargetCache:
    """Watched views of the targets, made on first read: one per (cluster, kind) across
    namespaces, or, where the cluster refuses that (a member that binds the operator's role
    in some namespaces only), one per target namespace, at most NAMESPACE_VIEWS of them."""

    NAMESPACE_VIEWS = 16  # each holds a connection of the cluster client's pool while it watches

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        on_read: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.clock = clock
        self._views: dict[tuple[str | None, str, str | None], _View] = {}
        # How reads were answered ("watch" or "get"), also told to `on_read` (/metrics).
        self.reads: collections.Counter[str] = collections.Counter()
        self.on_read = on_read

    async def read(self, api: k8s.ApiClient, ref: workloads.TargetRef) -> workloads.TargetState:
        """The target's state: from a view when it vouches for it, else one GET."""
        state = await self._watched(api, ref)
        source = "watch" if state is not None else "get"
        self.reads[source] += 1
        self.on_read(source)
        return state if state is not None else await workloads.read(api, ref)

    async def _watched(
        self, api: k8s.ApiClient, ref: workloads.TargetRef
    ) -> workloads.TargetState | None:
        if ref.kind not in workloads.SUPPORTED_KINDS:
            return None
        view = await self._settled(self._view(api, ref, None))
        if view is not None and view.refused:
            view = await self._settled(self._view(api, ref, ref.namespace))
        return view.lookup(ref) if view is not None else None

    async def _settled(self, view: _View | None) -> _View | None:
        """`view` once its first listing has ended (or FIRST_LIST_WAIT has passed)."""
        if view is None:
            return None
        view.used = self.clock()
        if not view.listed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_LIST_WAIT):
                    await view.listed.wait()
        return view

    def _view(
        self, api: k8s.ApiClient, ref: workloads.TargetRef, namespace: str | None
    ) -> _View | None:
        key = (ref.cluster, ref.kind, namespace)
        view = self._views.get(key)
        # A member's client is replaced when its kubeconfig changes or its credentials are
        # refused: the view follows the client the evaluations use.
        if view is not None and not view.task.done() and view.api is api:
            return view
        if view is not None:
            view.task.cancel()
            del self._views[key]
        if namespace is not None and self._namespace_views(ref) >= self.NAMESPACE_VIEWS:
            return None
        view = self._views[key] = _View(api, ref.cluster, ref.kind, namespace, self.clock)
        return view

    def _namespace_views(self, ref: workloads.TargetRef) -> int:
        return sum(
            1
            for (cluster, kind, namespace), view in self._views.items()
            if (cluster, kind) == (ref.cluster, ref.kind)
            and namespace is not None
            and not view.task.done()
        )

    def _holding(self, ref: workloads.TargetRef) -> list[_View]:
        keys = ((ref.cluster, ref.kind, None), (ref.cluster, ref.kind, ref.namespace))
        return [view for key in keys if (view := self._views.get(key)) is not None]

    def scaled(self, ref: workloads.TargetRef, result: workloads.Scaled) -> None:
        """This process wrote the target's replicas: read it with GETs until the views have
        seen the write."""
        for view in self._holding(ref):
            view.wrote(ref, result.resource_version)

    def unanswered(self, ref: workloads.TargetRef) -> None:
        """A scale of the target got no answer: it may have been applied."""
        for view in self._holding(ref):
            view.wrote(ref, None)

    async def close(self) -> None:
        views, self._views = list(self._views.values()), {}
        for view in views:
            view.task.cancel()
        for view in views:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await view.task
