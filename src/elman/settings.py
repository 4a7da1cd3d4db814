"""Configuration: defaults, named presets, a TOML file and ``--set key=value`` overrides.

Later sources override earlier ones: dataclass defaults, then the preset, then the file, then each
override in order. A TOML file has ``[model]`` and ``[train]`` tables whose keys are the fields of
``ModelConfig`` and ``TrainConfig``.
"""

from __future__ import annotations

import sys
from dataclasses import fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from elman.errors import ConfigError
from elman.model.config import ModelConfig
from elman.train.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECTIONS: dict[str, type[ModelConfig] | type[TrainConfig]] = {
    "model": ModelConfig,
    "train": TrainConfig,
}


def presets() -> dict[str, str]:
    """Return each shipped preset's name and the description on its first comment line."""
    found = {}
    for entry in sorted(resources.files("elman.resources").joinpath("presets").iterdir(), key=str):
        if entry.name.endswith(".toml"):
            first = entry.read_text(encoding="utf-8").splitlines()[0]
            found[entry.name.removesuffix(".toml")] = first.lstrip("# ").strip()
    return found


def preset_text(name: str) -> str:
    available = presets()
    if name not in available:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(available)}")
    path = resources.files("elman.resources").joinpath("presets", f"{name}.toml")
    return path.read_text(encoding="utf-8")


def load_settings(
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> tuple[ModelConfig, TrainConfig]:
    """Combine the sources above into one ``ModelConfig`` and one ``TrainConfig``."""
    values: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if preset is not None:
        _merge(values, _parse_toml(preset_text(preset), f"preset {preset!r}"))
    if config_file:
        path = Path(config_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read the configuration file ({error})") from error
        _merge(values, _parse_toml(text, str(path)))
    for override in overrides:
        section, key, value = _parse_override(override)
        values[section][key] = value
    return ModelConfig(**values["model"]), TrainConfig(**values["train"])


def _parse_toml(text: str, source: str) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from error
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown table(s) {', '.join(sorted(unknown))}; expected [model] and [train]"
        )
    result: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        result[section] = {key: _check_value(section, key, value) for key, value in table.items()}
    return result


def _merge(values: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    for section, table in new.items():
        values[section].update(table)


def _parse_override(override: str) -> tuple[str, str, Any]:
    """Split ``[section.]key=value``; the value is read as TOML, or as a plain string."""
    if "=" not in override:
        raise ConfigError(f"--set {override!r}: expected key=value, e.g. --set model.hidden=300")
    name, raw = override.split("=", 1)
    name = name.strip()
    if "." in name:
        section, key = name.split(".", 1)
    else:
        owners = [s for s, cls in SECTIONS.items() if key_in(cls, name)]
        if len(owners) != 1:
            raise ConfigError(f"--set {override!r}: unknown setting {name!r}; see elman presets")
        section, key = owners[0], name
    if section not in SECTIONS:
        raise ConfigError(f"--set {override!r}: unknown section {section!r}; use model. or train.")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key, _check_value(section, key, value)


def key_in(cls: type[ModelConfig] | type[TrainConfig], key: str) -> bool:
    return any(field.name == key for field in fields(cls))


def _check_value(section: str, key: str, value: Any) -> Any:
    cls = SECTIONS[section]
    matching = [field for field in fields(cls) if field.name == key]
    if not matching:
        valid = ", ".join(field.name for field in fields(cls))
        raise ConfigError(f"unknown setting {section}.{key}; valid {section} settings: {valid}")
    expected = type(getattr(cls(), key))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        spelling = " (true or false)" if expected is bool else ""
        raise ConfigError(
            f"{section}.{key}={value!r}: expected a value of type {expected.__name__}{spelling}"
        )
    return value


def with_seed(config: TrainConfig, seed: int | None) -> TrainConfig:
    return config if seed is None else replace(config, seed=seed)
