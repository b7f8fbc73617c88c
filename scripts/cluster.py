#!/usr/bin/python3
"""The local FlowState cluster on 127.0.0.1: Postgres, Redis, N flowstate-node processes and the
nginx gateway (scripts/flowstate/cluster/). scripts/up and scripts/down call it; on its own:

    cluster.py up --dir var [--nodes 3] [--gateway-port 8080] [--foreground]
    cluster.py down --dir var
    cluster.py status --dir var
    cluster.py psql --dir var [-- psql args]
    cluster.py run [--dir D] [--pg-only] [--nodes N] -- command args...
"""

import sys

from flowstate.cluster import cli

if __name__ == "__main__":
	sys.exit(cli.main())
