"""The commands built on the QDL and the LoadGen: ``lon-run``, ``lon-accuracy`` and the demo.

``lon-run`` (``_run``) runs a benchmark against SUT nodes and can lay the run out in a
submission tree (``_submission``); ``lon-accuracy`` (``_accuracy_cli``) scores a numpy-mlp
run's accuracy log (``_accuracy``); ``python -m lon.demo`` starts two nodes on loopback
(``_nodes``) and runs against them. ``lon-power`` (``_power_cli``) runs lon-run under the
MLCommons power workflow (``_power``, ``_power_tree``); ``lon-ptd-standin`` (``ptd_standin``)
is a PTDaemon simulator for rehearsing it. The commands use only the public faces of ``qdl`` and
``loadgen``; nothing in either imports this package.
"""

import os as _os

# grpc core logs every failed TLS handshake at INFO on stderr, beside the one line the command
# prints for it; it reads this before its first use, so it is set here, before qdl imports grpc.
# A user's own GRPC_VERBOSITY wins.
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
