"""User-facing settings objects, with the official field names and defaults."""

from __future__ import annotations

from . import _cpp_types
from ._config import Origin, apply_conf_files, from_config
from ._enums import LoggingMode
from ._fields import TEST_SETTINGS_DEFAULTS, SettingsFields


class TestSettings(SettingsFields):
    """What to run and how: the official ``mlperf::TestSettings`` field for field.

    Assigning a field that does not exist raises AttributeError, so a typo cannot go unnoticed.
    """

    __test__ = False  # not a pytest test class
    __slots__ = ()  # the fields' slots are SettingsFields'; no __dict__ for typos to land in

    def FromConfig(  # noqa: N802 - official name
        self, path: str, model: str, scenario: str, conf_type: int = 1
    ) -> int:
        """Apply a config file: 0 = embedded mlperf.conf, 1 = user.conf, 2 = audit.config.

        Returns 0 on success, -22 (EINVAL) if the file had errors (nothing applied) and
        -2 (ENOENT) if it cannot be opened, as the official LoadGen does. The errors are logged
        to the detail log of the next test and printed to stderr with file, line and key.
        """
        return from_config(self, path, model, scenario, conf_type)

    def copy(self) -> TestSettings:
        other = TestSettings()
        for name in TEST_SETTINGS_DEFAULTS:
            object.__setattr__(other, name, getattr(self, name))
        return other

    def __repr__(self) -> str:
        changed = [
            f"{k}={getattr(self, k)!r}"
            for k, v in TEST_SETTINGS_DEFAULTS.items()
            if getattr(self, k) != v
        ]
        return f"TestSettings({', '.join(changed)})"


_LOG_OUTPUT_FIELDS: dict[str, _cpp_types.Converter] = {
    "outdir": _cpp_types.string,
    "prefix": _cpp_types.string,
    "suffix": _cpp_types.string,
    "prefix_with_datetime": _cpp_types.boolean,
    "copy_detail_to_stdout": _cpp_types.boolean,
    "copy_summary_to_stdout": _cpp_types.boolean,
}


class LogOutputSettings:
    """Where the log files go and how they are named. Assignments are checked as the official
    bindings check them (``_cpp_types``)."""

    __slots__ = (
        "outdir",
        "prefix",
        "suffix",
        "prefix_with_datetime",
        "copy_detail_to_stdout",
        "copy_summary_to_stdout",
    )

    def __init__(self) -> None:
        self.outdir = "."
        self.prefix = "mlperf_log_"
        self.suffix = ""
        self.prefix_with_datetime = False
        self.copy_detail_to_stdout = False
        self.copy_summary_to_stdout = False

    __setattr__ = _cpp_types.typed_setattr("LogOutputSettings", _LOG_OUTPUT_FIELDS)


_LOG_FIELDS: dict[str, _cpp_types.Converter] = {
    "log_output": _cpp_types.instance_of(LogOutputSettings),
    "log_mode": _cpp_types.member_of(LoggingMode),
    "log_mode_async_poll_interval_ms": _cpp_types.uint64,
    "enable_trace": _cpp_types.boolean,
}


class LogSettings:
    """Log output plus the (inert) logging-mode knobs of the official API; assignments are
    checked as for ``LogOutputSettings``."""

    __slots__ = ("log_output", "log_mode", "log_mode_async_poll_interval_ms", "enable_trace")

    def __init__(self) -> None:
        self.log_output = LogOutputSettings()
        self.log_mode = LoggingMode.AsyncPoll
        self.log_mode_async_poll_interval_ms = 1000
        self.enable_trace = True

    __setattr__ = _cpp_types.typed_setattr("LogSettings", _LOG_FIELDS)


# --- the Pythonic entry points --------------------------------------------------------------


def load_settings(
    model: str,
    scenario: str,
    user_conf: str | None = None,
    mlperf_conf: str | None = None,
    base: TestSettings | None = None,
) -> TestSettings:
    """Settings for ``model`` in ``scenario``: ``base`` (or defaults), then mlperf.conf, then
    user.conf, with ``scenario`` set. ``base`` is not changed.

    mlperf.conf is the embedded one unless a path is given. Raises ConfigError on the first
    problem, including lines the official parser silently skips, values it reads as something
    else (see ``_misread_value``) or a mode value it rejects; uses no process-global state and
    logs nothing. Keys nothing reads are not problems here: see ``config_warnings``.
    """
    return load_settings_with_origins(model, scenario, user_conf, mlperf_conf, base)[0]


def load_settings_with_origins(
    model: str,
    scenario: str,
    user_conf: str | None = None,
    mlperf_conf: str | None = None,
    base: TestSettings | None = None,
) -> tuple[TestSettings, dict[str, Origin]]:
    """``load_settings``, plus field -> the config line that set it, for every field set."""
    settings = base.copy() if base is not None else TestSettings()
    return settings, apply_conf_files(settings, model, scenario, user_conf, mlperf_conf)
