"""The decision and learning core: pure functions and small stateful objects, numpy and stdlib only.

The operator's workflow nodes and the simulator call the same code here; nothing in this package
does I/O, reads a clock or imports kopf, kubernetes, aiohttp, langgraph or pydantic (an
import-linter contract holds that). Time always comes in as explicit seconds.

Modules:
- `observation`: `Observation` (what one evaluation saw) and `Recommendation` (what the HPA
  formula proposes, with the rate limits the shield reuses).
- `hpa`: `HPAConfig` and `HPABaseline`, a faithful HPA v2 (tolerance, stabilization windows,
  rate policies, min/max clamp).

The learner's modules (state, actions, shield, reward, Q-table, promotion, learner) are listed in
`nimbusguard.scaling.learner`'s docstring.
"""
