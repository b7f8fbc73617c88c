"""Integration test fixtures.

One private cluster per test session (flowstate.cluster, the same code as scripts/up):
Postgres, Redis, three sanitized flowstate-node processes (build-asan) and the nginx gateway, all
on free loopback ports in a temporary directory. At teardown the session fails if any node log
holds an AddressSanitizer, LeakSanitizer or UBSan report, or a node did not exit 0 on SIGTERM.

Shared modules: helpers (accounts, resources, the REST calls), model (the reducer oracle and
random valid ops), wsclient (WebSocket clients, extra nodes), harness (node settings, cluster
directories and teardown checks; its docstring lists the environment knobs), apidoc_check (the
API reference checks below).

Every HTTP response a test gets through flowstate.api, and every WebSocket message a WsClient
receives, is checked against the API reference (docs/api/openapi.json, asyncapi.json): a
response the documents do not describe fails the test that got it.
"""

import pytest

import apidoc_check
import harness
import helpers
from flowstate import api
from flowstate.cluster import Cluster


@pytest.fixture(scope="session", autouse=True)
def responses_match_the_api_reference():
	"""Checks every response of the session (apidoc_check)."""
	stop = api.observe(apidoc_check.check_http)
	yield
	stop()


@pytest.fixture(autouse=True)
def no_response_outside_the_api_reference():
	"""Fails a test during which a response or message did not match the API reference, also
	when the test caught the error or never looked at the message."""
	before = len(apidoc_check.mismatches)
	yield
	found = apidoc_check.mismatches[before:]
	if found:
		pytest.fail("%d response(s) not as docs/api describes:\n\n%s"
			    % (len(found), "\n\n".join(found[:5])), pytrace=False)


def pytest_terminal_summary(terminalreporter):
	for line in apidoc_check.coverage():
		terminalreporter.write_line(line)


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
