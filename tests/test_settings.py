"""Settings from presets, TOML files and --set overrides."""

from __future__ import annotations

import pytest

from elman.errors import ConfigError
from elman.settings import load_settings


def test_bool_override_parsed() -> None:
    _, train = load_settings(overrides=["train.with_dev=true"])

    assert train.with_dev is True


@pytest.mark.parametrize("value", ["yes", "1", "True"])
def test_bool_error_names_spelling(value: str) -> None:
    with pytest.raises(ConfigError, match=r"expected a value of type bool \(true or false\)"):
        load_settings(overrides=[f"train.with_dev={value}"])
