"""Whether kopf takes `--namespace` as given or lists the cluster's namespaces itself."""

from __future__ import annotations

from typing import Any

import pytest

from controllers import manager, settings
from nimbusguard.clients import errors, policies


def _served(answer: bool | Exception, asked: list[Any]) -> Any:
    async def served(api: Any) -> bool:
        asked.append(api)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return served


class _Clients:
    hub = object()


@pytest.mark.parametrize(
    ("namespaces", "answer", "expected", "checked"),
    [
        ((), True, False, False),  # all namespaces: kopf never lists them anyway
        (("team-a", "team-b"), True, True, True),
        (("team-a",), False, False, True),  # no CRD yet: kopf's CRD watch must stay on
        (("team-a",), errors.ClusterUnreachableError("down"), False, True),
        (("team-*",), True, False, False),  # a pattern is for kopf to match
        (("Team-A",), True, False, False),  # not a namespace name
        (("a" * 64,), True, False, False),  # too long for one
        (("team-a\n",), True, False, False),
    ],
)
async def test_namespaces_are_taken_as_given_only_when_exact_and_the_crd_is_served(
    monkeypatch: pytest.MonkeyPatch,
    namespaces: tuple[str, ...],
    answer: bool | Exception,
    expected: bool,
    checked: bool,
) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(policies, "served", _served(answer, asked))
    cfg = settings.parse([f"--namespace={n}" for n in namespaces], environ={})
    assert await manager._namespaces_as_given(cfg, _Clients()) is expected  # type: ignore[arg-type]
    assert bool(asked) is checked
