"""The training engine and the resolution of one run's configuration."""

from augrepro.train.config import ConfigError, resolve_run, validate_config

__all__ = ["ConfigError", "resolve_run", "validate_config"]
