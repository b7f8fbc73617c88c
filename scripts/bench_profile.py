#!/usr/bin/python3
"""Node CPU per committed op: instructions (callgrind) and syscalls (strace), one build or several.

Run it through `scripts/bench profile`; the driver is scripts/flowstate/bench/profile.py.
"""

import sys

from flowstate.bench import profile

if __name__ == "__main__":
	sys.exit(profile.main())
