"""The LoadGen config files: mlperf.conf, user.conf and audit.config.

Submissions depend on the official parser's exact behaviour, quirks included, so this parser
reproduces it: a line is whitespace-separated tokens ``KEY = VALUE``; a lone ``#`` token ends the
line unless it stands where the value belongs; a value must be wholly an integer as C's
``strtoul(base 0)`` reads it (``010`` is 8, ``0x20`` is 32) or a double as ``strtod`` reads it;
``k=v`` (one token) is silently skipped, ``k = 5 6`` keeps 6, a later line overrides an earlier
one, and a file with any error applies nothing. Keys are ``model.scenario.name`` where model and
scenario may be ``*``; see ``_RULES`` for which names are read and how they convert.

``from_config`` is the official entry point (return codes, process-global first-call counter,
errors to the pending detail log). ``load_settings`` is the Pythonic one: no global state, and it
raises ``ConfigError`` on the first problem, including lines the official parser skips silently
and values it converts into something else (``-5`` for an unsigned count wraps to 2**64 - 5,
``6e5`` for an integer reads as 6). Keys that nothing reads (a typo such as ``targt_qps``) are
only warned about (``config_warnings``), with the nearest valid name: a user.conf may carry
lines for other models and scenarios, and compliance audit.config files carry ``testNN_*``
parameters that only the compliance scripts read.
"""

from __future__ import annotations

import difflib
import enum
import functools
import importlib.resources
import math
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._enums import TestMode, TestScenario
from ._fields import FIELD_TYPES, SIGNED_FIELDS, TEST_SETTINGS_DEFAULTS, SettingsFields
from ._pending_log import log_pending

# FromConfig return codes, negated errno values as in the official LoadGen.
CONFIG_OK = 0
CONFIG_INVALID = -22  # -EINVAL: the file had errors, nothing from it was applied
CONFIG_NOT_FOUND = -2  # -ENOENT: the file could not be opened

# conf_type values of FromConfig.
CONF_MLPERF = 0  # the embedded mlperf.conf; the only type that may set the seeds
CONF_USER = 1  # user.conf; the first such call also loads the embedded mlperf.conf
CONF_AUDIT = 2  # audit.config, applied by StartTest with model "*"

EMBEDDED_NAME = "mlperf.conf (embedded)"
MULTIPLE_CONF_MESSAGE = "Multiple conf files are used. This is not valid for official submission."
AUDIT_FOUND_MESSAGE = (
    "Found Audit Config file (audit.config). Overriding TestSettings from audit.config file."
)
TEST05_MESSAGE = "Test05 flag detected Overriding random seeds"

_U64 = 1 << 64


class ConfigError(ValueError):
    """A problem in a config file or a ``--set`` value, saying where: path, line and key.

    ``line`` and ``key`` are None when the problem is not tied to one (e.g. a missing file).
    """

    def __init__(self, path: str, line: int | None, key: str | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.key is not None:
            parts.append(f"key '{_shown(self.key)}'")
        parts.append(self.problem)
        return ": ".join(parts)


# --- C number syntax ------------------------------------------------------------------------

# What strtoul/strtoull(base 0) reads: optional sign, then hex, octal (leading 0) or decimal.
_C_INT = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))")
# What glibc strtod reads in the C locale: decimal or hex floats, inf/infinity, nan(chars).
_C_DOUBLE = re.compile(
    r"""[+-]?(?:
        (?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
      | 0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?
      | (?i:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)
    )""",
    re.VERBOSE,
)
# The characters C's isspace() accepts: what separates tokens in a config line.
_C_SPACE = re.compile(r"[ \t\n\v\f\r]+")


def _is_number(token: str) -> bool:
    """True if the whole token is an integer for strtoul(base 0) or a double for strtod."""
    return bool(_C_INT.fullmatch(token) or _C_DOUBLE.fullmatch(token))


