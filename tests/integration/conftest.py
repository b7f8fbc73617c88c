"""Integration test fixtures.

One private cluster per test session, started through scripts/cluster.py (the same code as
scripts/up): Postgres, Redis, three sanitized flowstate-node processes (build-asan) and the nginx
gateway, all on free loopback ports in a temporary directory. At teardown the session fails if
any node log holds an AddressSanitizer, LeakSanitizer or UBSan report.

Environment knobs:
    FLOWSTATE_NODE_BIN      node binary (default build-asan/bin/flowstate-node)
    FLOWSTATE_TEST_TMPDIR   where the cluster directory is created (default: the system temp dir)
    FLOWSTATE_TEST_KEEP=1   keep the cluster directory (logs, data) after a passing run
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from flowstate.api import request
from flowstate.cluster import Cluster, ClusterError

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


# ---------------------------------------------------------------------------------------------
# HTTP helpers.

_default_base = None


def api(method, path, body=None, token=None, base=None, headers=None, timeout=10.0):
	"""Call the REST API; returns (status, parsed JSON or None). base defaults to the session
	cluster's gateway."""
	base = base or _default_base
	if base is None:
		raise RuntimeError("api(): no base URL and no cluster started")
	headers = dict(headers or {})
	if token:
		headers["Authorization"] = "Bearer " + token
	resp = request(method, base + path, body=body, headers=headers, timeout=timeout)
	try:
		data = resp.json()
	except ValueError:
		data = None
	return resp.status, data


# ---------------------------------------------------------------------------------------------
# The cluster.

def _new_cluster_dir():
	base = os.environ.get("FLOWSTATE_TEST_TMPDIR") or None
	if base:
		Path(base).mkdir(parents=True, exist_ok=True)
	return Path(tempfile.mkdtemp(prefix="flowstate-it-", dir=base))


@pytest.fixture(scope="session")
def cluster():
	global _default_base
	root = _new_cluster_dir()
	c = Cluster(root, nodes=3, sanitized_build=True, env_overrides=NODE_ENV)
	failed = True
	try:
		c.start()
		_default_base = c.gateway_url
		yield c
		failed = False
	finally:
		_default_base = None
		stop_error = None
		try:
			c.stop()
		except ClusterError as e:
			stop_error = e
		reports = c.sanitizer_reports()
		unclean = {name: code for name, code in c.node_exit_codes.items() if code not in (0, None)}
		keep = (failed or reports or stop_error or unclean
			or os.environ.get("FLOWSTATE_TEST_KEEP") == "1")
		if keep:
			print("\nintegration cluster directory kept: %s" % root, file=sys.stderr)
		else:
			shutil.rmtree(root, ignore_errors=True)
		if reports:
			text = "\n\n".join("%s:\n%s" % (path, excerpt) for path, excerpt in reports)
			pytest.fail("sanitizer reports in node logs (cluster kept in %s):\n\n%s"
				    % (root, text), pytrace=False)
		if stop_error:
			pytest.fail("cluster did not stop cleanly: %s" % stop_error, pytrace=False)
		if unclean:
			pytest.fail("nodes did not exit 0 after SIGTERM: %s (logs in %s/logs)"
				    % (", ".join("%s=%s" % kv for kv in sorted(unclean.items())), root),
				    pytrace=False)


@pytest.fixture
def gateway(cluster):
	return cluster.gateway_url
