"""The errors ``sut_server`` raises, as one tree.

    SutServerError           anything this package raises on purpose
    ├── ConfigError          a NodeConfig value or command-line flag is not usable
    ├── BackendError         the backend is unknown, cannot be imported, or rejects an option
    └── BindError            the node cannot listen on the requested address

Each message names the offending flag, option, backend or address, so the command line can show it
as one line without a traceback.
"""

from __future__ import annotations


class SutServerError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SutServerError):
    """A NodeConfig value (or the flag it came from) is out of range or malformed."""


class BackendError(SutServerError):
    """The backend cannot be built: unknown name, failed import, or a bad backend option."""


class BindError(SutServerError):
    """The gRPC server could not listen on the requested HOST:PORT."""