def _c_int(token: str) -> tuple[bool, int]:
    """(negative, magnitude) of the longest integer prefix as strtoull(base 0) reads it."""
    m = _C_INT.match(token)
    if m is None:
        return False, 0
    sign, hex_digits, octal, decimal = m.groups()
    if hex_digits is not None:
        value = int(hex_digits, 16)
    elif octal is not None:
        value = int(octal, 8)
    else:
        value = int(decimal, 10)
    return sign == "-", value


def _strtoull(token: str) -> int:
    """The value C's strtoull(token, NULL, 0) returns: longest prefix, wrapped to uint64."""
    negative, value = _c_int(token)
    if value >= _U64:
        return _U64 - 1  # overflow saturates, whatever the sign
    return (-value) % _U64 if negative else value


def _strtod(token: str) -> float:
    """The value C's strtod returns for a token that ``_C_DOUBLE`` matches in full."""
    body = token.lstrip("+-").lower()
    negative = token.startswith("-")
    if body.startswith(("inf", "nan")):
        value = math.inf if body.startswith("inf") else math.nan
        return -value if negative else value
    if body.startswith("0x"):
        try:
            return float.fromhex(token)
        except OverflowError:
            return -math.inf if negative else math.inf
    return float(token)


# --- parsing --------------------------------------------------------------------------------


@dataclass
class ParsedConfig:
    """One config file read into key -> value token, plus what was wrong with it."""

    path: str
    values: dict[str, str] = field(default_factory=dict)  # key -> value token of its last line
    lines: dict[str, int] = field(default_factory=dict)  # key -> line number of that value
    errors: list[ConfigError] = field(default_factory=list)  # official errors: apply nothing
    # Lines the official parser accepts without complaint but that are almost surely mistakes
    # (skipped "k=v", a key without value, several values): load_settings rejects them.
    warnings: list[ConfigError] = field(default_factory=list)
    # Values the official parser reads as something else (a negative count wraps, 6e5 for an
    # integer is 6, NaN, infinities): load_settings rejects them too.
    misread: list[ConfigError] = field(default_factory=list)
    # Keys nothing reads (not MODEL.SCENARIO.NAME, an unknown scenario or name): only warned.
    unknown: list[ConfigError] = field(default_factory=list)
    unreadable: bool = False  # the file could not be opened; errors holds why

    def problems(self) -> list[ConfigError]:
        """Errors, skipped lines and misread values together, in line order."""
        return sorted(self.errors + self.warnings + self.misread, key=lambda e: e.line or 0)


def parse_config(text: str, path: str) -> ParsedConfig:
    """Read config text with the official token rules; ``path`` only names it in errors."""
    parsed = ParsedConfig(path)
    for line_nr, line in enumerate(text.split("\n"), start=1):
        _parse_line(parsed, line_nr, [t for t in _C_SPACE.split(line) if t])
    for key, token in parsed.values.items():
        where = (parsed.path, parsed.lines[key], key)
        unknown = _unknown_key(key)
        if unknown is not None:
            parsed.unknown.append(ConfigError(*where, unknown))
        misread = _misread_value(key, token)
        if misread is not None:
            parsed.misread.append(ConfigError(*where, misread))
    parsed.unknown.sort(key=lambda e: e.line or 0)
    parsed.misread.sort(key=lambda e: e.line or 0)
    return parsed


