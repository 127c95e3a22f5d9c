"""``lon-report OUTPUT_DIR``: (re)make report.html and result.json from a run's logs.

Works on the output of any run, lon-run's with either LoadGen or one the official LoadGen
wrote on its own (mlperf_log_detail.txt, mlperf_log_trace.json, and lon_node_stats.json when
present). Exit 0 on success, 2 (one line) when the directory holds no readable detail log.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from loadgen.logs import LogError

from . import _report, _result_json


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lon-report", description="Make report.html and result.json from a run's logs."
    )
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="the run's log directory")
    args = parser.parse_args(argv)
    try:
        result = _result_json.write(args.output_dir)
        report = _report.write(args.output_dir)
    except LogError as exc:
        print(f"lon-report: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lon-report: error: {args.output_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(
            f"lon-report: error: report.html needs matplotlib ({exc}); pip install 'lon[report]'",
            file=sys.stderr,
        )
        return 2
    print(f"lon-report: wrote {report} and {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
