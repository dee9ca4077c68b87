"""One async Kubernetes API client per cluster: the hub the operator runs in, and the member
clusters named by contexts of a separate kubeconfig.

Clients are created once per context, on first use, and closed on shutdown. The member
kubeconfig is re-read when its file changes (a mounted Secret is updated in place), so a
policy that named a context before it existed recovers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from kubernetes.aio import client as k8s, config as k8s_config

from nimbusguard.clients import errors, loop_thread

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A generous bound for one API call (watch streams have their own: `watch_events`).
DEFAULT_TIMEOUT = 10.0
# Reading one target is a GET of one small object: a cluster that cannot answer it in 5 s is
# reported unreachable within an interval + 10 s of hanging (+ 5 s more when the read was
# answered by a watch until then: target_cache.VOUCH_SECONDS), not an interval + 15 s more.
READ_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class HubConfig:
    """How to reach the hub: in-cluster service account, or a kubeconfig file and context."""

    kubeconfig: Path | None = None
    context: str | None = None

    def describe(self) -> str:
        if self.kubeconfig is None and self.context is None and in_cluster():
            return "in-cluster service account"
        where = str(self.kubeconfig) if self.kubeconfig else "default kubeconfig"
        return f"{where}, context {self.context or '(current)'}"


def in_cluster() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ


# Environment variables that aiohttp's `trust_env` reads: proxies, and a .netrc's location.
_ENV_ROUTING = frozenset(
    ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy", "no_proxy", "netrc")
)


def skip_env_lookups(
    configuration: k8s.Configuration,
    environ: Mapping[str, str] = os.environ,
    netrc: Path | None = None,
) -> bool:
    """Turn off aiohttp's per-request reading of proxy variables and ~/.netrc when there is
    nothing to find; True when it did.

    The client opens its session with `trust_env=True`, and aiohttp then reads the proxy
    variables and parses ~/.netrc for every request, each in a worker thread: two thread
    hops per API call, several % of the operator's CPU at hundreds of calls a second. A
    proxy variable or a .netrc (read once, here) keeps the lookups on.
    """
    if any(name.lower() in _ENV_ROUTING for name in environ):
        return False
    if (netrc or Path("~/.netrc").expanduser()).exists():
        return False
    configuration.client_session_kwargs = {
        **(configuration.client_session_kwargs or {}),
        "trust_env": False,
    }
    return True


def _api_client(configuration: k8s.Configuration) -> k8s.ApiClient:
    skip_env_lookups(configuration)
    return k8s.ApiClient(configuration)


async def new_hub_client(cfg: HubConfig) -> k8s.ApiClient:
    """An ApiClient for the hub cluster."""
    if cfg.kubeconfig is None and cfg.context is None and in_cluster():
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        return _api_client(configuration)
    path = str(cfg.kubeconfig) if cfg.kubeconfig else None
    configuration = k8s.Configuration()
    try:
        loader = await k8s_config.load_kube_config(
            config_file=path,
            context=cfg.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except k8s_config.ConfigException as exc:
        raise errors.ConfigError(
            f"cannot load the hub kubeconfig ({cfg.describe()}): {exc}"
        ) from exc
    _refresh_expiring_exec_token(loader, configuration)
    return _api_client(configuration)


def _refresh_expiring_exec_token(loader: Any, configuration: k8s.Configuration) -> None:
    """Re-run an exec plugin whose token has expired before the next request uses it.

    NB: the kubeconfig loader runs the plugin once; without this hook an EKS/GKE-style token
    (minutes long) would expire under the operator. Only a plugin that reports an
    expirationTimestamp gets the hook: one without would be re-run on every request.
    """
    if not hasattr(loader, "exec_plugin_expiry"):
        return

    async def refresh(conf: k8s.Configuration) -> None:
        await loader.load_from_exec_plugin()  # a no-op until the token expires
        conf.api_key["BearerToken"] = loader.token

    # The generated Configuration types the hook as None; it accepts a (sync or async) callable.
    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]


def member_contexts(path: Path) -> set[str]:
    """Context names in a kubeconfig file (raises ConfigError when it is not a kubeconfig)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise errors.ConfigError(
            f"cannot read the member-clusters kubeconfig {path}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise errors.ConfigError(f"{path} is not a kubeconfig (no mapping at the top)")
    return {str(c.get("name")) for c in data.get("contexts") or [] if isinstance(c, dict)}


class ClusterClients:
    """The ApiClient for each cluster a policy may target (None = the hub), and the hub client
    of the Leases (`coordination`).

    The Leases get an ApiClient, so a connection pool, of their own: the evaluations' burst
    after a start or a takeover (hundreds of policies, each with a few calls in flight) fills
    the hub client's pool, and a renewal queued behind it misses the renew deadline, so the
    leader would lose its Lease to its own load. Without a `coordination` client (tests that
    hold no Lease) the hub's is used.

    One lock per context, held only while that context's client is created and bounded by
    CREATE_TIMEOUT (an exec plugin may hang): a slow or broken cluster never holds up
    another's policies. When the member kubeconfig changes, clients are replaced, and the old
    ones are closed only after RETIRE_SECONDS, so calls already under way finish on them.
    """

    CREATE_TIMEOUT = 15.0
    RETIRE_SECONDS = 3 * DEFAULT_TIMEOUT

    def __init__(
        self,
        hub: k8s.ApiClient,
        member_kubeconfig: Path | None,
        *,
        coordination: k8s.ApiClient | None = None,
        lease_loop: loop_thread.LoopThread | None = None,
    ) -> None:
        self.hub = hub
        self.coordination = coordination if coordination is not None else hub
        # Where `coordination` was made and must be used and closed (None: the caller's loop).
        self.lease_loop = lease_loop
        self.member_kubeconfig = member_kubeconfig
        self._members: dict[str, k8s.ApiClient] = {}
        self._mtime: float | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def get(self, cluster: str | None) -> k8s.ApiClient:
        """The client of `cluster`; raises ClusterConfigError when it cannot be known."""
        if cluster is None:
            return self.hub
        self._refresh_if_changed()
        existing = self._members.get(cluster)
        if existing is not None:
            return existing
        lock = self._locks.setdefault(cluster, asyncio.Lock())
        try:
            async with asyncio.timeout(self.CREATE_TIMEOUT):
                async with lock:
                    existing = self._members.get(cluster)
                    if existing is not None:
                        return existing
                    api = await self._create(cluster)
        except TimeoutError as exc:
            raise errors.ClusterUnreachableError(
                f"cluster {cluster!r}: creating its client took longer than "
                f"{self.CREATE_TIMEOUT:g}s (a credential plugin that does not answer?)"
            ) from exc
        self._members[cluster] = api
        logger.info("created a client for member cluster %r", cluster)
        return api

    async def _create(self, cluster: str) -> k8s.ApiClient:
        path = self.member_kubeconfig
        if path is None:
            raise errors.ClusterConfigError(
                "MemberKubeconfigMissing",
                f"target.cluster is {cluster!r} but the operator was started without a "
                "member-clusters kubeconfig (--member-kubeconfig)",
            )
        if not path.exists():
            raise errors.ClusterConfigError(
                "MemberKubeconfigMissing",
                f"target.cluster is {cluster!r} but the member-clusters kubeconfig {path} "
                "does not exist (is the Secret mounted?)",
            )
        contexts = await asyncio.to_thread(member_contexts, path)
        if cluster not in contexts:
            # Tenants read this message: it names their own context only, not the other
            # members (other tenants' clusters) nor the operator's files.
            logger.info("no context %r in %s (contexts: %s)", cluster, path, sorted(contexts))
            raise errors.ClusterConfigError(
                "UnknownCluster",
                f"spec.target.cluster: context {cluster!r} is not in the operator's "
                "member-clusters kubeconfig; ask the operator's installer for the name",
            )
        try:
            api: k8s.ApiClient = await k8s_config.new_client_from_config(
                config_file=str(path), context=cluster, persist_config=False
            )
        except (k8s_config.ConfigException, OSError, ValueError) as exc:
            logger.warning("context %r in %s is unusable: %s", cluster, path, exc)
            raise errors.ClusterConfigError(
                "InvalidClusterConfig",
                f"context {cluster!r} of the member-clusters kubeconfig is unusable (the "
                "operator's log says why)",
            ) from exc
        skip_env_lookups(api.configuration)  # its session is opened by the first request
        return api

    def invalidate(self, cluster: str) -> None:
        """Drop a client whose credentials were refused (401): the next use builds a new
        one from the kubeconfig as it is now (a rotated token, a re-run exec plugin)."""
        api = self._members.pop(cluster, None)
        if api is not None:
            self._retire([api])

    def _refresh_if_changed(self) -> None:
        path = self.member_kubeconfig
        if path is None:
            return
        try:
            mtime: float | None = path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime != self._mtime:
            if self._members:
                logger.info("member-clusters kubeconfig changed; reconnecting lazily")
            old, self._members = list(self._members.values()), {}
            self._mtime = mtime
            self._retire(old)

    def _retire(self, apis: list[k8s.ApiClient]) -> None:
        if not apis:
            return
        task = asyncio.create_task(self._close_later(apis), name="retire member clients")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _close_later(self, apis: list[k8s.ApiClient]) -> None:
        try:
            await asyncio.sleep(self.RETIRE_SECONDS)
        finally:
            for api in apis:
                with contextlib.suppress(Exception):
                    await api.close()

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()  # closes its clients now
            with contextlib.suppress(asyncio.CancelledError):
                await task
        members, self._members = self._members, {}
        for api in members.values():
            with contextlib.suppress(Exception):
                await api.close()
        if self.coordination is not self.hub:
            with contextlib.suppress(Exception):
                await self.in_lease_loop(self.coordination.close())
        with contextlib.suppress(Exception):
            await self.hub.close()

    async def in_lease_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` where the Lease client lives: its own thread's loop, if it has one."""
        if self.lease_loop is None:
            return await coro
        return await self.lease_loop.run(coro)


@contextlib.asynccontextmanager
async def _answered(timeout: float, cluster: str | None) -> AsyncIterator[None]:  # noqa: ASYNC109
    """A hard timeout around an API call, and its failures as our error types."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except k8s.ApiException as exc:
        raise errors.ApiError.from_exception(exc, cluster=cluster) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # Conditions and Events carry this: the kind of failure, never the server's address.
        logger.debug("%s did not answer: %r", _where(cluster), exc)
        raise errors.ClusterUnreachableError(
            f"{_where(cluster)} did not answer ({type(exc).__name__})"
        ) from exc


def _where(cluster: str | None) -> str:
    return f"cluster {cluster!r}" if cluster else "the hub cluster"


async def call(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (applying it is this wrapper's job)
    cluster: str | None = None,
    **kwargs: Any,
) -> T:
    """Call an API method with a hard timeout, mapping failures to our error types.

    Connection failures and timeouts become ClusterUnreachableError; ApiExceptions become ApiError
    with the HTTP status kept, so callers can tell 404 from 403 from 409.
    """
    async with _answered(timeout, cluster):
        return await fn(*args, **kwargs)


async def call_json(
    fn: Callable[..., Awaitable[Any]],
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (applying it is this wrapper's job)
    cluster: str | None = None,
    answer: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """`call` for a `*_without_preload_content` method: the answer as plain JSON (with
    `answer=False` a success is an empty dict, its body not decoded).

    The client's model classes cost about 20 pydantic validations to read one Deployment (its
    managedFields, pod template and conditions included); a caller that needs three fields
    reads the JSON. Failures are `call`'s: an error status is an ApiError with the server's
    message, and an answer that is not a JSON object says so.
    """
    async with _answered(timeout, cluster):
        response = await fn(*args, **kwargs)
        try:
            raw = await response.read()
        finally:
            response.release()
    status = int(response.status)
    if not 200 <= status < 300:
        raise errors.ApiError.from_answer(status, response.reason, raw, cluster=cluster)
    if not answer:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise errors.ClientError(
            f"{_where(cluster)} answered HTTP {status} with something that is not a JSON object",
            reason="InvalidResponse",
        )
    return data


async def watch_events(
    fn: Callable[..., Awaitable[Any]],
    *args: Any,
    seconds: int,
    silence: float,
    cluster: str | None = None,
    **kwargs: Any,
) -> AsyncGenerator[dict[str, Any], None]:
    """The events of one WATCH (`fn`, a `*_without_preload_content` list method), each as
    plain JSON, until the server ends the stream after `seconds`.

    A stream that sends nothing for `silence` seconds is taken for a dead connection
    (ClusterUnreachableError): a half-open TCP connection would otherwise stall the watcher
    for good. Use it under `contextlib.aclosing`, so a watcher that stops early closes the
    connection rather than returning a half-read stream to the pool.
    """
    async with _answered(DEFAULT_TIMEOUT, cluster):
        response = await fn(
            *args,
            watch=True,
            timeout_seconds=seconds,
            _request_timeout=seconds + 2 * silence,
            **kwargs,
        )
    try:
        status = int(response.status)
        if not 200 <= status < 300:
            async with _answered(DEFAULT_TIMEOUT, cluster):
                raw = await response.read()
            raise errors.ApiError.from_answer(status, response.reason, raw, cluster=cluster)
        pending = b""
        while True:
            async with _answered(silence, cluster):
                chunk = await response.content.readany()
            if not chunk:
                return
            # Objects are split across chunks, and a chunk may hold several events.
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    yield _event(line, cluster)
    finally:
        response.close()


def _event(line: bytes, cluster: str | None) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise errors.ClientError(
            f"{_where(cluster)} sent a watch event that is not a JSON object with an object",
            reason="InvalidResponse",
        )
    return event


# A LIST of metadata only (PartialObjectMetadataList), in pages: for callers that need names,
# uids or resourceVersions, not a thousand full objects (about 16 MB of JSON for policies).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
LIST_PAGE = 250
LIST_TIMEOUT = 30.0


async def metadata_pages(
    fn: Callable[..., Awaitable[Any]], *args: Any, what: str, **kwargs: Any
) -> AsyncIterator[list[dict[str, Any]]]:
    """The items' metadata of a LIST (`fn`, a `*_without_preload_content` list method), one
    page at a time. A page whose items or continue token are malformed fails the whole LIST
    (InvalidResponse): a caller acting on a partial listing could drop live objects."""
    token: str | None = None
    while True:
        page = await call_json(
            fn,
            *args,
            limit=LIST_PAGE,
            _continue=token,
            _headers={"Accept": METADATA_ONLY},
            timeout=LIST_TIMEOUT,
            **kwargs,
        )
        items = page.get("items") or []
        metas = [i.get("metadata") if isinstance(i, dict) else None for i in items]
        if not isinstance(items, list) or not all(isinstance(m, dict) for m in metas):
            raise errors.ClientError(
                f"a LIST of {what} answered an item without metadata", reason="InvalidResponse"
            )
        yield [m for m in metas if isinstance(m, dict)]  # all of them, checked above
        meta = page.get("metadata")
        token = meta.get("continue") or None if isinstance(meta, dict) else None
        if token is not None and not isinstance(token, str):
            raise errors.ClientError(
                f"a LIST of {what} answered a continue token that is not a string",
                reason="InvalidResponse",
            )
        if token is None:
            return


@contextlib.asynccontextmanager
async def clients(
    hub: HubConfig,
    member_kubeconfig: Path | None,
    *,
    lease_loop: loop_thread.LoopThread | None = None,
) -> AsyncIterator[ClusterClients]:
    """ClusterClients for the life of the block; every client is closed afterwards. With
    `lease_loop`, the Lease client is made on (and must be used from) that thread's loop."""
    api = await new_hub_client(hub)
    try:
        made = new_hub_client(hub)
        coordination = await (lease_loop.run(made) if lease_loop else made)
    except BaseException:
        await api.close()
        raise
    registry = ClusterClients(
        api, member_kubeconfig, coordination=coordination, lease_loop=lease_loop
    )
    try:
        yield registry
    finally:
        await registry.close()