def _parse_line(parsed: ParsedConfig, line_nr: int, tokens: list[str]) -> None:
    key = ""
    values_seen = 0
    state = 0  # 0: want the key, 1: want "=", 2: want the value (and keep taking values)
    for token in tokens:
        if token == "#" and state != 2:
            break
        if state == 2:
            if _is_number(token):
                parsed.values[key] = token
                parsed.lines[key] = line_nr
                values_seen += 1
                continue
            if values_seen and token.startswith("#"):
                problem = f"'{_shown(token)}' after the value: a comment must be on its own line"
            elif token.startswith("#"):
                problem = f"'{_shown(token)}' where the value belongs"
            else:
                problem = f"value '{_shown(token)}' is not a number"
            parsed.errors.append(ConfigError(parsed.path, line_nr, key, problem))
            return
        if state == 1 and token != "=":
            if key.startswith("#"):
                problem = "read as a key: a comment needs '# ' with a space after '#'"
            else:
                problem = (
                    f"expected '=' after the key, found '{_shown(token)}' "
                    "(write 'KEY = VALUE' with spaces around '=')"
                )
            parsed.errors.append(ConfigError(parsed.path, line_nr, key, problem))
            return
        if state == 0:
            key = token
        state += 1
    if state in (1, 2) and not values_seen and not key.startswith("#"):
        if state == 1 and "=" in key:
            problem = "no spaces around '=', so the line is ignored; write 'KEY = VALUE'"
        else:
            problem = "no value, so the line is ignored; write 'KEY = VALUE'"
        parsed.warnings.append(ConfigError(parsed.path, line_nr, key, problem))
    elif values_seen > 1:
        problem = f"{values_seen} values on one line; only the last one is used"
        parsed.warnings.append(ConfigError(parsed.path, line_nr, key, problem))


def _shown(text: str) -> str:
    """Text safe to print and log even when the file held bytes that are not UTF-8."""
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the file's own bytes back
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")


