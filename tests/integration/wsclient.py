"""WebSocket helpers for the integration tests, independent of the node's own code.

Two clients:
  * WsClient: Debian's python3-websockets (10.4, asyncio), a complete RFC 6455 implementation
    written by someone else. A background task reads every message into `messages` as it
    arrives, so a test never blocks the socket and can wait for any condition over what it
    has received so far (WsClient.wait).
  * RawWs: a blocking socket with hand-built frames, for what a correct client library will not
    send (binary garbage, invalid UTF-8, oversized and unmasked frames) and for a client that
    stops reading.

And ExtraNode: one more flowstate-node process with its own settings, sharing the session
cluster's Postgres, Redis and JWT secret, for limits that need non-default configuration.

Every wait has a deadline; nothing here can hang a test.
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
import urllib.parse
import uuid

import websockets
import websockets.exceptions

import apidoc_check
from harness import SANITIZER_ENV

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------------------------------------
# websockets-based client.

def ws_path(canvas_id, token=None, since=None):
	query = {}
	if token is not None:
		query["token"] = token
	if since is not None:
		query["since"] = str(since)
	path = "/api/v1/canvases/%s/ws" % canvas_id
	if query:
		path += "?" + urllib.parse.urlencode(query)
	return path


def ws_url(base, canvas_id, token, since=None):
	u = urllib.parse.urlsplit(base)
	return "ws://%s:%d%s" % (u.hostname, u.port, ws_path(canvas_id, token, since))


class WsClient:
	"""One websockets connection; every received message is appended to `messages`."""

	def __init__(self, ws, label):
		self.ws = ws
		self.label = label
		self.messages = []
		self.finished = False
		self.close_code = None
		self.close_reason = None
		self.error = None
		self.sync = None
		self._event = asyncio.Event()
		self._reader = asyncio.get_running_loop().create_task(self._read())

	async def _read(self):
		try:
			async for raw in self.ws:
				if isinstance(raw, bytes):
					self.error = "server sent a binary message: %r" % raw[:100]
					break
				message = json.loads(raw)
				self.messages.append(message)
				problem = apidoc_check.check_ws(message)
				if problem and not self.error:
					self.error = problem
				self._event.set()
		except websockets.exceptions.ConnectionClosed:
			pass
		except Exception as e:  # a JSON error is a finding: keep it for the waiter
			self.error = "%s: %r" % (type(e).__name__, e)
		finally:
			self.finished = True
			self.close_code = self.ws.close_code
			self.close_reason = self.ws.close_reason
			self._event.set()

	def _describe(self):
		tail = self.messages[-4:]
		text = json.dumps(tail)
		if len(text) > 1500:
			text = text[:1500] + "..."
		return "%d messages so far, last: %s" % (len(self.messages), text)

	async def wait(self, pred, timeout=10.0, what="condition"):
		"""Returns pred()'s first truthy value; fails on timeout or when the socket closes."""
		loop = asyncio.get_running_loop()
		deadline = loop.time() + timeout
		while True:
			if self.error:
				raise AssertionError("%s: %s" % (self.label, self.error))
			result = pred()
			if result:
				return result
			if self.finished:
				raise AssertionError("%s: connection closed (code %s, %r) while waiting for %s; %s"
						     % (self.label, self.close_code, self.close_reason, what,
							self._describe()))
			remaining = deadline - loop.time()
			if remaining <= 0:
				raise AssertionError("%s: no %s within %.1fs; %s"
						     % (self.label, what, timeout, self._describe()))
			self._event.clear()
			try:
				await asyncio.wait_for(self._event.wait(), remaining)
			except asyncio.TimeoutError:
				pass

	def of_type(self, type_):
		return [m for m in self.messages if m.get("type") == type_]

	def ops(self):
		"""Every op received, in arrival order: one per `operation` message, and each of an
		`operations` batch (what a client behind its room gets as its socket drains)."""
		out = []
		for m in self.messages:
			if m.get("type") == "operation":
				out.append(m["operation"])
			elif m.get("type") == "operations":
				out.extend(m["operations"])
		return out

	def versions(self):
		return [o["version"] for o in self.ops()]

	def find(self, type_, pred=None, start=0):
		for m in self.messages[start:]:
			if m.get("type") == type_ and (pred is None or pred(m)):
				return m
		return None

	async def wait_type(self, type_, pred=None, start=0, timeout=10.0):
		return await self.wait(lambda: self.find(type_, pred, start), timeout,
				       "%s message" % type_)

	async def wait_version(self, version, timeout=15.0):
		await self.wait(lambda: self.ops() and self.ops()[-1]["version"] >= version, timeout,
				"operation version %d" % version)

	async def send(self, obj):
		await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

	async def send_op(self, op_type, payload, client_op_id=None):
		client_op_id = client_op_id or str(uuid.uuid4())
		await self.send({"type": "operation", "op_type": op_type, "payload": payload,
				 "client_op_id": client_op_id})
		return client_op_id

	def reply_for(self, client_op_id):
		"""The ack or error naming client_op_id, if it arrived."""
		for m in self.messages:
			if m.get("type") in ("ack", "error") and m.get("client_op_id") == client_op_id:
				return m
		return None

	async def wait_reply(self, client_op_id, timeout=10.0):
		return await self.wait(lambda: self.reply_for(client_op_id), timeout,
				       "ack or error for %s" % client_op_id)

	async def commit(self, op_type, payload, client_op_id=None, timeout=10.0):
		"""Sends one op and returns its ack (fails on an error)."""
		cid = await self.send_op(op_type, payload, client_op_id)
		reply = await self.wait_reply(cid, timeout)
		assert reply["type"] == "ack", (self.label, reply)
		return reply

	async def wait_closed(self, timeout=10.0):
		await self.wait(lambda: self.finished, timeout, "close")
		return self.close_code

	async def close(self):
		try:
			await asyncio.wait_for(self.ws.close(), 10)
		except (asyncio.TimeoutError, OSError):
			pass
		try:
			await asyncio.wait_for(self._reader, 10)
		except asyncio.TimeoutError:
			self._reader.cancel()


