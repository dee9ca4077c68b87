"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it.

A candidate takes the Lease when it is free or its holder has not renewed it for a whole
lease duration *as observed locally* (no comparison of clocks between hosts). The leader
renews every retry period; if it cannot renew within the renew deadline it must stop acting
before anyone else may take over (renew deadline < lease duration). Every API call has a
timeout shorter than the renew deadline, so a hung connection cannot keep a stale leader.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes.aio import client as k8s

from nimbusguard.clients import errors, kube

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LeaseSettings:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise errors.ConfigError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


class LeadershipLostError(Exception):
    """The Lease could not be renewed within the renew deadline."""


@dataclasses.dataclass(frozen=True)
class _Record:
    holder: str
    renew_time: str
    lease_duration: int


class LeaderElector:
    """Acquires and holds one Lease for this process."""

    def __init__(
        self,
        api: k8s.ApiClient,
        settings: LeaseSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._coord = k8s.CoordinationV1Api(api)
        self.settings = settings
        self._monotonic = monotonic
        self._observed: _Record | None = None
        self._observed_at = 0.0
        # The Lease as this leader last wrote it (with the server's resourceVersion): renewals
        # replace it directly, one round trip instead of a read and a replace; a write by
        # anyone else since makes that a 409, and the next attempt reads first.
        self._written: Any = None
        self.is_leader = False
        self.leader: str | None = None
        self.last_contact: float | None = None  # monotonic time of the last answered call
        # The fence: until when (monotonic) this instance may act. A renewal that succeeds
        # moves it to the moment the renewal was *sent* plus the renew deadline; a standby
        # counts the lease duration from when it *saw* that renewal, later. So every write
        # checked against `may_act()` leaves before anyone else may lead.
        self.valid_until = 0.0

    @property
    def _timeout(self) -> float:
        return max(1.0, self.settings.renew_deadline / 2)

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        logger.info(
            "waiting to lead as %s (lease %s/%s)",
            self.settings.identity,
            self.settings.namespace,
            self.settings.name,
        )
        while True:
            if await self._try_acquire_or_renew():
                break
            await asyncio.sleep(self.settings.retry_period)
        logger.info("became the leader as %s", self.settings.identity)

    def may_act(self) -> bool:
        """True while this instance is the leader and its last renewal is fresh enough."""
        return self.is_leader and self._monotonic() < self.valid_until

    async def hold(self) -> None:
        """Renew until renewal fails for the renew deadline; then raise LeadershipLostError.

        Each attempt is bounded by what is left of the renew deadline (at least one retry
        period): a hung call cannot carry the leader past it. A process that was starved of
        CPU past the deadline (the fence closed meanwhile: nothing was written) makes one
        more attempt; it succeeds only if nobody took the Lease (the replace carries the
        resourceVersion it read), else leadership is lost."""
        while True:
            await asyncio.sleep(self.settings.retry_period)
            left = self.valid_until - self._monotonic()
            renewed = False
            try:
                async with asyncio.timeout(max(left, self.settings.retry_period)):
                    renewed = await self._try_acquire_or_renew()
            except TimeoutError:
                logger.warning("renewing the lease did not finish within the renew deadline")
            if not renewed and (
                self._monotonic() >= self.valid_until
                or self.leader not in (None, self.settings.identity)
            ):
                self.is_leader = False
                self.valid_until = 0.0
                raise LeadershipLostError(
                    f"could not renew lease {self.settings.namespace}/{self.settings.name} "
                    f"within {self.settings.renew_deadline:g}s (holder now: {self.leader})"
                )

    async def release(self) -> None:
        """Give the Lease up so a standby takes over at once (best effort)."""
        if not self.is_leader:
            return
        self._written = None
        self.is_leader = False
        self.valid_until = 0.0
        try:
            lease: Any = await kube.call(
                self._coord.read_namespaced_lease,
                self.settings.name,
                self.settings.namespace,
                timeout=self._timeout,
            )
            if lease.spec and lease.spec.holder_identity == self.settings.identity:
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.renew_time = _now()
                await kube.call(
                    self._coord.replace_namespaced_lease,
                    self.settings.name,
                    self.settings.namespace,
                    lease,
                    timeout=self._timeout,
                )
                logger.info("released the lease")
        except errors.ClientError as exc:
            logger.warning("could not release the lease: %s", exc)

    async def _try_acquire_or_renew(self) -> bool:
        if self.is_leader and self._written is not None:
            return await self._renew_written()
        s = self.settings
        sent = self._monotonic()
        try:
            lease: Any = await kube.call(
                self._coord.read_namespaced_lease, s.name, s.namespace, timeout=self._timeout
            )
        except errors.ApiError as exc:
            if exc.status != 404:
                logger.warning("reading the lease failed: %s", exc)
                return False
            return await self._create()
        except errors.ClusterUnreachableError as exc:
            logger.warning("reading the lease failed: %s", exc)
            return False
        # Observed now, after the read: a slow read must not start the expiry clock early.
        now = self.last_contact = self._monotonic()

        spec = lease.spec
        record = _Record(
            holder=(spec.holder_identity or "") if spec else "",
            renew_time=str(spec.renew_time) if spec else "",
            lease_duration=(spec.lease_duration_seconds or 0) if spec else 0,
        )
        if record != self._observed:
            self._observed, self._observed_at = record, now
        self.leader = record.holder or None
        held_by_other = record.holder not in ("", s.identity)
        expired = now - self._observed_at >= max(record.lease_duration, 1)
        if held_by_other and not expired:
            self.is_leader = False
            self.valid_until = 0.0
            return False

        lease.spec.holder_identity = s.identity
        lease.spec.lease_duration_seconds = int(s.lease_duration)
        lease.spec.renew_time = _now()
        if record.holder != s.identity:
            lease.spec.acquire_time = _now()
            lease.spec.lease_transitions = (lease.spec.lease_transitions or 0) + 1
        return await self._replace(lease, sent, "take or renew the lease")

    async def _renew_written(self) -> bool:
        """Renew by replacing the Lease as last written (client-go's fast path)."""
        sent = self._monotonic()
        lease, self._written = self._written, None  # read first next time unless this works
        lease.spec.renew_time = _now()
        lease.spec.lease_duration_seconds = int(self.settings.lease_duration)
        return await self._replace(lease, sent, "renew the lease as last written")

    async def _replace(self, lease: Any, sent: float, what: str) -> bool:
        """Write `lease` back; it carries the resourceVersion it was read or written with, so
        anyone else's write since makes this a 409."""
        try:
            written = await kube.call(
                self._coord.replace_namespaced_lease,
                self.settings.name,
                self.settings.namespace,
                lease,
                timeout=self._timeout,
            )
        except errors.ClientError as exc:
            logger.info("could not %s: %s", what, exc)
            return False
        self._mark_leader(sent, written)
        return True

    async def _create(self) -> bool:
        s = self.settings
        sent = self._monotonic()
        body = {
            "metadata": {"name": s.name, "namespace": s.namespace},
            "spec": {
                "holderIdentity": s.identity,
                "leaseDurationSeconds": int(s.lease_duration),
                "acquireTime": _now().isoformat(),
                "renewTime": _now().isoformat(),
                "leaseTransitions": 0,
            },
        }
        try:
            written = await kube.call(
                self._coord.create_namespaced_lease, s.namespace, body, timeout=self._timeout
            )
        except errors.ClientError as exc:
            logger.info("could not create the lease: %s", exc)
            return False
        self._mark_leader(sent, written)
        return True

    def _mark_leader(self, sent: float, written: Any) -> None:
        self._written = written if getattr(written, "spec", None) is not None else None
        self.is_leader = True
        self.leader = self.settings.identity
        self.last_contact = self._monotonic()
        self.valid_until = max(self.valid_until, sent + self.settings.renew_deadline)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