def _read_config(path: str) -> ParsedConfig:
    """Parse a file; a file that cannot be read gives one error with line None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        error = ConfigError(path, None, None, _os_problem(exc))
        return ParsedConfig(path, errors=[error], unreadable=True)
    return parse_config(data.decode("utf-8", "surrogateescape"), path)


def _os_problem(exc: OSError) -> str:
    reason = exc.strerror or exc.__class__.__name__
    return f"cannot open the config file ({reason})"


@functools.cache
def _embedded() -> ParsedConfig:
    """The mlperf.conf shipped inside the package, parsed once."""
    text = importlib.resources.files(__package__).joinpath("mlperf.conf").read_text("utf-8")
    return parse_config(text, EMBEDDED_NAME)


# --- applying -------------------------------------------------------------------------------


class _Kind(enum.Enum):
    """How a value token becomes a field value, as the official code converts it."""

    U64 = "u64"  # strtoull(token) * scale, wrapped to uint64
    F64 = "f64"  # strtod(token) * scale
    IS_ONE = "is_one"  # strtoull(token) == 1
    NOT_ZERO = "not_zero"  # strtoull(token) != 0
    INT32 = "int32"  # strtoull(token) squeezed through a C int, then back to uint64


@dataclass(frozen=True)
class _Rule:
    """One config key name, the field it sets and how."""

    name: str
    field: str
    kind: _Kind
    scenario: str | None = None  # fixed lookup scenario; None means the running one
    scale: float = 1.0
    only_if: str | None = None  # a bool field that must already be true
    mlperf_conf_only: bool = False  # read from mlperf.conf only (conf_type 0)


@dataclass(frozen=True)
class Origin:
    """Where a settings value came from, to name it when the value is wrong.

    ``where`` is a config file path or ``--set``; ``line`` its line (None for ``--set``);
    ``key`` the config key or field name; ``text`` the value as written; the field holds
    ``text`` times ``scale`` (0.01 for a percentage, 1e6 for milliseconds in ns).
    """

    where: str
    line: int | None
    key: str
    text: str
    scale: float = 1.0
    from_mlperf_conf: bool = False  # rather than from the user (user.conf, --set, audit)

    def error(self, problem: str) -> ConfigError:
        return ConfigError(self.where, self.line, self.key, problem)

    @property
    def label(self) -> str:
        """``user.conf:3`` or ``--set min_duration_ms``: short, for naming a second value."""
        if self.line is None:
            return f"{self.where} {self.key}"
        return f"{self.where}:{self.line}"


_MS = 1_000_000.0  # ms -> ns
_PERCENT = 0.01

# Every key read, in the official order (the only_if rules depend on earlier ones). The "mode"
# key is read before all of these.
_RULES: tuple[_Rule, ...] = (
    _Rule("qsl_rng_seed", "qsl_rng_seed", _Kind.U64, mlperf_conf_only=True),
    _Rule("sample_index_rng_seed", "sample_index_rng_seed", _Kind.U64, mlperf_conf_only=True),
    _Rule("schedule_rng_seed", "schedule_rng_seed", _Kind.U64, mlperf_conf_only=True),
    _Rule(
        "accuracy_log_probability",
        "accuracy_log_probability",
        _Kind.F64,
        scale=_PERCENT,
        mlperf_conf_only=True,
    ),
    _Rule("test05", "test05", _Kind.IS_ONE, mlperf_conf_only=True),
    _Rule("test05_qsl_rng_seed", "test05_qsl_rng_seed", _Kind.U64, mlperf_conf_only=True),
    _Rule(
        "test05_sample_index_rng_seed",
        "test05_sample_index_rng_seed",
        _Kind.U64,
        mlperf_conf_only=True,
    ),
    _Rule("test05_schedule_rng_seed", "test05_schedule_rng_seed", _Kind.U64, mlperf_conf_only=True),
    _Rule("use_token_latencies", "use_token_latencies", _Kind.IS_ONE),
    _Rule(
        "ttft_latency",
        "ttft_latency",
        _Kind.U64,
        "Server",
        _MS,
        only_if="use_token_latencies",
    ),
    _Rule(
        "tpot_latency",
        "tpot_latency",
        _Kind.U64,
        "Server",
        _MS,
        only_if="use_token_latencies",
    ),
    _Rule("infer_token_latencies", "infer_token_latencies", _Kind.IS_ONE),
    _Rule(
        "token_latency_scaling_factor",
        "token_latency_scaling_factor",
        _Kind.U64,
        only_if="infer_token_latencies",
    ),
    _Rule(
        "target_latency_percentile",
        "single_stream_target_latency_percentile",
        _Kind.F64,
        "SingleStream",
        _PERCENT,
    ),
    _Rule(
        "target_latency_percentile",
        "multi_stream_target_latency_percentile",
        _Kind.F64,
        "MultiStream",
        _PERCENT,
    ),
    _Rule("samples_per_query", "multi_stream_samples_per_query", _Kind.U64, "MultiStream"),
    _Rule(
        "target_latency_percentile",
        "server_target_latency_percentile",
        _Kind.F64,
        "Server",
        _PERCENT,
    ),
    # Read as an integer, so 12.7 ms becomes 12 ms.
    _Rule("target_latency", "server_target_latency_ns", _Kind.U64, "Server", _MS),
    _Rule("performance_issue_unique", "performance_issue_unique", _Kind.NOT_ZERO),
    _Rule("performance_issue_same", "performance_issue_same", _Kind.NOT_ZERO),
    _Rule("performance_issue_same_index", "performance_issue_same_index", _Kind.U64),
    _Rule("sample_concatenate_permutation", "sample_concatenate_permutation", _Kind.IS_ONE),
    _Rule("coalesce_queries", "server_coalesce_queries", _Kind.NOT_ZERO, "Server"),
    _Rule("max_async_queries", "server_max_async_queries", _Kind.INT32, "Server"),
    _Rule("min_duration", "min_duration_ms", _Kind.U64),
    _Rule("max_duration", "max_duration_ms", _Kind.U64),
    _Rule("min_query_count", "min_query_count", _Kind.U64),
    _Rule("max_query_count", "max_query_count", _Kind.U64),
    _Rule("performance_sample_count_override", "performance_sample_count_override", _Kind.U64),
    _Rule("accuracy_sample_count_override", "accuracy_sample_count_override", _Kind.U64),
    _Rule("target_latency", "single_stream_expected_latency_ns", _Kind.F64, "SingleStream", _MS),
    _Rule("target_latency", "multi_stream_expected_latency_ns", _Kind.F64, "MultiStream", _MS),
    _Rule("target_qps", "server_target_qps", _Kind.F64, "Server"),
    _Rule("target_qps", "offline_expected_qps", _Kind.F64, "Offline"),
    _Rule("print_timestamps", "print_timestamps", _Kind.NOT_ZERO),
    _Rule("accuracy_log_rng_seed", "accuracy_log_rng_seed", _Kind.U64),
    _Rule("accuracy_log_sampling_target", "accuracy_log_sampling_target", _Kind.U64),
)


def _convert(rule: _Rule, token: str) -> object:
    if rule.kind is _Kind.F64:
        return _strtod(token) * rule.scale
    value = _strtoull(token)
    if rule.kind is _Kind.U64:
        return (value * int(rule.scale)) % _U64
    if rule.kind is _Kind.IS_ONE:
        return value == 1
    if rule.kind is _Kind.NOT_ZERO:
        return value != 0
    as_int = value & 0xFFFF_FFFF  # _Kind.INT32
    return (as_int - (1 << 32) if as_int >= 1 << 31 else as_int) % _U64


def _find_key(values: dict[str, str], model: str, scenario: str, name: str) -> str | None:
    """The key that answers (model, scenario, name): M.S.K, then *.S.K, M.*.K, *.*.K."""
    for key in (
        f"{model}.{scenario}.{name}",
        f"*.{scenario}.{name}",
        f"{model}.*.{name}",
        f"*.*.{name}",
    ):
        if key in values:
            return key
    return None


def _apply(
    settings: SettingsFields,
    parsed: ParsedConfig,
    model: str,
    scenario: str,
    *,
    mlperf_conf: bool,
    origins: dict[str, Origin] | None = None,
) -> list[ConfigError]:
    """Set every field the file has a key for; return the problems (a bad mode value).

    ``origins``, if given, gets field -> where its value came from for every field set.
    """
    problems = []
    values = parsed.values

    def note(field_name: str, key: str, scale: float = 1.0) -> None:
        if origins is not None:
            where = (parsed.path, parsed.lines[key], key, values[key], scale)
            origins[field_name] = Origin(*where, from_mlperf_conf=mlperf_conf)

    key = _find_key(values, model, scenario, "mode")
    if key is not None:
        mode = _strtoull(values[key])
        if mode <= max(TestMode):
            settings.mode = TestMode(mode)
            note("mode", key)
        else:
            choices = ", ".join(f"{m.value} ({m.name})" for m in TestMode)
            problem = (
                f"value '{_shown(values[key])}' is not a mode; expected {choices}; mode unchanged"
            )
            problems.append(ConfigError(parsed.path, parsed.lines[key], key, problem))
    for rule in _RULES:
        if rule.mlperf_conf_only and not mlperf_conf:
            continue
        if rule.only_if is not None and not getattr(settings, rule.only_if):
            continue
        key = _find_key(values, model, rule.scenario or scenario, rule.name)
        if key is not None:
            setattr(settings, rule.field, _convert(rule, values[key]))
            note(rule.field, key, rule.scale)
    return problems


# --- keys nothing reads and values read as something else -----------------------------------

_SCENARIO_PARTS = ("*", *TestScenario.__members__)
# Names in the official mlperf.conf that no LoadGen code reads: not typos.
_UNREAD_NAMES = ("target_duration",)
# Parameters of the compliance tests (test07_accuracy_threshold, test09_max_output_tokens...):
# audit.config carries them for the compliance scripts, which read the same file.
_COMPLIANCE_NAME = re.compile(r"test[0-9]{2}_[A-Za-z0-9_]+")
# A TestSettings field written where its config name belongs (server_target_qps -> target_qps).
_NAME_OF_FIELD = {r.field: r.name for r in reversed(_RULES)} | {"mode": "mode"}


def _known_names() -> tuple[str, ...]:
    return ("mode", *dict.fromkeys(r.name for r in _RULES), *_UNREAD_NAMES)


def _unknown_key(key: str) -> str | None:
    """Why nothing reads ``key`` (None if something does), with the nearest valid spelling."""
    parts = key.rsplit(".", 2)
    if len(parts) != 3:
        name = parts[-1]
        hint = f"*.*.{_NAME_OF_FIELD.get(name, name)}" if _is_known(name) else "*.*.min_duration"
        return f"not MODEL.SCENARIO.NAME, so nothing reads it; write e.g. '{hint}'"
    _, scenario, name = parts
    if scenario not in _SCENARIO_PARTS:
        return f"'{_shown(scenario)}' is not a scenario, so nothing reads it" + _did_you_mean(
            scenario, _SCENARIO_PARTS[1:]
        )
    if _is_known(name):
        return None
    if name in _NAME_OF_FIELD:
        return (
            f"'{_shown(name)}' is a TestSettings field, not a config name, so nothing reads "
            f"it; did you mean '{_NAME_OF_FIELD[name]}'?"
        )
    return f"unknown name '{_shown(name)}', so nothing reads it" + _did_you_mean(
        name, _known_names()
    )


def _is_known(name: str) -> bool:
    return name in _known_names() or bool(_COMPLIANCE_NAME.fullmatch(name))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _misread_value(key: str, token: str) -> str | None:
    """Why ``token`` would not be read as the number written (None if it would be).

    Checked for every rule that may read ``key``, whatever model the line names: a negative
    or fractional value for an integer key, one that overflows 64 bits (after the ms -> ns
    scaling) or a C int, and NaN, infinite or negative values for a floating-point key.
    """
    parts = key.rsplit(".", 2)
    if len(parts) != 3:
        return None
    _, scenario, name = parts
    rules = [
        r
        for r in _RULES
        if r.name == name and (r.scenario is None or scenario in ("*", r.scenario))
    ]
    if name == "mode":
        rules.append(_Rule("mode", "mode", _Kind.U64))
    shown = _shown(token)
    for rule in rules:
        where = f" (for {rule.scenario})" if rule.scenario and scenario == "*" else ""
        if rule.kind is _Kind.F64:
            value = _strtod(token)
            if math.isnan(value):
                return f"value '{shown}' is not a number (NaN)"
            if math.isinf(value):
                return f"value '{shown}' is infinite"
            if value < 0:
                return f"value '{shown}' is negative; {name} must be 0 or more"
            continue
        if not _C_INT.fullmatch(token):
            return (
                f"value '{shown}' is not an integer; {name}{where} is read as one, so it would "
                f"be {_strtoull(token)}"
            )
        negative, value = _c_int(token)
        if negative and value:
            return (
                f"value '{shown}' is negative; {name} is unsigned, so it would wrap to "
                f"{_strtoull(token)}"
            )
        limit = (1 << 31) - 1 if rule.kind is _Kind.INT32 else (_U64 - 1) // int(rule.scale)
        if value > limit:
            unit = " ms" if rule.scale == _MS else ""
            return f"value '{shown}' is too large; {name}{where} can be at most {limit}{unit}"
    return None


# --- the official entry point ---------------------------------------------------------------

_user_conf_lock = threading.Lock()
_user_conf_calls = 0  # FromConfig calls with conf_type 1 so far in this process


def _report(error: ConfigError, logged: object | None = None) -> None:
    """Send an error to the next test's detail log and, as one line, to stderr."""
    log_pending("error_invalid_config", str(error) if logged is None else logged, error=True)
    print(error, file=sys.stderr)


