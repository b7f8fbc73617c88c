"""The benchmark drivers (`scripts/bench <scenario>` runs scripts/bench_<scenario>.py, which calls
main() of the module here) and what they share:

    common    build, the topology under test (own cluster, scripts/up's, or bare URLs), accounts,
              the database checks, machine facts, the options and error handling every driver has
    measure   CPU time and RSS of the servers and of the machine while a load generator runs
    commit    the REST write path next to its pgbench ceiling (scripts/bench commit)
    ws        the WebSocket path: fan-out, cursors, idle connections, joins (scripts/bench ws)
"""

import sys


class BenchError(Exception):
	"""The run cannot go on, or its result is wrong: the message says what and where."""


def say(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)
