"""``lon-submission seal ROOT``: the last step before the checker, truncating accuracy logs.

Exit status: 0 every accuracy directory is sealed, 1 some still need something (listed),
2 bad input (one line on stderr).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..cli import Parser
from ._errors import SubmissionError
from ._seal import seal_tree

PROG = "lon-submission"


def _parser() -> Parser:
    p = Parser(prog=PROG, description="Finish a submission tree written by lon-run.")
    sub = p.add_subparsers(dest="command", required=True)
    seal = sub.add_parser(
        "seal",
        help="truncate every accuracy log and record its hash in accuracy.txt; run it after "
        "the compliance checks (lon-verify reads the full accuracy log)",
    )
    seal.add_argument("root", metavar="ROOT", help="the --submission-dir given to lon-run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        outcomes = seal_tree(args.root)
    except SubmissionError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        print(outcome.line())
    return 1 if any(o.outcome == "still needs" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