def from_config(
    settings: SettingsFields, path: str, model: str, scenario: str, conf_type: int = CONF_USER
) -> int:
    """``TestSettings.FromConfig``: apply a config file the way the official LoadGen does.

    Returns 0, -22 (errors, nothing from this file applied) or -2 (cannot open). The first
    conf_type 1 call in the process first loads the embedded mlperf.conf; later ones log that
    several conf files were used. Unlike the official one, a directory counts as unreadable.
    """
    global _user_conf_calls
    if isinstance(scenario, TestScenario):
        scenario = scenario.name
    if conf_type == CONF_USER:
        with _user_conf_lock:
            first = _user_conf_calls == 0
            _user_conf_calls += 1
        if first:
            from_config(settings, "", model, scenario, CONF_MLPERF)
        else:
            _report(ConfigError(path, None, None, MULTIPLE_CONF_MESSAGE), MULTIPLE_CONF_MESSAGE)
    parsed = _embedded() if conf_type == CONF_MLPERF else _read_config(path)
    if parsed.unreadable:
        _report(parsed.errors[0])
        return CONFIG_NOT_FOUND
    # A user.conf also gets told about typos and misread values; its values stay as the
    # official parser reads them. (StartTest's own audit.config load stays quiet about these.)
    noted = parsed.unknown + parsed.misread if conf_type == CONF_USER else []
    for warning in sorted(parsed.warnings + noted, key=lambda e: e.line or 0):
        print(f"warning: {warning}", file=sys.stderr)
    if parsed.errors:
        for error in parsed.errors:
            _report(error)
        return CONFIG_INVALID
    for problem in _apply(settings, parsed, model, scenario, mlperf_conf=conf_type == CONF_MLPERF):
        _report(problem)
    return CONFIG_OK


