"""The clusters the integration tests run against: node settings, where cluster directories go,
and the checks every cluster's teardown makes (the session cluster in conftest.py, the private
clusters of test_multinode.py).

Environment knobs:
    FLOWSTATE_NODE_BIN      node binary (default build-asan/bin/flowstate-node)
    FLOWSTATE_TEST_TMPDIR   where cluster directories are created (default: the system temp dir)
    FLOWSTATE_TEST_KEEP=1   keep cluster directories (logs, data) after a passing run
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from flowstate.cluster import ClusterError

# Make a sanitizer finding loud and final: abort at the first report, check leaks at exit.
SANITIZER_ENV = {
	"ASAN_OPTIONS": "abort_on_error=1:halt_on_error=1:detect_leaks=1:"
			"detect_stack_use_after_return=1:check_initialization_order=1:"
			"strict_init_order=1:print_summary=1",
	"UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:abort_on_error=1",
}

NODE_ENV = {
	"FLOWSTATE_SCRYPT_LOG2N": "10",  # password hashing fast enough for tests
	"FLOWSTATE_LOG_LEVEL": "info",
	"FLOWSTATE_SHUTDOWN_TIMEOUT": "5",
	**SANITIZER_ENV,
}


def new_cluster_dir():
	base = os.environ.get("FLOWSTATE_TEST_TMPDIR") or None
	if base:
		Path(base).mkdir(parents=True, exist_ok=True)
	return Path(tempfile.mkdtemp(prefix="flowstate-it-", dir=base))


def stop_and_check(c):
	"""Stops the cluster; returns what went wrong, one message each: it did not stop cleanly, a
	node log holds a sanitizer report, a node did not exit 0 after SIGTERM."""
	problems = []
	try:
		c.stop()
	except ClusterError as e:
		problems.append("cluster in %s did not stop cleanly: %s" % (c.root, e))
	for path, excerpt in c.sanitizer_reports():
		problems.append("sanitizer report in %s:\n%s" % (path, excerpt))
	unclean = {n: code for n, code in c.node_exit_codes.items() if code not in (0, None)}
	if unclean:
		problems.append("nodes did not exit 0 after SIGTERM: %s (logs in %s/logs)"
				% (", ".join("%s=%s" % kv for kv in sorted(unclean.items())), c.root))
	return problems


def dispose(root, keep, what):
	"""Removes a cluster directory, unless keep or FLOWSTATE_TEST_KEEP=1 (then says where)."""
	if keep or os.environ.get("FLOWSTATE_TEST_KEEP") == "1":
		print("\n%s kept: %s" % (what, root), file=sys.stderr)
	else:
		shutil.rmtree(root, ignore_errors=True)
