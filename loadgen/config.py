"""Reading, writing and checking settings the way mlperf.conf / user.conf do, for tools built on
the LoadGen.

The public face of the LoadGen's config parser: command-line front ends (``lon-run``) use it to
build and check the settings of a run before anything starts (``check_settings``: mlperf.conf,
user.conf, ``--set FIELD=VALUE``, audit.config, with every bad value named by file:line or
``--set``, and warnings for keys nothing reads), to check an audit.config, and to record
settings as user.conf lines, with the same error messages (file, line, key) the LoadGen gives.
"""

from ._checks import CheckedSettings, check_settings
from ._config import (
    ConfigError,
    config_errors,
    config_warnings,
    set_field,
    user_conf_lines,
)
from ._limits import MAX_PREGENERATED_SAMPLES, MAX_RUN_SECONDS
from ._settings import load_settings

__all__ = [
    "MAX_PREGENERATED_SAMPLES",
    "MAX_RUN_SECONDS",
    "CheckedSettings",
    "ConfigError",
    "check_settings",
    "config_errors",
    "config_warnings",
    "load_settings",
    "set_field",
    "user_conf_lines",
]
