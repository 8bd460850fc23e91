"""Parse dataclass configs from the command line, print them, and save them next to outputs.

draccus does the type decoding (the same library lerobot's configs use). This module adds what a CLI
user needs on top: hyphenated flags (``--episodes-per-task``) as well as underscores, bare boolean
flags (``--overwrite``), and a one-line error naming the accepted keys for an unknown option instead
of argparse's usage dump.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import draccus

from motionvla.errors import UserError
from motionvla.utils.atomic import atomic_write_text

T = TypeVar("T")

# parse_config records on the config it returns which dotted keys the command line gave, so that a caller can
# tell "--model.moving_weight=0" (given, equal to the default) from no option at all.
_GIVEN_KEYS_ATTR = "_motionvla_given_keys"


def config_fields(cls: type) -> dict[str, Any]:
    """All dotted keys of a (nested) config dataclass, mapped to their resolved types."""
    keys: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        field_type = hints.get(field.name, field.type)
        keys[field.name] = field_type
        if dataclasses.is_dataclass(field_type):
            for sub_key, sub_type in config_fields(field_type).items():
                keys[f"{field.name}.{sub_key}"] = sub_type
    return keys


def _normalize_argv(cls: type, argv: list[str]) -> list[str]:
    """Rewrite ``--a-b value`` / ``--flag`` into draccus's ``--a_b=value`` / ``--flag=true``."""
    fields = config_fields(cls)
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise UserError(f"unexpected argument {arg!r}: options are given as --key=value")
        key, has_value, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean --{close[0]}?)" if close else ""
            raise UserError(f"unknown option --{key}{hint}; accepted: {', '.join('--' + k for k in fields)}")
        if not has_value:
            next_is_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            if next_is_value:
                value, i = argv[i + 1], i + 1
            elif fields[key] is bool:
                value = "true"
            else:
                raise UserError(f"option --{key} needs a value (--{key}=VALUE)")
        if fields[key] is str and not (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
            # draccus reads values as YAML 1.1, which would turn a str field's "95:1" into 5701, "yes"
            # into True and "null" into None; a JSON-quoted string is read back verbatim.
            value = json.dumps(value)
        out.append(f"--{key}={value}")
        i += 1
    return out


def apply_aliases(argv: list[str], aliases: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Rewrite old option names into new ones: ``aliases`` maps an old dotted key to the new key, or to
    ``(new key, value -> value)`` when the value's form changed too.

    Returns ``(argv, notes)``: one deprecation note per old name used.

    Raises:
        UserError: an option given under both names (one line naming both).
    """
    def key_of(arg: str) -> str:
        return arg[2:].partition("=")[0].replace("-", "_") if arg.startswith("--") else ""

    given = {key_of(a) for a in argv}
    out, notes = [], []
    for arg in argv:
        old = key_of(arg)
        if old not in aliases:
            out.append(arg)
            continue
        new, convert = aliases[old] if isinstance(aliases[old], tuple) else (aliases[old], None)
        if new in given:
            raise UserError(f"--{old} and --{new} name the same option: give it once, as --{new}")
        _, has_value, value = arg.partition("=")
        if has_value and convert is not None:
            value = convert(value)
        out.append(f"--{new}={value}" if has_value else f"--{new}")
        notes.append(f"note: --{old} is deprecated, use --{new} (it will be removed in a later release)")
    return out, notes


def parse_config(cls: type[T], argv: list[str]) -> T:
    """Build ``cls`` from its defaults and ``argv`` overrides (``--key=value``, dotted for nesting).

    Raises:
        UserError: unknown key, missing value, or a value that does not decode into the field's type.
    """
    args = _normalize_argv(cls, argv)
    try:
        parsed = draccus.parse(cls, args=args)
        keys = [a[2:].partition("=")[0] for a in args]
        result = _overlay_on_defaults(cls, parsed, keys)
    except SystemExit as exc:  # argparse inside draccus exits on errors it finds itself
        raise UserError(f"could not parse options {' '.join(args)}") from exc
    except (draccus.utils.DecodingError, draccus.utils.ParsingError, ValueError, TypeError) as exc:
        cause = exc.__cause__ if isinstance(exc, draccus.utils.ParsingError) and exc.__cause__ else None
        detail = f" ({str(cause).splitlines()[0]})" if cause is not None else ""
        raise UserError(f"bad option value: {str(exc).splitlines()[0]}{detail}") from exc
    object.__setattr__(result, _GIVEN_KEYS_ATTR, frozenset(keys))
    return result


def given_keys(cfg: Any) -> frozenset[str] | None:
    """The dotted keys the command line set on a config that :func:`parse_config` built (``None`` for a config
    built in code, or one copied with ``dataclasses.replace``, which drops the record)."""
    return getattr(cfg, _GIVEN_KEYS_ATTR, None)


def _overlay_on_defaults(cls: type[T], parsed: T, keys: list[str]) -> T:
    """``cls()`` with only the given dotted keys taken from ``parsed``.

    draccus builds a nested dataclass that has any override from its *class* defaults, dropping what
    the parent's ``default_factory`` set (e.g. the quickstart's ``TrainConfig(steps=3000, lr=1e-3)``
    became ``TrainConfig(lr=1e-4)`` as soon as ``--train.steps`` was given). So the overrides are
    copied onto the real defaults instead, and each changed dataclass is validated again.
    """
    result = cls()
    touched: dict[int, Any] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        source, target = parsed, result
        for name in parents:
            source, target = getattr(source, name), getattr(target, name)
            touched[id(target)] = target
        setattr(target, leaf, getattr(source, leaf))
    for obj in reversed(list(touched.values())):  # innermost first
        post_init = getattr(obj, "__post_init__", None)
        if post_init is not None:
            post_init()
    if keys and hasattr(result, "__post_init__"):
        result.__post_init__()  # type: ignore[attr-defined]
    return result


def format_config(cfg: Any) -> str:
    """The resolved config as YAML text (what the run will use)."""
    return draccus.dump(cfg)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as plain JSON-able data."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def save_config(cfg: Any, out_dir: str | Path, name: str = "config.json") -> Path:
    """Write the resolved config next to a run's outputs, atomically."""
    path = Path(out_dir) / name
    atomic_write_text(path, json.dumps(config_to_dict(cfg), indent=2) + "\n")
    return path


def _flatten_saved(data: dict[str, Any], fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted leaf keys of a saved config; a dict is walked into unless its key is a field that holds a dict
    (``rename_map``), so old layouts (groups since renamed) flatten too."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        field_type = fields.get(dotted)
        walk = isinstance(value, dict) and (field_type is None or dataclasses.is_dataclass(field_type))
        if walk:
            out.update(_flatten_saved(value, fields, dotted + "."))
        else:
            out[dotted] = value
    return out


def saved_config_options(path: str | Path, cls: type, aliases: dict[str, Any], spellings: dict[str, str],
                         skip: tuple[str, ...] = (), given: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """``--key=value`` options that rebuild a config saved by :func:`save_config` (lerobot's ``--config_path``).

    Old option names in the file are renamed through ``aliases`` (their notes returned); keys starting with one of
    ``skip`` (what the command settles itself, e.g. features read from the dataset) and keys in ``given`` (the
    command line's, which win) are left out.

    Raises:
        UserError: the file is missing or not JSON, or holds keys ``cls`` does not have (all of them named).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"--config_path={path}: cannot read a JSON config ({exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"--config_path={path}: expected a JSON object of options, got {type(data).__name__}")
    fields = config_fields(cls)
    flat = _flatten_saved(data, fields | {k: None for k in aliases})
    argv, notes, unknown = [], [], []
    for key, value in flat.items():
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        renamed, note = apply_aliases([f"--{key}={text}"], aliases) if key in aliases else ([f"--{key}={text}"], [])
        new_key = renamed[0][2:].partition("=")[0]
        new_key = spellings.get(new_key, new_key)
        if new_key not in fields:
            unknown.append(key)
            continue
        if new_key in given or (value is None and fields[new_key] is str):
            continue
        argv.append(f"--{new_key}={renamed[0].partition('=')[2]}")
        notes += [f"{path.name}: {n}" for n in note]
    if unknown:
        raise UserError(f"--config_path={path}: unknown keys {', '.join(unknown)} (not options of this command)")
    return argv, notes
