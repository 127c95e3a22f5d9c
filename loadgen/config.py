"""Reading and writing settings the way mlperf.conf / user.conf do, for tools built on the LoadGen.

The public face of the LoadGen's config parser: command-line front ends (``lon-run``) use it to
apply ``--set FIELD=VALUE``, to check an audit.config before a run, and to record settings as
user.conf lines, with the same error messages (file, line, key) the LoadGen itself gives.
"""

from ._config import ConfigError, config_errors, load_settings, set_field, user_conf_lines

__all__ = ["ConfigError", "config_errors", "load_settings", "set_field", "user_conf_lines"]
