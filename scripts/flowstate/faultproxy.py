"""A TCP fault proxy the tests control: it sits between a node and a service (Postgres, Redis)
and can pass traffic, go silent, reset, or add delay, on demand.

The failure this exists for is the quiet one: a network path that stops delivering packets
without closing anything (a partition, a dead NAT entry, a hung middlebox). Nothing tells the
endpoints; only their own deadlines can. Modes:

    pass        forward both ways (the default)
    blackhole   forward nothing, close nothing: connections stay open, bytes wait in the kernel
                buffers (TCP flow control does the rest), new connections are accepted and then
                left unanswered. Going back to pass resumes every stream where it stopped, as
                TCP retransmission would after a short partition: nothing is lost or corrupted.
    blackhole_new
                open connections keep flowing; new ones are accepted and then left unanswered
                (a link that fails for the next connection only: a worker's own connection
                while the pool's keep working). Going back to pass connects them through.
    reset       every open connection is reset (RST, SO_LINGER 0) on both sides, and new ones
                are reset as soon as they arrive, until another mode is set
    delay(s)    forward both ways, each chunk s seconds after it was read

One selector thread does all the I/O; the control methods are thread-safe and take effect
before they return. Listens on 127.0.0.1 only.

    proxy = FaultProxy(("127.0.0.1", pg_port)).start()
    cluster.route("postgres", proxy.address)     # the nodes started next go through it
    proxy.blackhole(); ...; proxy.pass_()
    proxy.stop()
"""

import collections
import heapq
import itertools
import selectors
import socket
import struct
import threading
import time

PASS, BLACKHOLE, BLACKHOLE_NEW, RESET, DELAY = "pass", "blackhole", "blackhole-new", "reset", "delay"
CHUNK = 65536
# Bytes read ahead per direction before the proxy stops reading (backpressure).
MAX_PENDING = 1 << 20


def _reset(sock):
	"""Closes with RST rather than FIN."""
	try:
		sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	except OSError:
		pass
	try:
		sock.close()
	except OSError:
		pass


class _Pipe:
	"""One direction of a connection: bytes read from src wait in `pending` (each chunk with the
	time it may leave) until dst can take them."""

	def __init__(self, src, dst):
		self.src = src
		self.dst = dst
		self.pending = collections.deque()  # (due, bytes)
		self.size = 0
		self.eof = False          # src closed its side
		self.shut = False         # dst was told (shutdown SHUT_WR)

	def due(self):
		return self.pending[0][0] if self.pending else None


class _Conn:
	ids = itertools.count(1)

	def __init__(self, client):
		self.id = next(self.ids)
		self.client = client
		self.upstream = None
		self.connecting = False
		self.up = None            # client -> upstream
		self.down = None          # upstream -> client
		self.closed = False
		self.held = False         # accepted in a black hole for new connections