def apply_audit_config(settings: SettingsFields, path: str, scenario: str) -> bool:
    """Apply audit.config as StartTest does, if the file exists; True if it did.

    The model is "*", so only ``*.S.K`` and ``*.*.K`` lines take effect.
    """
    try:
        with open(path, "rb"):
            pass
    except OSError:
        return False
    log_pending("warning_generic_message", AUDIT_FOUND_MESSAGE, warning=True)
    from_config(settings, path, "*", scenario, CONF_AUDIT)
    return True


def apply_test05(settings: SettingsFields) -> bool:
    """If test05 is set: force PerformanceOnly and use the test05 seeds. True if it did."""
    if not settings.test05:
        return False
    log_pending("warning_generic_message", TEST05_MESSAGE, warning=True)
    settings.mode = TestMode.PerformanceOnly
    settings.qsl_rng_seed = settings.test05_qsl_rng_seed
    settings.sample_index_rng_seed = settings.test05_sample_index_rng_seed
    settings.schedule_rng_seed = settings.test05_schedule_rng_seed
    return True


# --- the Pythonic entry points (``_settings.load_settings`` makes the object) ----------------


def apply_conf_files(
    settings: SettingsFields,
    model: str,
    scenario: str,
    user_conf: str | None = None,
    mlperf_conf: str | None = None,
) -> dict[str, Origin]:
    """Set ``scenario``, then apply mlperf.conf and user.conf strictly, as ``load_settings``
    does; returns field -> the config line that set it, for every field set."""
    if scenario not in TestScenario.__members__:
        names = ", ".join(TestScenario.__members__)
        raise ConfigError("", None, None, f"unknown scenario '{scenario}'; expected one of {names}")
    settings.scenario = TestScenario[scenario]
    sources = [_embedded() if mlperf_conf is None else _read_config(mlperf_conf)]
    if user_conf is not None:
        sources.append(_read_config(user_conf))
    origins: dict[str, Origin] = {}
    for is_mlperf_conf, parsed in zip((True, False), sources):
        _raise_first(parsed.problems())
        applied = _apply(
            settings, parsed, model, scenario, mlperf_conf=is_mlperf_conf, origins=origins
        )
        _raise_first(applied)
    return origins


