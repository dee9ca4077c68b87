"""The Q-learning update rule, its convergence, and the Q-table file format."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from nimbusguard.scaling import qtable

LAYOUT = {"shape": [2, 1, 1, 1, 1], "actions": 2, "parts": 1}


def test_update_rule_numerically() -> None:
    table = qtable.QTable(n_states=2, n_actions=2)
    table.q[0, 1, 0] = 2.0
    table.q[1, :, 0] = [1.0, 3.0]
    table.visits[0, 1] = 100  # past the averaging phase: the step is alpha
    table.visits[1, :] = 5
    error = table.update(0, 1, reward=1.0, next_state=1, alpha=0.1, gamma=0.9)
    # target = 1 + 0.9 × max(1, 3) = 3.7; error = 3.7 − 2 = 1.7; Q = 2 + 0.1 × 1.7 = 2.17.
    assert error == pytest.approx(1.7)
    assert table.q[0, 1, 0] == pytest.approx(2.17)
    assert table.visits[0, 1] == 101


def test_first_updates_average_and_unseen_next_states_repeat_the_reward() -> None:
    table = qtable.QTable(n_states=2, n_actions=1)
    # Next state never updated: its value is r / (1 − γ) = −1 / 0.5 = −2, target −1 + 0.5 × −2.
    table.update(0, 0, reward=-1.0, next_state=1, alpha=0.01, gamma=0.5)
    assert table.q[0, 0, 0] == pytest.approx(-2.0)  # step 1: the first target itself
    table.update(0, 0, reward=-3.0, next_state=1, alpha=0.01, gamma=0.5)
    assert table.q[0, 0, 0] == pytest.approx((-2.0 + -6.0) / 2)  # step 1/2: the mean


def test_update_all_is_the_weighted_one_part_rule() -> None:
    parts = qtable.QTable(n_states=3, n_actions=2, parts=2)
    weights = (1.0, 4.0)
    rng = np.random.default_rng(3)
    parts.q[...] = rng.normal(size=parts.q.shape)
    parts.visits[...] = 50
    single = qtable.QTable(n_states=3, n_actions=2)
    single.q[..., 0] = parts.q @ np.array(weights)
    single.visits[...] = 50
    rewards = [(-1.0, -0.25), (-2.0, 0.0)]
    parts.update_all(0, rewards, [1, 2], weights, alpha=0.1, gamma=0.9)
    for action, (cost, slo) in enumerate(rewards):
        single.update(0, action, cost + 4.0 * slo, [1, 2][action], alpha=0.1, gamma=0.9)
    np.testing.assert_allclose(parts.q[0] @ np.array(weights), single.q[0, :, 0])


def test_bootstrap_caches_kept_per_update_match_a_rebuild_from_the_table() -> None:
    """The greedy parts and visit counts kept per state between updates (for speed) must be
    what the table itself says after any run of updates; a stale entry would bootstrap from
    the wrong action."""
    rng = np.random.default_rng(11)
    table = qtable.QTable(n_states=12, n_actions=4, parts=3, prior_visits=2.0)
    weights = (1.0, 0.3, 2.5)
    for _ in range(400):
        state = int(rng.integers(12))
        nxt = [int(s) for s in rng.integers(12, size=4)]
        table.update_all(state, rng.normal(size=(4, 3)).tolist(), nxt, weights, 0.1, 0.9)
    states = np.arange(12)
    rewards = rng.normal(size=(12, 3))
    kept = table._future(states, rewards, np.array(weights), 0.9)
    rebuilt = qtable.QTable(n_states=12, n_actions=4, parts=3, prior_visits=2.0)
    rebuilt.load(table.q, table.visits)
    np.testing.assert_array_equal(kept, rebuilt._future(states, rewards, np.array(weights), 0.9))
    assert table.visits.sum() == 400 * 4


def _chain_optimal_policy(gamma: float) -> list[int]:
    values = np.zeros(5)
    for _ in range(500):
        values = np.array(
            [
                max(_chain(s, a)[1] + gamma * values[_chain(s, a)[0]] for a in (0, 1))
                for s in range(5)
            ]
        )
    return [
        int(np.argmax([_chain(s, a)[1] + gamma * values[_chain(s, a)[0]] for a in (0, 1)]))
        for s in range(5)
    ]


def _chain(s: int, a: int) -> tuple[int, float]:
    """A 5-state chain: 'left' (0) pays 0.1 now and moves left; 'right' (1) pays nothing until
    the step from 3 to 4, which pays 1; state 4 returns to 0. Greed says left, patience right."""
    if s == 4:
        return 0, 0.0
    if a == 0:
        return max(s - 1, 0), 0.1
    return s + 1, 1.0 if s == 3 else 0.0


def test_converges_to_the_optimal_policy_of_a_small_deterministic_mdp() -> None:
    gamma = 0.9
    optimal = _chain_optimal_policy(gamma)
    assert optimal[:4] == [1, 1, 1, 1]  # the delayed reward wins over the immediate one
    table = qtable.QTable(n_states=5, n_actions=2)
    rng = np.random.default_rng(0)
    s = 0
    steps = 20_000
    for i in range(steps):
        epsilon = max(0.05, 1.0 - i / (steps / 2))
        a = int(rng.integers(2)) if rng.random() < epsilon else int(np.argmax(table.q[s, :, 0]))
        nxt, reward = _chain(s, a)
        table.update(s, a, reward, nxt, alpha=0.1, gamma=gamma)
        s = nxt
    learned = [int(np.argmax(table.q[state, :, 0])) for state in range(5)]
    assert learned[:4] == optimal[:4]


def snapshot() -> qtable.Snapshot:
    return qtable.Snapshot(
        q=np.arange(4, dtype=np.float64).reshape(2, 2, 1),
        visits=np.array([[1, 2], [3, 4]]),
        layout=LAYOUT,
        decisions=1234,
        updates=1230,
        phase="Active",
        windows_beaten=5,
        slo_price=17.5,
        learner={"anything": [1, 2]},
    )


def test_round_trip_keeps_everything() -> None:
    back = qtable.from_bytes(qtable.to_bytes(snapshot()), LAYOUT)
    np.testing.assert_array_equal(back.q, snapshot().q)
    np.testing.assert_array_equal(back.visits, snapshot().visits)
    assert (back.decisions, back.updates, back.phase, back.windows_beaten, back.slo_price) == (
        1234,
        1230,
        "Active",
        5,
        17.5,
    )


def _rewrite_meta(blob: bytes, **changes: object) -> bytes:
    with np.load(io.BytesIO(blob)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["meta"]))
    meta.update(changes)
    arrays["meta"] = np.array(json.dumps(meta))
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b"not a zip file at all", "not a Q-table file"),
        (lambda b: b[: len(b) // 2], "not a Q-table file"),
        (lambda b: b"", "not a Q-table file"),
        (lambda b: _rewrite_meta(b, schema=99), "schema version 99"),
        (lambda b: _rewrite_meta(b, layout={"shape": [3]}), "another state space"),
        (lambda b: _rewrite_meta(b, promotion={"phase": "Bogus", "windows_beaten": 0}), "phase"),
        (lambda b: _rewrite_meta(b, decisions="many"), "incomplete"),
    ],
)
def test_bad_blobs_raise_qtable_error(mangle: object, message: str) -> None:
    blob = mangle(qtable.to_bytes(snapshot()))  # type: ignore[operator]
    with pytest.raises(qtable.QTableError, match=message):
        qtable.from_bytes(blob, LAYOUT)


def test_non_finite_values_are_rejected() -> None:
    bad = snapshot()
    bad.q[0, 0, 0] = np.nan
    with pytest.raises(qtable.QTableError, match="non-finite"):
        qtable.from_bytes(qtable.to_bytes(bad), LAYOUT)


def test_visit_counts_are_int32_in_memory_int64_in_the_file_and_bounded() -> None:
    table = qtable.QTable(2, 2)
    assert table.visits.dtype == np.int32
    blob = qtable.to_bytes(snapshot())
    with np.load(io.BytesIO(blob)) as archive:
        assert archive["visits"].dtype == np.int64
    table.load(snapshot().q, qtable.from_bytes(blob, LAYOUT).visits)
    np.testing.assert_array_equal(table.visits, snapshot().visits)
    huge = snapshot()
    huge.visits[0, 0] = qtable.MAX_VISITS + 1
    with pytest.raises(qtable.QTableError, match="visit counts above"):
        qtable.from_bytes(qtable.to_bytes(huge), LAYOUT)


def test_archive_without_meta_is_rejected() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("q.npy", b"junk")
    with pytest.raises(qtable.QTableError):
        qtable.from_bytes(out.getvalue(), LAYOUT)