class FaultProxy:
	def __init__(self, target, listen_host="127.0.0.1", port=0, name="proxy"):
		self.target = tuple(target)
		self.name = name
		self._lock = threading.Lock()
		self._mode = PASS
		self._delay = 0.0
		self._sel = selectors.DefaultSelector()
		self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self._listener.bind((listen_host, port))
		self._listener.listen(128)
		self._listener.setblocking(False)
		self.host, self.port = self._listener.getsockname()[:2]
		self._wake_r, self._wake_w = socket.socketpair()
		self._wake_r.setblocking(False)
		self._conns = {}
		self._commands = collections.deque()
		self._thread = None
		self._running = False
		self.accepted = 0

	# ---- control (any thread) ---------------------------------------------------------------

	@property
	def address(self):
		return "%s:%d" % (self.host, self.port)

	@property
	def mode(self):
		with self._lock:
			return self._mode

	def start(self):
		self._sel.register(self._listener, selectors.EVENT_READ, ("listen", None))
		self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
		self._running = True
		self._thread = threading.Thread(target=self._run, name="faultproxy-" + self.name,
						daemon=True)
		self._thread.start()
		return self

	def stop(self):
		if not self._running:
			return
		self._call(self._shutdown)
		self._thread.join(10)
		self._running = False

	def pass_(self):
		self._call(self._set_mode, PASS, 0.0)

	def blackhole(self):
		self._call(self._set_mode, BLACKHOLE, 0.0)

	def blackhole_new(self):
		self._call(self._set_mode, BLACKHOLE_NEW, 0.0)

	def reset(self):
		self._call(self._set_mode, RESET, 0.0)

	def delay(self, seconds):
		self._call(self._set_mode, DELAY, float(seconds))

	def open_connections(self):
		box = []
		self._call(lambda: box.append(sum(1 for c in self._conns.values() if not c.closed)))
		return box[0]

	def __enter__(self):
		return self.start()

	def __exit__(self, *exc):
		self.stop()

	def _call(self, fn, *args):
		"""Runs fn on the proxy thread and waits for it: a mode is in force when this returns."""
		if not self._running:
			raise RuntimeError("fault proxy %s is not running" % self.name)
		done = threading.Event()
		self._commands.append((fn, args, done))
		self._wake_w.send(b"x")
		if not done.wait(10):
			raise RuntimeError("fault proxy %s did not answer" % self.name)

	# ---- the proxy thread ------------------------------------------------------------------

	def _run(self):
		while self._running:
			timeout = self._next_timeout()
			for key, events in self._sel.select(timeout):
				kind, conn = key.data
				try:
					if kind == "listen":
						self._accept()
					elif kind == "wake":
						self._drain_commands()
					else:
						self._io(conn, key.fileobj, events)
				except OSError:
					if conn is not None:
						self._close(conn)
			self._flush_due()
			if self._thread_should_exit:
				break
		self._sel.close()

	_thread_should_exit = False

	def _drain_commands(self):
		try:
			self._wake_r.recv(4096)
		except BlockingIOError:
			pass
		while self._commands:
			fn, args, done = self._commands.popleft()
			try:
				fn(*args)
			finally:
				done.set()

	def _shutdown(self):
		for conn in list(self._conns.values()):
			self._close(conn)
		self._sel.unregister(self._listener)
		self._listener.close()
		self._thread_should_exit = True

	def _set_mode(self, mode, delay):
		with self._lock:
			self._mode = mode
			self._delay = delay
		if mode == RESET:
			for conn in list(self._conns.values()):
				self._close(conn, rst=True)
		for conn in list(self._conns.values()):
			if mode in (PASS, DELAY):
				conn.held = False
			if (not conn.closed and conn.upstream is None and not conn.connecting
			    and mode in (PASS, DELAY)):
				self._connect_upstream(conn)
			self._update_interest(conn)

	def _accept(self):
		while True:
			try:
				client, _ = self._listener.accept()
			except BlockingIOError:
				return
			self.accepted += 1
			client.setblocking(False)
			client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
			conn = _Conn(client)
			if self._mode == RESET:
				_reset(client)
				continue
			self._conns[conn.id] = conn
			conn.held = self._mode == BLACKHOLE_NEW
			if self._mode in (PASS, DELAY):
				self._connect_upstream(conn)
			self._update_interest(conn)

	def _connect_upstream(self, conn):
		up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		up.setblocking(False)
		up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		conn.upstream = up
		conn.up = _Pipe(conn.client, up)
		conn.down = _Pipe(up, conn.client)
		conn.connecting = True
		err = up.connect_ex(self.target)
		if err not in (0, 115, 11):  # EINPROGRESS, EAGAIN
			self._close(conn)

	def _watch(self, sock, events, conn):
		try:
			key = self._sel.get_key(sock)
		except KeyError:
			key = None
		if events == 0:
			if key:
				self._sel.unregister(sock)
		elif key is None:
			self._sel.register(sock, events, ("io", conn))
		elif key.events != events:
			self._sel.modify(sock, events, ("io", conn))

	def _update_interest(self, conn):
		"""Reads only in pass/delay mode and while the other side's backlog is small; writes
		while something is due. A black hole neither reads nor writes."""
		if conn.closed:
			return
		flowing = self._mode in (PASS, DELAY) or (self._mode == BLACKHOLE_NEW and not conn.held)
		now = time.monotonic()
		client_ev = 0
		up_ev = 0
		if conn.up is None:
			# Not connected upstream yet (accepted in a black hole): nothing to read for.
			self._watch(conn.client, 0, conn)
			return
		if conn.connecting:
			up_ev |= selectors.EVENT_WRITE
		else:
			if flowing and not conn.up.eof and conn.up.size < MAX_PENDING:
				client_ev |= selectors.EVENT_READ
			if flowing and not conn.down.eof and conn.down.size < MAX_PENDING:
				up_ev |= selectors.EVENT_READ
			if flowing and conn.up.pending and conn.up.due() <= now:
				up_ev |= selectors.EVENT_WRITE
			if flowing and conn.down.pending and conn.down.due() <= now:
				client_ev |= selectors.EVENT_WRITE
		self._watch(conn.client, client_ev, conn)
		self._watch(conn.upstream, up_ev, conn)

	def _io(self, conn, sock, events):
		if conn.closed:
			return
		if sock is conn.upstream and conn.connecting:
			err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
			if err:
				self._close(conn)
				return
			conn.connecting = False
		if events & selectors.EVENT_READ:
			pipe = conn.up if sock is conn.client else conn.down
			self._read(conn, pipe)
		if not conn.closed and events & selectors.EVENT_WRITE:
			pipe = conn.up if sock is conn.upstream else conn.down
			self._write(conn, pipe)
		if not conn.closed:
			self._update_interest(conn)

	def _read(self, conn, pipe):
		try:
			data = pipe.src.recv(CHUNK)
		except BlockingIOError:
			return
		except ConnectionResetError:
			self._close(conn, rst=True)
			return
		if not data:
			pipe.eof = True
		else:
			due = time.monotonic() + (self._delay if self._mode == DELAY else 0.0)
			pipe.pending.append((due, data))
			pipe.size += len(data)
		self._maybe_finish(conn, pipe)

	def _write(self, conn, pipe):
		now = time.monotonic()
		while pipe.pending and pipe.pending[0][0] <= now:
			due, data = pipe.pending[0]
			try:
				n = pipe.dst.send(data)
			except BlockingIOError:
				return
			except (BrokenPipeError, ConnectionResetError):
				self._close(conn, rst=True)
				return
			pipe.size -= n
			if n < len(data):
				pipe.pending[0] = (due, data[n:])
				return
			pipe.pending.popleft()
		self._maybe_finish(conn, pipe)

	def _maybe_finish(self, conn, pipe):
		"""Passes a half-close on once everything before it has gone; closes the pair when both
		directions are done."""
		if pipe.eof and not pipe.pending and not pipe.shut:
			pipe.shut = True
			try:
				pipe.dst.shutdown(socket.SHUT_WR)
			except OSError:
				pass
		if conn.up.shut and conn.down.shut:
			self._close(conn)

	def _flush_due(self):
		if self._mode not in (PASS, DELAY, BLACKHOLE_NEW):
			return
		for conn in list(self._conns.values()):
			if conn.closed or conn.held or conn.up is None or conn.connecting:
				continue
			for pipe in (conn.up, conn.down):
				if pipe.pending and pipe.due() <= time.monotonic():
					self._write(conn, pipe)
			self._update_interest(conn)

	def _next_timeout(self):
		if self._mode != DELAY:
			return None
		dues = [p.due() for c in self._conns.values() if not c.closed and c.up
			for p in (c.up, c.down) if p.pending]
		if not dues:
			return None
		return max(0.0, min(dues) - time.monotonic())

	def _close(self, conn, rst=False):
		if conn.closed:
			return
		conn.closed = True
		for sock in (conn.client, conn.upstream):
			if sock is None:
				continue
			try:
				self._sel.unregister(sock)
			except (KeyError, ValueError):
				pass
			if rst:
				_reset(sock)
			else:
				try:
					sock.close()
				except OSError:
					pass
		self._conns.pop(conn.id, None)