def config_errors(path: str) -> list[ConfigError]:
    """Every problem in a config file, in line order: what FromConfig rejects (-22 or -2), the
    lines it silently skips and the values it reads as something else. Empty if clean."""
    return _read_config(path).problems()


def config_warnings(path: str) -> list[ConfigError]:
    """The keys of a user.conf or audit.config that nothing reads, in line order, each with
    the nearest valid spelling. Lines for other models and scenarios are not among them."""
    return _read_config(path).unknown


def apply_config_file(
    settings: SettingsFields, path: str, model: str, scenario: str
) -> dict[str, Origin]:
    """Apply a user.conf or audit.config strictly (as ``load_settings`` reads user.conf):
    raises ConfigError on the first problem; returns field -> origin for every field set."""
    parsed = _read_config(path)
    _raise_first(parsed.problems())
    origins: dict[str, Origin] = {}
    _raise_first(_apply(settings, parsed, model, scenario, mlperf_conf=False, origins=origins))
    return origins


def _raise_first(problems: Iterable[ConfigError]) -> None:
    for problem in problems:
        raise problem


# --- setting one field from text ------------------------------------------------------------

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def set_field(settings: SettingsFields, name: str, text: str) -> None:
    """Set field ``name`` from ``text`` (a CLI ``--set name=text``), converted to its type.

    Enums take a member name or number; bools take 1/0, true/false, yes/no, on/off; integers
    take decimal, 0x hex or an integral float such as 1e6. Raises ConfigError naming the field.
    """
    if name not in TEST_SETTINGS_DEFAULTS:
        close = difflib.get_close_matches(name, TEST_SETTINGS_DEFAULTS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError("--set", None, name, f"not a TestSettings field{hint}")
    try:
        value = _from_text(name, FIELD_TYPES[name], text.strip())
    except ValueError as exc:
        raise ConfigError("--set", None, name, str(exc)) from None
    setattr(settings, name, value)


def _from_text(name: str, kind: object, text: str) -> object:
    if isinstance(kind, type) and issubclass(kind, enum.IntEnum):
        return _enum_from_text(kind, text)
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"value '{text}' is not a boolean; use 1/0, true/false, yes/no, on/off")
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"value '{text}' is not a number") from None
    value = _int_from_text(text)
    low, high = (-(1 << 31), (1 << 31) - 1) if name in SIGNED_FIELDS else (0, _U64 - 1)
    if not low <= value <= high:
        raise ValueError(f"value '{text}' is out of range {low}..{high}")
    return value


