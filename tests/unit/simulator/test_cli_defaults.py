"""The flags' defaults are the model's and the operator learner's: cli_args repeats them as
literals only so that registering the commands imports nothing heavy."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from nimbusguard.simulator import cli_args, learning, model

AddArgs = Callable[[argparse.ArgumentParser], None]


def _defaults(add: AddArgs) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add(parser)
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


@pytest.mark.parametrize(
    ("add", "source"),
    [
        (cli_args.add_model_args, model.ModelSettings()),
        (cli_args.add_learner_args, learning.LearnerFlags()),
    ],
    ids=["model", "learner"],
)
def test_flag_defaults_match_the_dataclasses(add: AddArgs, source: Any) -> None:
    flags = _defaults(add)
    fields = dataclasses.asdict(source)
    assert fields, "nothing compared"
    for name, value in fields.items():
        assert flags[name] == value, name


def test_the_learner_flags_default_to_the_operator_learner() -> None:
    from nimbusguard.scaling import learner

    operator = learner.LearnerConfig()
    for name, value in dataclasses.asdict(learning.LearnerFlags()).items():
        assert getattr(operator, name) == value, name
