"""Log levels: kopf's per-event success lines are DEBUG noise, its warnings are not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from controllers import observability


@pytest.fixture
def restored() -> Iterator[None]:
    root, objects = logging.getLogger(), logging.getLogger("kopf.objects")
    saved = (root.handlers[:], root.level, objects.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    objects.setLevel(saved[2])


@pytest.mark.usefixtures("restored")
def test_kopf_success_lines_only_at_debug() -> None:
    objects = logging.getLogger("kopf.objects")
    observability.configure_logging("INFO", "text")
    assert not objects.isEnabledFor(logging.INFO)  # "Handler 'observe' succeeded."
    assert objects.isEnabledFor(logging.WARNING)

    observability.configure_logging("DEBUG", "text")
    assert objects.isEnabledFor(logging.INFO)
