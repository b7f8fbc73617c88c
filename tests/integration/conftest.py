"""Integration test fixtures.

One private cluster per test session (flowstate.cluster, the same code as scripts/up):
Postgres, Redis, three sanitized flowstate-node processes (build-asan) and the nginx gateway, all
on free loopback ports in a temporary directory. At teardown the session fails if any node log
holds an AddressSanitizer, LeakSanitizer or UBSan report, or a node did not exit 0 on SIGTERM.

Shared modules: helpers (accounts, resources, the REST calls), model (the reducer oracle and
random valid ops), wsclient (WebSocket clients, extra nodes), harness (node settings, cluster
directories and teardown checks; its docstring lists the environment knobs).
"""

import pytest

import harness
import helpers
from flowstate.cluster import Cluster


@pytest.fixture(scope="session")
def cluster():
	c = Cluster(harness.new_cluster_dir(), nodes=3, sanitized_build=True,
		    env_overrides=harness.NODE_ENV)
	failed = True
	try:
		c.start()
		helpers.use_base(c.gateway_url)
		yield c
		failed = False
	finally:
		helpers.use_base(None)
		problems = harness.stop_and_check(c)
		harness.dispose(c.root, failed or problems, "integration cluster directory")
		if problems:
			pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def gateway(cluster):
	"""The session cluster's gateway URL."""
	return cluster.gateway_url
