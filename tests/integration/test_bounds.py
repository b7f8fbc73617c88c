"""The smaller holes of issue 9 §4: a request head trickled byte by byte gets 408; access tokens
with unbelievable times or a subject that is not a user id get 401; duplicate WebSocket handshake
headers get 400; a client message with a member its type does not have gets an error (not a
pong); a killed node's sessions leave everyone's presence within FLOWSTATE_PRESENCE_TTL; and the
gateway's own errors are JSON {detail, code}.
"""

import json
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest

import helpers
from flowstate.api import request
from helpers import api, assert_error, make_team
from test_auth import access_claims, forge_jwt
from wsclient import ExtraNode, connect, run


@pytest.fixture(scope="module")
def jwt_secret(cluster):
	secret = cluster.node_env(0).get("FLOWSTATE_JWT_SECRET")
	assert secret
	return secret


@pytest.fixture(scope="module")
def team(cluster):
	t = make_team({"writer": "editor"})
	t.canvas = helpers.create_canvas(t.owner, t.workspace_id)["id"]
	return t


def raw_exchange(url, data, timeout=10.0, trickle=None):
	"""Sends data (all at once, or one byte every `trickle` seconds until the server answers)
	and returns (status, headers, body) of the response, or None if there was none."""
	u = urllib.parse.urlsplit(url)
	s = socket.create_connection((u.hostname, u.port), timeout=timeout)
	try:
		if trickle is None:
			s.sendall(data)
		else:
			s.settimeout(trickle)
			for i in range(len(data)):
				try:
					s.sendall(data[i:i + 1])
				except (BrokenPipeError, ConnectionResetError):
					break
				try:
					first = s.recv(65536)
				except socket.timeout:
					continue
				if first:
					s.settimeout(timeout)
					return parse_response(first + read_all(s))
				break
		s.settimeout(timeout)
		return parse_response(read_all(s))
	finally:
		s.close()


def read_all(s):
	out = b""
	try:
		while True:
			chunk = s.recv(65536)
			if not chunk:
				break
			out += chunk
			if b"\r\n\r\n" in out:
				head, body = out.split(b"\r\n\r\n", 1)
				for line in head.split(b"\r\n")[1:]:
					name, _, value = line.partition(b":")
					if name.strip().lower() == b"content-length" and \
					   len(body) >= int(value.strip()):
						return out
	except (socket.timeout, ConnectionResetError):
		pass
	return out


def parse_response(raw):
	if not raw:
		return None
	head, _, body = raw.partition(b"\r\n\r\n")
	lines = head.decode("latin-1").split("\r\n")
	status = int(lines[0].split(" ")[1])
	headers = {}
	for line in lines[1:]:
		name, _, value = line.partition(":")
		headers[name.strip().lower()] = value.strip()
	return status, headers, body


# ---------------------------------------------------------------------------------------------
# 408: a whole-head deadline.

@pytest.fixture(scope="module")
def impatient(cluster):
	node = ExtraNode(cluster, "impatient", {"FLOWSTATE_HEADER_TIMEOUT": "1",
						 "FLOWSTATE_IDLE_TIMEOUT": "60"})
	try:
		node.start()
	except BaseException:
		node.stop()
		raise
	yield node
	assert node.stop() == 0
	assert not node.sanitizer_reports()


def test_a_request_head_trickled_byte_by_byte_gets_408_at_the_head_deadline(impatient):
	"""One byte every 100 ms resets the idle timeout every time; the head deadline
	(FLOWSTATE_HEADER_TIMEOUT = 1 s here) is counted from the first byte and answers 408."""
	head = ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n" % ("p" * 200)).encode()
	got = raw_exchange(impatient.url, head, trickle=0.1)
	assert got is not None, "no answer to a trickled head"
	status, headers, body = got
	assert status == 408, (status, body)
	assert headers.get("content-type") == "application/json"
	assert json.loads(body)["code"] == "request_timeout", body
	assert headers.get("connection") == "close"


