"""One evaluation step, shared by the operator's workflow and the simulator.

    step = evaluation.decide(obs, baseline, learner, cooldown_spec, last_scaling_time)
    # set the target to step.replicas; if that changed it: evaluation.record(baseline, ...)
    learner.learn(obs)   # the workflow splits it into judge (reward node) and apply (learn node)

Decide, then learn: the decision of an evaluation never sees what this evaluation teaches
(the workflow's graph order). `decide` computes the HPA recommendation (always: it is the
baseline and its rate limits are the learner's step limits), the learner's choice (the baseline
acts while the policy is Learning), then holds a change the cooldown does not allow yet. The
simulator calls exactly this function once per evaluation interval, so the two cannot diverge
(`tests/unit/simulator/test_loop.py` drives both with the same observations).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from nimbusguard.scaling import cooldowns, hpa, learner as learner_mod
from nimbusguard.scaling.observation import Observation, Recommendation

StepMode = Literal["baseline", "explore", "exploit", "cooldown"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """What one evaluation decided.

    `replicas` is what to set (the current count when the cooldown holds), `wanted` what the
    acting decider asked for, `mode` who decided (or "cooldown" when held), `reasoning` the
    sentence for status and the Event, `choice` the learner's view (None without a learner).
    """

    replicas: int
    wanted: int
    mode: StepMode
    reasoning: str
    baseline: Recommendation
    choice: learner_mod.Choice | None
    cooldown_left: float = 0.0


def decide(
    obs: Observation,
    baseline: hpa.HPABaseline,
    learner: learner_mod.QLearner | None,
    cooldown: cooldowns.CooldownSpec,
    last_scaling_time: float | None,
) -> Step:
    """The HPA recommendation, the learner's choice, then the cooldown (module docstring)."""
    if learner is not None:
        learner.prepare_shadow(baseline, obs, last_scaling_time)
    rec = baseline.recommend(obs)
    choice: learner_mod.Choice | None = None
    mode: StepMode
    if learner is None:
        wanted, mode, reasoning = rec.replicas, "baseline", rec.reason
    else:
        choice = learner.decide(obs, rec)
        wanted, mode, reasoning = choice.replicas, choice.mode, choice.reasoning
    step = _hold(obs, wanted, mode, reasoning, rec, choice, cooldown, last_scaling_time)
    if learner is not None:
        learner.follow_shadow(obs, cooldown, step.replicas)
    return step


def _hold(
    obs: Observation,
    wanted: int,
    mode: StepMode,
    reasoning: str,
    rec: Recommendation,
    choice: learner_mod.Choice | None,
    cooldown: cooldowns.CooldownSpec,
    last_scaling_time: float | None,
) -> Step:
    """The step, with a change the cooldown does not allow yet held."""
    if wanted == obs.replicas:
        return Step(obs.replicas, wanted, mode, reasoning, rec, choice)
    direction: cooldowns.Direction = "up" if wanted > obs.replicas else "down"
    wait = cooldowns.remaining(cooldown, last_scaling_time, direction, obs.time)
    if wait <= 0:
        return Step(wanted, wanted, mode, reasoning, rec, choice)
    held = f"{reasoning}; wanted {wanted} but the scale-{direction} cooldown has {wait:.0f}s left"
    return Step(obs.replicas, wanted, "cooldown", held, rec, choice, wait)


def record(baselines: tuple[hpa.HPABaseline, ...], time: float, before: int, after: int) -> None:
    """Tell the HPA baselines the target changed (their rate policies count every change)."""
    for baseline in baselines:
        baseline.record_scale(time, before, after)
