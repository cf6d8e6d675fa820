"""The configuration error every layer raises: the studies that load the YAML files and the compute that reads
what they resolved."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad configuration, protocol or study; the message names the file, the key and the valid values."""