async def connect(base, canvas_id, user, since=None, label=None, timeout=10.0, token=None,
		  settle=True):
	"""Connects, waits for the sync message (which must be the first one) and returns the
	client with .sync set.

	settle=True then waits until the node accepts edits from this session. A client may edit
	once it has the sync (test_op_sent_right_after_sync_is_accepted checks exactly that); this
	keeps every other test independent of that property, as builds before 2026-11-22 refused
	ops with not_ready until the node's room knew the canvas head. The probe
	is an empty `operations` message, answered with not_ready before and with an invalid_field
	(or, for a viewer, forbidden) error after, without side effects; its answers are removed
	from `messages`. settle_probes counts the not_ready answers."""
	url = ws_url(base, canvas_id, token or user.token, since)
	ws = await asyncio.wait_for(
		websockets.connect(url, open_timeout=timeout, close_timeout=5, max_size=None,
				   max_queue=None, ping_interval=None, compression=None),
		timeout + 1)
	c = WsClient(ws, label or user.email.split("@")[0])
	await c.wait(lambda: c.messages, timeout, "sync message")
	assert c.messages[0].get("type") == "sync", (c.label, c.messages[0])
	c.sync = c.messages[0]
	c.settle_probes = 0
	if settle:
		loop = asyncio.get_running_loop()
		deadline = loop.time() + timeout
		while True:
			start = len(c.messages)
			await c.send({"type": "operations", "ops": []})
			m = await c.wait_type("error", start=start, timeout=timeout)
			c.messages.remove(m)
			if m["code"] != "not_ready":
				break
			c.settle_probes += 1
			assert loop.time() < deadline, "%s: still not_ready %.0fs after the sync" % (
				c.label, timeout)
			await asyncio.sleep(0.01)
	return c


async def close_all(*clients):
	await asyncio.gather(*(c.close() for c in clients if c is not None))


def run(coro, timeout=120.0):
	"""Runs one test's coroutine with an overall deadline."""
	return asyncio.run(asyncio.wait_for(coro, timeout))


# ---------------------------------------------------------------------------------------------
# Raw socket client with hand-built frames.

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def build_frame(opcode, payload, fin=True, mask=True, rsv=0, length=None):
	"""One client frame. length overrides the declared payload length (for oversize claims)."""
	n = len(payload) if length is None else length
	head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
	mbit = 0x80 if mask else 0
	if n < 126:
		head += bytes([mbit | n])
	elif n < 65536:
		head += bytes([mbit | 126]) + struct.pack("!H", n)
	else:
		head += bytes([mbit | 127]) + struct.pack("!Q", n)
	if mask:
		key = os.urandom(4)
		head += key
		payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
	return head + payload


class EndOfStream(Exception):
	pass


