"""The harness's TCP fault proxy (scripts/flowstate/faultproxy.py) against a local echo server:
each mode does what the partition tests rely on."""

import socket
import threading
import time

import pytest

from flowstate.faultproxy import FaultProxy


@pytest.fixture
def echo():
	server = socket.socket()
	server.bind(("127.0.0.1", 0))
	server.listen()
	stop = threading.Event()

	def serve(conn):
		with conn:
			try:
				while True:
					data = conn.recv(65536)
					if not data:
						return
					conn.sendall(data)
			except OSError:
				return

	def accept():
		while not stop.is_set():
			try:
				conn, _ = server.accept()
			except OSError:
				return
			threading.Thread(target=serve, args=(conn,), daemon=True).start()

	threading.Thread(target=accept, daemon=True).start()
	yield server.getsockname()
	stop.set()
	server.close()


@pytest.fixture
def proxy(echo):
	p = FaultProxy(echo, name="echo").start()
	yield p
	p.stop()


def client(proxy, timeout=2.0):
	c = socket.create_connection((proxy.host, proxy.port))
	c.settimeout(timeout)
	return c


def recv_exactly(c, n):
	out = b""
	while len(out) < n:
		chunk = c.recv(n - len(out))
		if not chunk:
			raise EOFError(out)
		out += chunk
	return out


def test_pass_forwards_both_ways_large_streams_included(proxy):
	with client(proxy, timeout=10) as c:
		data = bytes(range(256)) * 20000  # 5 MB
		threading.Thread(target=c.sendall, args=(data,), daemon=True).start()
		assert recv_exactly(c, len(data)) == data


def test_a_black_hole_forwards_nothing_closes_nothing_and_loses_nothing(proxy):
	with client(proxy) as c:
		c.sendall(b"before")
		assert recv_exactly(c, 6) == b"before"
		proxy.blackhole()
		c.sendall(b"during")
		with pytest.raises(socket.timeout):
			c.recv(100)
		with client(proxy, timeout=0.5) as fresh:  # accepted, then silent
			fresh.sendall(b"new")
			with pytest.raises(socket.timeout):
				fresh.recv(100)
			proxy.pass_()
			assert recv_exactly(c, 6) == b"during"
			assert recv_exactly(fresh, 3) == b"new"


def test_a_black_hole_for_new_connections_leaves_open_ones_flowing(proxy):
	with client(proxy) as c:
		c.sendall(b"before")
		assert recv_exactly(c, 6) == b"before"
		proxy.blackhole_new()
		with client(proxy, timeout=0.5) as fresh:  # accepted, then silent
			fresh.sendall(b"new")
			with pytest.raises(socket.timeout):
				fresh.recv(100)
			c.sendall(b"still")  # the open one is not affected
			assert recv_exactly(c, 5) == b"still"
			big = bytes(range(256)) * 4096  # 1 MiB both ways
			c.sendall(big)
			assert recv_exactly(c, len(big)) == big
			with pytest.raises(socket.timeout):
				fresh.recv(100)
			proxy.pass_()
			assert recv_exactly(fresh, 3) == b"new"


def test_reset_resets_open_and_new_connections_until_another_mode(proxy):
	with client(proxy) as c:
		c.sendall(b"x")
		assert recv_exactly(c, 1) == b"x"
		proxy.reset()
		with pytest.raises((ConnectionResetError, EOFError, BrokenPipeError)):
			c.sendall(b"y")
			recv_exactly(c, 1)
	with client(proxy) as c:
		with pytest.raises((ConnectionResetError, EOFError, BrokenPipeError)):
			c.sendall(b"z")
			recv_exactly(c, 1)
	proxy.pass_()
	with client(proxy) as c:
		c.sendall(b"ok")
		assert recv_exactly(c, 2) == b"ok"


def test_delay_holds_each_chunk_each_way(proxy):
	proxy.delay(0.3)
	with client(proxy) as c:
		t0 = time.monotonic()
		c.sendall(b"slow")
		assert recv_exactly(c, 4) == b"slow"
		assert time.monotonic() - t0 >= 0.6  # 0.3 s there, 0.3 s back
