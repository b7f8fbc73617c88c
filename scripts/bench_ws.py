#!/usr/bin/python3
"""Realtime benchmark of FlowState's WebSocket path: fan-out, cursors, idle connections, joins.

Run it through `scripts/bench ws [--quick]`; the driver is scripts/flowstate/bench/ws.py.
"""

import sys

from flowstate.bench import ws

if __name__ == "__main__":
	sys.exit(ws.main())
