"""Typed dataclass configs with dotted command-line overrides (draccus, as lerobot uses)."""

from motionvla.configs.parsing import apply_aliases, config_fields, format_config, given_keys, parse_config, save_config

__all__ = ["apply_aliases", "config_fields", "format_config", "given_keys", "parse_config", "save_config"]
