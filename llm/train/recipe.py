"""Recipe input: YAML files with ``base:`` chains and ``--set`` overrides, turned into a :class:`TrainConfig`.

A recipe is a YAML mapping whose keys mirror :class:`~llm.train.config.TrainConfig`. It may name ``base:``
files (a path or a list of paths, relative to the recipe) that are deep-merged first, in order, so a recipe
states only what differs. Command-line overrides ``--set section.field=value`` are applied last; the value is
parsed as YAML (``--set algo.q=0.5``, ``--set algo.q='{kind: step, switch_step: 50}'``). A mapping under
``algo.q`` replaces, never merges (a schedule is one value).

Reading is strict: a file that is missing, not UTF-8, not YAML, not a mapping, or with a key written twice
(YAML lets the last one win silently) is a :class:`~llm.train.config.ConfigError` naming the file; so is a
``base:`` that is neither a path nor a list of paths, and a circular ``base:`` chain.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from llm.train.config import ConfigError, TrainConfig, build_config, configurable_options
from tsallis.registry import unused_options

REPLACED_MAPPINGS = frozenset({"q"})
"""Keys whose mapping value is one value (a q schedule): a later recipe replaces it instead of merging into it."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with a repeated key. Anchors, aliases and merge keys (``<<:``)
    work as in YAML: the mapping's own keys override the merged ones."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # merged in by construct_mapping, overridden by own keys
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} (first at line "
                              f"{seen[key] + 1}): YAML would silently keep the last value")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text strictly (no repeated keys); errors are :class:`ConfigError` naming ``source``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in REPLACED_MAPPINGS:
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe YAML into a dict, resolving ``base:`` files (relative paths, merged in order)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: circular 'base:' chain {[str(p) for p in _seen]}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    raw = parse_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a YAML mapping, got {type(raw).__name__}")
    bases = raw.pop("base", [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise ConfigError(f"{path}: base must be a path or a list of paths to recipe files, got base={bases!r}")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = _deep_merge(merged, read_recipe(path.parent / base, (*_seen, path)))
    return _deep_merge(merged, raw)


def apply_override(values: dict[str, Any], override: str) -> dict[str, Any]:
    """Apply one ``section.field=value`` override (value parsed as YAML) to a recipe dict."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {override!r}: expected KEY=VALUE, e.g. --set algo.q=0.5")
    value = parse_yaml(text, f"--set {key}={text!r}")
    node: Any = TrainConfig
    for part in key.split("."):
        names = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in names:
            valid = ", ".join(sorted(names)) or f"none ({key.rsplit('.', 1)[0]} is a value, not a section)"
            raise ConfigError(f"--set {key}={text}: unknown key {part!r}; valid keys here: {valid}")
        node = typing.get_type_hints(node)[part]
    updated = copy.deepcopy(values)
    *parents, leaf = key.split(".")
    target = updated
    for part in parents:
        if not isinstance(target.get(part), dict):  # absent, or an empty section written as "model:"
            target[part] = {}
        target = target[part]
    target[leaf] = value
    return updated


def recipe_source(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """How errors name a recipe: its path (or ``config``) and the overrides."""
    source = str(path) if path is not None else "config"
    return source + (" with --set " + " ".join(overrides) if overrides else "")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a recipe file (with its ``base:`` chain), apply ``--set`` overrides, and validate.

    The recipe name defaults to the file's stem.
    """
    return build_config(load_values(path, overrides), recipe_source(path, overrides))


def option_notes(values: dict[str, Any], config: TrainConfig) -> list[str]:
    """Notes on estimator options the recipe sets but its estimator does not read (``algo.baseline: loo`` with
    ``paft``): not errors, since a recipe may switch estimators with ``--set algo.name=...``, but never silent."""
    algo = values.get("algo") or {}
    given = [key for key in algo if key in configurable_options()]
    ignored = unused_options(config.algo.name, given)
    if not ignored:
        return []
    settable = ("q", *configurable_options())
    reads = ", ".join(o for o in config.algo.spec.options if o in settable) or "no options"
    settings = ", ".join(f"algo.{key}={algo[key]!r}" for key in ignored)
    return [f"{settings} {'is' if len(ignored) == 1 else 'are'} ignored by algo.name={config.algo.name!r}, "
            f"which reads {reads}"]


def load_values(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The merged recipe dict before validation (what :func:`load_config` validates)."""
    values: dict[str, Any] = read_recipe(path) if path is not None else {}
    if path is not None:
        values.setdefault("recipe", Path(path).stem)
    for override in overrides:
        values = apply_override(values, override)
    return values