class RawWs:
	"""A blocking socket that performs the opening handshake itself and then speaks frames."""

	def __init__(self, base, canvas_id, token, since=None, rcvbuf=None, timeout=10.0):
		u = urllib.parse.urlsplit(base)
		self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		if rcvbuf:
			# Before connect, so the advertised window stays small: a client that stops
			# reading then backs up into the server's output buffer quickly.
			self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
		self.sock.settimeout(timeout)
		self.sock.connect((u.hostname, u.port))
		key = base64.b64encode(os.urandom(16)).decode()
		request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			   "Sec-WebSocket-Version: 13\r\n\r\n"
			   % (ws_path(canvas_id, token, since), u.hostname, u.port, key))
		self.sock.sendall(request.encode())
		self.buf = b""
		self.end_reason = None
		while b"\r\n\r\n" not in self.buf:
			chunk = self.sock.recv(65536)
			if not chunk:
				raise EndOfStream("closed during the handshake: %r" % self.buf)
			self.buf += chunk
		head, self.buf = self.buf.split(b"\r\n\r\n", 1)
		lines = head.decode("latin-1").split("\r\n")
		assert lines[0].startswith("HTTP/1.1 101"), lines
		headers = {}
		for line in lines[1:]:
			name, _, value = line.partition(":")
			headers[name.strip().lower()] = value.strip()
		want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
		assert headers.get("sec-websocket-accept") == want, headers

	def send_raw(self, data):
		self.sock.sendall(data)

	def send_frame(self, opcode, payload, **kw):
		self.sock.sendall(build_frame(opcode, payload, **kw))

	def _need(self, n):
		while len(self.buf) < n:
			chunk = self.sock.recv(65536)
			if not chunk:
				raise EndOfStream("connection closed after %d of %d bytes" % (len(self.buf), n))
			self.buf += chunk

	def recv_frame(self):
		"""(fin, opcode, payload) of the next server frame; server frames must be unmasked."""
		self._need(2)
		b0, b1 = self.buf[0], self.buf[1]
		assert not b1 & 0x80, "server frame is masked"
		assert not b0 & 0x70, "server frame has RSV bits set"
		n = b1 & 0x7F
		off = 2
		if n == 126:
			self._need(4)
			n = struct.unpack("!H", self.buf[2:4])[0]
			off = 4
		elif n == 127:
			self._need(10)
			n = struct.unpack("!Q", self.buf[2:10])[0]
			off = 10
		self._need(off + n)
		payload = self.buf[off:off + n]
		self.buf = self.buf[off + n:]
		return bool(b0 & 0x80), b0 & 0x0F, payload

	def recv_message(self, answer_pings=True):
		"""The next data message as parsed JSON, answering pings unless told not to;
		('close', code, reason) on a close frame."""
		while True:
			fin, opcode, payload = self.recv_frame()
			if opcode == OP_PING:
				if answer_pings:
					self.send_frame(OP_PONG, payload)
				continue
			if opcode == OP_PONG:
				continue
			if opcode == OP_CLOSE:
				code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
				return ("close", code, payload[2:].decode("utf-8", "replace"))
			assert opcode == OP_TEXT and fin, (fin, opcode, payload[:100])
			message = json.loads(payload)
			problem = apidoc_check.check_ws(message)
			assert not problem, problem
			return message

	def read_until_close(self, answer_pings=True):
		"""(messages, close code or None if the stream ended without a close frame)."""
		messages = []
		while True:
			try:
				m = self.recv_message(answer_pings)
			except (EndOfStream, ConnectionResetError) as e:
				self.end_reason = "%s: %s (%d bytes unparsed)" % (type(e).__name__, e,
										  len(self.buf))
				return messages, None
			if isinstance(m, tuple):
				return messages, m[1]
			messages.append(m)

	def at_eof(self, timeout=5.0):
		"""True when the server closes the TCP connection within timeout. Bytes received
		meanwhile (nothing may follow a close frame) are kept in after_close."""
		self.after_close = self.buf
		self.buf = b""
		deadline = time.monotonic() + timeout
		try:
			while True:
				remaining = deadline - time.monotonic()
				if remaining <= 0:
					return False
				self.sock.settimeout(remaining)
				chunk = self.sock.recv(65536)
				if not chunk:
					return True
				self.after_close += chunk
		except ConnectionResetError:
			return True
		except socket.timeout:
			return False

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass


# ---------------------------------------------------------------------------------------------
# One extra node with its own settings.

class ExtraNode:
	"""A flowstate-node sharing the session cluster's Postgres, Redis and JWT secret, with env
	overrides and the sanitizer settings (Cluster.extra_node: the guardian and `cluster.py down`
	stop it too if this process dies)."""

	def __init__(self, cluster, name, overrides):
		self.cluster = cluster
		self.node = cluster.extra_node(name, {**SANITIZER_ENV, **overrides})
		self.name = self.node.name
		self.url = self.node.url
		self.log = self.node.log
		self.exit_code = None

	def start(self, timeout=90.0):
		self.cluster.start_extra_node(self.node, timeout)
		return self

	def stop(self):
		"""SIGTERM and wait; the exit code of the last stop (None if it never started)."""
		if self.node.proc() is not None:
			self.exit_code = self.node.stop(20)
		return self.exit_code

	def log_text(self):
		return self.node.log_text()

	def sanitizer_reports(self):
		return self.node.sanitizer_reports()
