"""The training engine and the resolution of one run's configuration."""

from augrepro.train.config import ConfigError, load_presets, resolve_run, resolve_training, validate_config

__all__ = ["ConfigError", "load_presets", "resolve_run", "resolve_training", "validate_config"]