def test_a_head_that_arrives_in_time_is_served(impatient):
	got = raw_exchange(impatient.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	assert got and got[0] == 200, got


# ---------------------------------------------------------------------------------------------
# Access tokens.

@pytest.mark.parametrize("case", ["future_iat", "lifetime_too_long", "no_iat", "sub_not_uuid"])
def test_signed_tokens_with_unbelievable_claims_are_401(cluster, team, jwt_secret, case):
	now = int(time.time())
	claims = access_claims(team.writer.id)
	if case == "future_iat":
		claims["iat"] = now + 3600
		claims["exp"] = now + 3600 + 600
	elif case == "lifetime_too_long":
		claims["iat"] = now
		claims["exp"] = now + 10 * 365 * 86400
	elif case == "no_iat":
		del claims["iat"]
	else:
		claims["sub"] = "not-a-uuid"
	token = forge_jwt(jwt_secret, claims)
	for path in ("/api/v1/auth/me", "/api/v1/canvases/%s/state" % team.canvas):
		status, body = api("GET", path, token=token)
		assert_error(status, body, 401, "unauthorized")
	# ... and so is the WebSocket upgrade.
	status, body = api("GET", "/api/v1/canvases/%s/ws?token=%s" % (team.canvas, token),
			   headers={"Upgrade": "websocket", "Connection": "Upgrade",
				    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
				    "Sec-WebSocket-Version": "13"})
	assert status == 401, (status, body)


def test_a_token_as_the_node_issues_it_still_works(cluster, team, jwt_secret):
	token = forge_jwt(jwt_secret, access_claims(team.writer.id))
	status, body = api("GET", "/api/v1/auth/me", token=token)
	assert status == 200 and body["id"] == team.writer.id, body


# ---------------------------------------------------------------------------------------------
# WebSocket handshake and messages.

@pytest.mark.parametrize("header", ["Sec-WebSocket-Key", "Sec-WebSocket-Version"])
def test_duplicate_websocket_handshake_headers_are_400(cluster, team, header):
	node = cluster.node_urls[0]
	u = urllib.parse.urlsplit(node)
	values = {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
	lines = ["GET /api/v1/canvases/%s/ws?token=%s HTTP/1.1" % (team.canvas, team.writer.token),
		 "Host: %s:%d" % (u.hostname, u.port), "Upgrade: websocket", "Connection: Upgrade",
		 "Sec-WebSocket-Key: " + values["Sec-WebSocket-Key"],
		 "Sec-WebSocket-Version: 13",
		 "%s: %s" % (header, values[header])]
	got = raw_exchange(node, ("\r\n".join(lines) + "\r\n\r\n").encode())
	assert got is not None
	status, headers, body = got
	assert status == 400, (status, body)
	assert json.loads(body)["code"] == "bad_request", body


def test_a_message_with_a_member_its_type_does_not_have_is_an_error_not_a_reply(cluster, team):
	async def body():
		c = await connect(cluster.node_urls[0], team.canvas, team.writer)
		try:
			for msg, field in (({"type": "ping", "extra": 1}, "extra"),
					   ({"type": "undo", "steps": 2}, "steps"),
					   ({"type": "operations", "ops": [], "atomic": True}, "atomic")):
				start = len(c.messages)
				await c.send(msg)
				err = await c.wait_type("error", start=start)
				assert err["code"] == "unknown_field" and field in err["detail"], err
			await c.send({"type": "ping"})
			await c.wait_type("pong")
			assert len(c.of_type("pong")) == 1, c.of_type("pong")
			assert not c.of_type("undo"), c.of_type("undo")
		finally:
			await c.close()
	run(body())


# ---------------------------------------------------------------------------------------------
# Presence of a killed node.

PRESENCE_TTL = 3


def test_a_killed_nodes_sessions_leave_everyone_within_the_presence_ttl(cluster, team):
	"""Entries live 2/3 of the TTL in Redis and every node reconciles every third, so a killed
	node's sessions are announced gone within the TTL. Checked two ways: the survivor's client
	gets presence_leave, and the entries in Redis never expire later than 2/3 TTL ahead."""
	env = {"FLOWSTATE_PRESENCE_TTL": str(PRESENCE_TTL)}
	victim = ExtraNode(cluster, "presvictim", env)
	survivor = ExtraNode(cluster, "pressurvivor", env)
	victim.start()
	survivor.start()

	async def body():
		gone = await connect(victim.url, team.canvas, team.writer, label="on victim")
		stays = await connect(survivor.url, team.canvas, team.owner, label="on survivor")
		gone_sid = gone.sync["you"]["session_id"]
		try:
			await stays.wait(lambda: any(
				p["session_id"] == gone_sid for p in stays.sync["presence"]) or stays.find(
				"presence_join", lambda m: m["user"]["session_id"] == gone_sid),
				timeout=10, what="the victim's session in presence")
			# What the victim stored: an expiry at most 2/3 TTL ahead of now.
			out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p",
					      str(cluster.service("redis").port), "HGET",
					      "fs:presence:%s" % team.canvas, gone_sid],
					     capture_output=True, text=True, timeout=10)
			entry = json.loads(out.stdout)
			ahead_ms = entry["expires"] - time.time() * 1000
			assert ahead_ms <= PRESENCE_TTL * 1000 * 2 / 3 + 250, ahead_ms
			t0 = time.monotonic()
			victim.node.kill()
			await stays.wait_type("presence_leave", lambda m: m["session_id"] == gone_sid,
					      timeout=PRESENCE_TTL * 4)
			return time.monotonic() - t0
		finally:
			await stays.close()
			await gone.close()

	try:
		took = run(body())
		print("presence_leave of a killed node's session after %.2f s (TTL %d s)"
		      % (took, PRESENCE_TTL))
	finally:
		victim.stop()
		assert survivor.stop() == 0
		assert not survivor.sanitizer_reports()


# ---------------------------------------------------------------------------------------------
# The gateway's own errors.

@pytest.mark.parametrize("case", ["bad_path", "garbage", "uri_too_long", "header_too_large",
				  "body_too_large"])
def test_the_gateways_own_errors_are_json(cluster, case):
	gw = cluster.gateway_url
	u = urllib.parse.urlsplit(gw)
	host = "Host: %s:%d\r\n" % (u.hostname, u.port)
	requests_ = {
		"bad_path": ("GET ../etc/passwd HTTP/1.1\r\n" + host + "\r\n", 400, "bad_request"),
		"garbage": ("NOT A REQUEST\r\n\r\n", 400, "bad_request"),
		"uri_too_long": ("GET /api/v1/" + "a" * 9000 + " HTTP/1.1\r\n" + host + "\r\n", 414,
				 "uri_too_long"),
		"header_too_large": ("GET /api/v1/healthz HTTP/1.1\r\n" + host + "X-Big: " + "b" * 9000
				     + "\r\n\r\n", 431, "headers_too_large"),
		"body_too_large": ("POST /api/v1/auth/login HTTP/1.1\r\n" + host +
				   "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n",
				   413, "payload_too_large"),
	}
	data, want_status, want_code = requests_[case]
	got = raw_exchange(gw, data.encode())
	assert got is not None
	status, headers, body = got
	assert status == want_status, (status, body[:200])
	assert headers.get("content-type") == "application/json", headers
	doc = json.loads(body)
	assert doc["code"] == want_code and doc["detail"], doc
