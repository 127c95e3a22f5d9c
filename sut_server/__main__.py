"""``python -m sut_server`` is the same as ``sut-server``."""

from ._cli import main

raise SystemExit(main())
