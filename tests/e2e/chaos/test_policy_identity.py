"""A policy deleted and re-created at once is a new policy: it does not inherit the old
incarnation's Active Q-table, and its own table is persisted (issue 11, item 5)."""

from __future__ import annotations

from tests.e2e import support
from tests.e2e.chaos.env import Chaos
from tests.e2e.controller import helpers as h

INTERVAL = 5
# Decisions are judged (and the table changes, so it is written) 10 s after they are taken.
PERSIST = {"persistIntervalSeconds": 5, "decisionHorizonSeconds": 10}


def test_a_re_created_active_policy_starts_afresh_and_persists(chaos: Chaos) -> None:
    chaos.deployment("web", 2)
    chaos.deployment("other", 2)
    chaos.demand("web", 2)
    chaos.policy("web", "web", interval=INTERVAL, spec={"aiConfig": PERSIST})
    old_table = chaos.seed_active_table("web")
    old_uid = h.get_policy(chaos.api, chaos.ns, "web")["metadata"]["uid"]
    op = chaos.operator("a")
    h.wait_phase(chaos.api, chaos.ns, "web", "Active")
    h.wait_condition(chaos.api, chaos.ns, "web", "QTableLoaded", reason="Restored")

    deleted = chaos.audit.mark()
    support.custom_objects(chaos.api).delete_namespaced_custom_object(
        h.GROUP, h.VERSION, chaos.ns, h.PLURAL, "web"
    )
    chaos.policy("web", "other", interval=INTERVAL, spec={"aiConfig": PERSIST})
    new_uid = h.get_policy(chaos.api, chaos.ns, "web")["metadata"]["uid"]
    assert new_uid != old_uid

    support.wait_until(
        lambda: (
            h.status(chaos.api, chaos.ns, "web").get("metrics", {}).get("totalDecisions", 0) >= 1
        ),
        timeout=60,
        what="a decision of the new policy",
    )
    h.wait_condition(chaos.api, chaos.ns, "web", "QTableLoaded", reason="NewQTable")
    assert h.status(chaos.api, chaos.ns, "web")["phase"] == "Learning"
    new_table = f"nimbusguard-qtable-{new_uid}"
    support.wait_until(
        lambda: any(
            e.name == new_table and e.succeeded
            for e in chaos.writes(user=op.user, resource="configmaps")
        ),
        timeout=4 * INTERVAL + 30,
        what=f"the new table {new_table} persisted",
    )
    tables = chaos.writes(user=op.user, resource="configmaps")
    # A patch answered 404 is how a table is first created (patch, then create); a delete of
    # the old table answered 404 means the garbage collector (the table is owned by the old
    # policy) removed it first.
    failed = [
        e
        for e in tables
        if not e.succeeded
        and (e.verb, e.code) != ("patch", 404)
        and not (e.name == old_table and (e.verb, e.code) == ("delete", 404))
    ]
    assert not failed, [(e.name, e.verb, e.code) for e in failed]
    # Nothing of the old incarnation is written after its deletion (removing it is fine).
    late = chaos.audit.writes(since=deleted, user=op.user, name=old_table)
    assert not [e for e in late if e.verb != "delete"], [(e.verb, e.code) for e in late]
    assert "Traceback" not in op.process.log()
