"""Protocols (named training recipes), studies (one published table or figure each), the union of their runs,
and the plan (runs, done, shared, estimated GPU-hours)."""

from augrepro.studies.plan import format_plan, plan_rows
from augrepro.studies.protocols import ConfigError, load_protocols, resolve_protocol
from augrepro.studies.selection import Selection, select_from_config, unavailable_reason
from augrepro.studies.study import Grid, Study, load_studies, resolve_run

__all__ = [
    "ConfigError",
    "Grid",
    "Selection",
    "Study",
    "format_plan",
    "load_protocols",
    "load_studies",
    "plan_rows",
    "resolve_protocol",
    "resolve_run",
    "select_from_config",
    "unavailable_reason",
]
