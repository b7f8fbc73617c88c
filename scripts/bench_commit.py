#!/usr/bin/python3
"""Commit benchmark of FlowState's REST write path, with the Postgres ceiling of the same run.

Run it through `scripts/bench commit [--quick]`; the driver is scripts/flowstate/bench/commit.py.
"""

import sys

from flowstate.bench import commit

if __name__ == "__main__":
	sys.exit(commit.main())
