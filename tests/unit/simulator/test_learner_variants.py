"""The learner-variant benchmark's overrides: what `--set` changes, and the training cache key."""

from __future__ import annotations

import pytest

from benchmarks import learner_variants
from nimbusguard.simulator import learning, model


def test_overrides_change_the_config_fields_actions_and_reward() -> None:
    settings = model.ModelSettings()
    policy = learning.PolicyHPA(0.8, 180.0)
    plain = learner_variants.Variant().config(settings, policy)
    variant = learner_variants.Variant(
        (("budget_share", "0.9"), ("epsilon_decay_decisions", "500"), ("levels", "0/1/2"),
         ("band", "0.5"), ("churn", "0.3")),
    )  # fmt: skip
    config = variant.config(settings, policy)
    assert config.budget_share == pytest.approx(0.9) and plain.budget_share != 0.9
    assert config.epsilon_decay_decisions == 500
    assert isinstance(config.epsilon_decay_decisions, int)
    assert config.actions.levels == (0.0, 1.0, 2.0) and config.actions.band == 0.5
    assert config.reward.churn == pytest.approx(0.3)
    # Everything else is the benchmark's configuration for that policy.
    assert config.reward.slo_ratio == plain.reward.slo_ratio
    assert config.horizon_seconds == plain.horizon_seconds
    # Tables trained for different overrides are cached apart; the order given does not matter.
    swapped = learner_variants.Variant(tuple(reversed(variant.overrides)))
    assert variant.key != learner_variants.Variant().key
    assert swapped.key == variant.key
