"""FlowState's Python tooling: the local topology, process helpers, the API client and the
benchmark drivers. Python 3 standard library only; run with /usr/bin/python3.

Modules:
    procs     processes we start (pid files with the kernel start time), free loopback ports,
              log tails, the sanitizer report scan, /proc accounting
    api       a small HTTP/JSON client of the REST API (and of /healthz, /metrics)
    cluster   the local topology, one module per service (postgres, redis, node, gateway),
              composed by cluster.topology.Cluster; cluster.cli is `scripts/cluster.py`
    report    formatting shared by the benchmark reports
    plot      latency CDFs and throughput plots for the reports (gnuplot)
    bench     the benchmark drivers (`scripts/bench <scenario>`) and what they share

Importing: the command scripts in scripts/ find the package next to them (Python puts a
script's directory on sys.path); pytest gets it from tests/integration/pytest.ini (pythonpath);
anything else sets PYTHONPATH=scripts.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