def _int_from_text(text: str) -> int:
    for base in (10, 0):
        try:
            return int(text, base)
        except ValueError:
            pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise ValueError(f"value '{text}' is not an integer")
    return int(number)


def _enum_from_text(kind: type[enum.IntEnum], text: str) -> enum.IntEnum:
    by_name = {m.name.lower(): m for m in kind}
    if text.lower() in by_name:
        return by_name[text.lower()]
    try:
        return kind(int(text))
    except ValueError:
        choices = ", ".join(f"{m.name} ({m.value})" for m in kind)
        raise ValueError(f"value '{text}' is not a {kind.__name__}; expected {choices}") from None


def user_conf_lines(
    settings: SettingsFields, fields: Iterable[str], model: str, scenario: str
) -> list[str]:
    """``fields`` of ``settings`` as user.conf lines (``model.scenario.key = value``).

    The inverse of reading a user.conf, for recording settings changed elsewhere (a command
    line). A field that no user.conf key sets in ``scenario`` becomes a comment saying so.
    """
    lines = []
    for name in dict.fromkeys(fields):
        value = getattr(settings, name)
        rule = next(
            (
                r
                for r in _RULES
                if r.field == name and r.scenario in (None, scenario) and not r.mlperf_conf_only
            ),
            None,
        )
        if rule is None:
            shown = value.name if isinstance(value, enum.Enum) else value
            lines.append(f"# {name} = {shown} (no user.conf key sets it in {scenario})")
            continue
        if rule.scale == 1.0 and rule.kind is not _Kind.F64:
            text = str(int(value))
        else:
            text = format(float(value) / rule.scale, ".12g")
        lines.append(f"{model}.{scenario}.{rule.name} = {text}")
    return lines
