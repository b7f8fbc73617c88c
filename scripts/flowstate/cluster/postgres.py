"""PostgreSQL 15 of the local topology: one private cluster (initdb), reached over loopback TCP
and a private unix socket directory, started and stopped with pg_ctl.

Layout under the cluster root: pg/data (the data directory), pg/sock (the socket directory),
logs/postgres.log.
"""

import os
import shutil
import signal
import subprocess
from pathlib import Path

from flowstate import procs
from flowstate.cluster.base import ClusterError, check_reachable_by, loopback, user_ids

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB_NAME = "flowstate"
DB_USER = "flowstate"

# Tuned for a 2-core box with durable commits: fsync stays on, checkpoints are spread out so a
# benchmark measures commits rather than checkpoint storms.
PG_SETTINGS = {
	"listen_addresses": "'127.0.0.1'",
	"fsync": "on",
	"synchronous_commit": "on",
	"full_page_writes": "on",
	"shared_buffers": "256MB",
	"max_connections": "200",
	"effective_cache_size": "1GB",
	"work_mem": "8MB",
	"maintenance_work_mem": "64MB",
	"wal_buffers": "16MB",
	"max_wal_size": "2GB",
	"min_wal_size": "256MB",
	"checkpoint_timeout": "15min",
	"checkpoint_completion_target": "0.9",
	"random_page_cost": "1.1",
	"log_line_prefix": "'%m [%p] %q%u@%d '",
	"log_min_messages": "warning",
	"log_checkpoints": "off",
	"timezone": "'UTC'",
}


def database_url(address, db=DB_NAME, user=DB_USER):
	return "postgresql://%s@%s/%s" % (user, address, db)


