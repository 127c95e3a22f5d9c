"""Just enough of systemd's unit and environment-file syntax to run a unit's commands by hand.

What it follows (systemd.service(5), systemd.exec(5)): ``\\`` continues a line; ``Environment=``
sets defaults that ``EnvironmentFile=`` files override, in order; in a command ``${VAR}`` is one
word, a word that is exactly ``$VAR`` is split at whitespace, an unset variable is empty;
``%i`` is the instance name and ``%H`` the host name.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> its (key, value) pairs in order, continuation lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def environment(section: list[tuple[str, str]], files: dict[str, Path]) -> dict[str, str]:
    """Environment= defaults, then each EnvironmentFile= (by the name it has in the unit, mapped
    to a real file by ``files``; a '-' file that is not mapped is skipped, as when absent)."""
    env: dict[str, str] = {}
    for item in values(section, "Environment"):
        for word in shlex.split(item):
            key, _, value = word.partition("=")
            env[key] = value
    for name in values(section, "EnvironmentFile"):
        optional = name.startswith("-")
        name = name.lstrip("-")
        if name in files:
            env.update(read_env_file(files[name]))
        elif not optional:
            raise FileNotFoundError(name)
    return env


def specifiers(text: str, instance: str, host: str) -> str:
    return text.replace("%i", instance).replace("%H", host)


def command(line: str, env: dict[str, str]) -> list[str]:
    """A command line of the unit as argv, its variables expanded as systemd does."""
    argv: list[str] = []
    for word in shlex.split(line):
        bare = _BARE.fullmatch(word)
        if bare:
            argv.extend(env.get(bare.group(1), "").split())
        else:
            argv.append(_BRACED.sub(lambda m: env.get(m.group(1), ""), word))
    return argv