class Postgres:
	"""persistent=False makes a throwaway database: initdb skips its final sync (the server itself
	always runs with fsync on, because durable commits are what is being tested)."""

	name = "postgres"

	def __init__(self, root, port, table, persistent):
		self.root = Path(root)
		self.port = port
		self.table = table
		self.persistent = persistent
		self.dir = self.root / "pg"
		self.data = self.dir / "data"
		self.sock = self.dir / "sock"
		self.log = self.root / "logs" / "postgres.log"

	@property
	def address(self):
		return loopback(self.port)

	@property
	def url(self):
		"""The database of the application role, at the server's own address."""
		return database_url(self.address)

	def pg_run(self, args, check=True, timeout=120):
		"""Run a Postgres server binary, as the postgres user when we are root (initdb and the
		postmaster refuse to run as root)."""
		argv = [str(PG_BIN / args[0])] + [str(a) for a in args[1:]]
		if procs.is_root():
			argv = ["runuser", "-u", "postgres", "--"] + argv
		res = subprocess.run(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
				     capture_output=True, text=True, timeout=timeout,
				     start_new_session=True)
		if check and res.returncode != 0:
			raise ClusterError("%s failed (exit %d):\n%s%s\npostgres log:\n%s"
					   % (args[0], res.returncode, res.stdout, res.stderr,
					      procs.log_tail(self.log)))
		return res

	def prepare_dirs(self):
		self.dir.mkdir(parents=True, exist_ok=True)
		self.sock.mkdir(exist_ok=True)
		self.log.touch()
		if procs.is_root():
			uid, gid, gids = user_ids("postgres")
			check_reachable_by(self.dir, uid, gids, self.root)
			os.chown(self.dir, uid, gid)
			os.chown(self.sock, uid, gid)
			os.chown(self.log, uid, gid)

	def write_config(self):
		settings = dict(PG_SETTINGS)
		settings["port"] = str(self.port)
		sock = str(self.sock)
		# A unix socket path is limited to 107 bytes; without one, TCP on loopback still works.
		settings["unix_socket_directories"] = ("'%s'" % sock
						       if len(sock) + 20 < 107 else "''")
		lines = ["# Written by scripts/flowstate/cluster/postgres.py on every start; edit "
			 "PG_SETTINGS there."]
		lines += ["%s = %s" % kv for kv in settings.items()]
		conf = self.data / "flowstate.conf"
		conf.write_text("\n".join(lines) + "\n")
		# Trust, but only over loopback: listen_addresses allows nothing else anyway.
		hba = self.data / "pg_hba.conf"
		hba.write_text("# Written by scripts/flowstate/cluster/postgres.py: loopback only, "
			       "no passwords.\n"
			       "local all all trust\n"
			       "host all all 127.0.0.1/32 trust\n")
		if procs.is_root():
			uid, gid, _ = user_ids("postgres")
			os.chown(conf, uid, gid)
			os.chown(hba, uid, gid)

	def start(self):
		self.prepare_dirs()
		if not (self.data / "PG_VERSION").exists():
			if self.data.exists():
				shutil.rmtree(self.data)
			self.pg_run(["initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
				     "--locale=C", "-A", "trust"] + ([] if self.persistent else ["-N"]))
			with open(self.data / "postgresql.conf", "a") as f:
				f.write("\ninclude = 'flowstate.conf'\n")
		self.write_config()
		if self.pid_file_exists():
			# A stale pid file from a crash: pg_ctl status tells a live server from a dead one.
			if self.pg_run(["pg_ctl", "status", "-D", self.data], check=False).returncode == 0:
				raise ClusterError("a Postgres server is already running on %s" % self.data)
		if not procs.port_is_free(self.port):
			raise ClusterError("port %d (Postgres) is in use" % self.port)
		self.pg_run(["pg_ctl", "start", "-w", "-t", "60", "-s", "-D", self.data, "-l", self.log])
		pid = self.postmaster_pid()
		if pid is not None:
			self.table.track(procs.Proc(self.name, pid, procs.start_time(pid)))
		self.create_database()

	def create_database(self):
		script = ("SELECT 'CREATE ROLE %(u)s LOGIN CREATEDB' "
			  "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%(u)s')\\gexec\n"
			  "SELECT 'CREATE DATABASE %(d)s OWNER %(u)s' "
			  "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '%(d)s')\\gexec\n"
			  % {"u": DB_USER, "d": DB_NAME})
		self.psql(script, user="postgres", db="postgres")

	def pid_file_exists(self):
		return (self.data / "postmaster.pid").exists()

	def postmaster_pid(self):
		"""The postmaster's pid from its pid file, or None."""
		try:
			return int((self.data / "postmaster.pid").read_text().split()[0])
		except (OSError, ValueError, IndexError):
			return None

	def running(self):
		pid = self.postmaster_pid()
		return pid is not None and procs.start_time(pid) is not None

	def stop(self, mode="fast"):
		"""mode: smart | fast (roll back and disconnect) | immediate (crash-like: recovery
		runs at the next start)."""
		if not self.pid_file_exists():
			self.table.untrack(self.name)
			return
		res = self.pg_run(["pg_ctl", "stop", "-w", "-t", "60", "-s", "-m", mode, "-D",
				   self.data], check=False)
		proc = self.table.get(self.name)
		if res.returncode != 0 and proc is not None and proc.alive():
			procs.log("pg_ctl stop failed (%s); sending SIGQUIT" % res.stderr.strip())
			proc.stop(signal.SIGQUIT, 10)
		self.table.untrack(self.name)

	def psql(self, sql, user=DB_USER, db=DB_NAME, check=True):
		"""Run SQL through psql (unaligned, tuples only) and return its output, stripped."""
		env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
		res = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
				      "-h", self.address.host, "-p", str(self.port), "-U", user, "-d", db,
				      "-f", "-"],
				     input=sql, capture_output=True, text=True, env=env, timeout=120)
		if check and res.returncode != 0:
			raise ClusterError("psql failed (exit %d): %s" % (res.returncode, res.stderr.strip()))
		return res.stdout.strip()

