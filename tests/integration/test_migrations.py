"""Schema migrations run by `flowstate-node migrate` against real Postgres: concurrent runs on a
fresh database apply every migration exactly once, a repeated run is a no-op, and the schema's
immutable operation log refuses UPDATE, DELETE and TRUNCATE.

Each test gets its own fresh database in the session cluster's Postgres (dropped afterwards), so
the cluster's own database is only read.
"""

import re
import subprocess
import uuid

import pytest

from harness import SANITIZER_ENV
from flowstate.cluster import ClusterError
from flowstate.cluster.postgres import DB_USER, database_url
from flowstate.procs import SANITIZER_MARKERS

MIGRATE_TIMEOUT = 120


@pytest.fixture
def fresh_db(cluster):
	"""A new, empty database owned by the application role: (name, url)."""
	name = "fs_migrate_%s" % uuid.uuid4().hex[:12]
	cluster.psql("CREATE DATABASE %s OWNER %s" % (name, DB_USER), user="postgres", db="postgres")
	url = database_url(cluster.postgres.address, db=name)
	yield name, url
	cluster.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name, user="postgres",
		     db="postgres", check=False)


def migrate_env(cluster, database_url):
	env = cluster.node_env(0)
	env.update(SANITIZER_ENV)
	env["FLOWSTATE_DATABASE_URL"] = database_url
	env["FLOWSTATE_LOG_LEVEL"] = "info"
	return env


def start_migrate(cluster, database_url):
	return subprocess.Popen([str(cluster.node_bin), "migrate"], env=migrate_env(cluster, database_url),
				stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
				stderr=subprocess.STDOUT, text=True)


def finish(proc):
	try:
		out, _ = proc.communicate(timeout=MIGRATE_TIMEOUT)
	except subprocess.TimeoutExpired:
		proc.kill()
		out, _ = proc.communicate()
		pytest.fail("flowstate-node migrate did not finish within %ds:\n%s"
			    % (MIGRATE_TIMEOUT, out))
	return proc.returncode, out


def assert_clean_exit(code, out):
	assert code == 0, "flowstate-node migrate exited %s:\n%s" % (code, out)
	for marker in SANITIZER_MARKERS:
		assert marker not in out, out


def migrate_done_counts(out):
	"""(applied, known) from the migrate_done log line."""
	m = re.search(r"migrate_done\b.*\bapplied=(\d+)\b.*\bknown=(\d+)", out)
	assert m, "no migrate_done line in:\n%s" % out
	return int(m.group(1)), int(m.group(2))


def psql_db(cluster, db, sql, check=True):
	return cluster.psql(sql, user=DB_USER, db=db, check=check)


def applied_migrations(cluster, db):
	"""[(name, applied_at)] from schema_migrations, ordered by name."""
	out = psql_db(cluster, db, "SELECT name, applied_at FROM schema_migrations ORDER BY name")
	return [tuple(line.split("|")) for line in out.splitlines() if line]


def expected_migration_names(cluster):
	"""What the binary applies: the session cluster's database was migrated by the same
	binary when its nodes started."""
	out = cluster.psql("SELECT name FROM schema_migrations ORDER BY name")
	names = [line for line in out.splitlines() if line]
	assert names, "the cluster's own database has no migrations recorded"
	return names


def test_three_concurrent_migrate_runs_on_a_fresh_database_apply_each_migration_once(
		cluster, fresh_db):
	db, url = fresh_db
	procs = [start_migrate(cluster, url) for _ in range(3)]
	results = [finish(p) for p in procs]
	for code, out in results:
		assert_clean_exit(code, out)

	expected = expected_migration_names(cluster)
	rows = psql_db(cluster, db, "SELECT name, count(*) FROM schema_migrations GROUP BY name "
			"ORDER BY name")
	counts = dict(line.split("|") for line in rows.splitlines() if line)
	assert sorted(counts) == expected, counts
	assert all(int(c) == 1 for c in counts.values()), counts

	# Between them, the three runs applied every migration once: the lock made the others wait
	# and find nothing left to do.
	done = [migrate_done_counts(out) for _, out in results]
	assert all(known == len(expected) for _, known in done), done
	assert sum(applied for applied, _ in done) == len(expected), done

	# And the result is the real schema, not just the bookkeeping.
	tables = psql_db(cluster, db, "SELECT string_agg(tablename, ',' ORDER BY tablename) "
			 "FROM pg_tables WHERE schemaname = 'public'")
	for table in ("users", "refresh_tokens", "workspaces", "workspace_members", "canvases",
		      "operations", "snapshots", "checkpoints", "schema_migrations"):
		assert table in tables.split(","), tables


def test_migrate_again_is_a_no_op(cluster, fresh_db):
	db, url = fresh_db
	assert_clean_exit(*finish(start_migrate(cluster, url)))
	before = applied_migrations(cluster, db)
	schema_before = psql_db(cluster, db,
				"SELECT string_agg(table_name || '.' || column_name, ',' "
				"ORDER BY table_name, column_name) FROM information_schema.columns "
				"WHERE table_schema = 'public'")
	for _ in range(2):
		code, out = finish(start_migrate(cluster, url))
		assert_clean_exit(code, out)
		applied, known = migrate_done_counts(out)
		assert applied == 0, out
		assert known == len(before), out
	assert applied_migrations(cluster, db) == before
	assert psql_db(cluster, db,
		       "SELECT string_agg(table_name || '.' || column_name, ',' "
		       "ORDER BY table_name, column_name) FROM information_schema.columns "
		       "WHERE table_schema = 'public'") == schema_before


# ---------------------------------------------------------------------------------------------
# The immutable operation log.

@pytest.fixture
def migrated_db_with_one_op(cluster, fresh_db):
	"""A migrated fresh database holding one user, workspace, canvas and operation (inserted
	with psql, as the node would): (db, canvas_id, op_id)."""
	db, url = fresh_db
	assert_clean_exit(*finish(start_migrate(cluster, url)))
	user_id, ws_id, canvas_id, op_id = (str(uuid.uuid4()) for _ in range(4))
	psql_db(cluster, db, """
		INSERT INTO users (id, email, display_name, password_hash)
		VALUES ('%(u)s', 'ops-%(u)s@example.com', 'ops', 'x');
		INSERT INTO workspaces (id, name, created_by) VALUES ('%(w)s', 'ws', '%(u)s');
		INSERT INTO workspace_members (workspace_id, user_id, role)
		VALUES ('%(w)s', '%(u)s', 'owner');
		INSERT INTO canvases (id, workspace_id, name, created_by, version)
		VALUES ('%(c)s', '%(w)s', 'c', '%(u)s', 1);
		INSERT INTO operations (id, canvas_id, version, client_op_id, user_id, type, payload)
		VALUES ('%(o)s', '%(c)s', 1, gen_random_uuid(), '%(u)s', 'create_shape',
		        '{"shape_id": "s1"}');
	""" % {"u": user_id, "w": ws_id, "c": canvas_id, "o": op_id})
	return db, canvas_id, op_id


def op_row(cluster, db, op_id):
	return psql_db(cluster, db, "SELECT canvas_id, version, type, payload::text FROM operations "
			"WHERE id = '%s'" % op_id)


@pytest.mark.parametrize("statement", [
	"UPDATE operations SET payload = '{\"shape_id\": \"hacked\"}' WHERE id = '{op}'",
	"UPDATE operations SET version = version + 1",
	"DELETE FROM operations WHERE id = '{op}'",
	"DELETE FROM operations",
	"TRUNCATE operations",
], ids=["update_row", "update_all", "delete_row", "delete_all", "truncate"])
def test_operations_table_rejects_changes(cluster, migrated_db_with_one_op, statement):
	db, canvas_id, op_id = migrated_db_with_one_op
	before = op_row(cluster, db, op_id)
	assert before, "the operation row was not inserted"
	with pytest.raises(ClusterError, match="immutable"):
		psql_db(cluster, db, statement.replace("{op}", op_id))
	assert op_row(cluster, db, op_id) == before


def test_operations_table_rejects_changes_from_the_superuser_too(cluster, migrated_db_with_one_op):
	"""The trigger is the database's own rule, not a privilege the application role lacks."""
	db, canvas_id, op_id = migrated_db_with_one_op
	with pytest.raises(ClusterError, match="immutable"):
		cluster.psql("DELETE FROM operations WHERE id = '%s'" % op_id, user="postgres", db=db)
	assert op_row(cluster, db, op_id)


def test_operations_table_still_accepts_appends(cluster, migrated_db_with_one_op):
	db, canvas_id, op_id = migrated_db_with_one_op
	user_id = psql_db(cluster, db, "SELECT user_id FROM operations WHERE id = '%s'" % op_id)
	psql_db(cluster, db, "INSERT INTO operations (canvas_id, version, client_op_id, user_id, "
		"type, payload) VALUES ('%s', 2, gen_random_uuid(), '%s', 'delete_shape', "
		"'{\"shape_id\": \"s1\"}')" % (canvas_id, user_id))
	assert psql_db(cluster, db, "SELECT count(*) FROM operations WHERE canvas_id = '%s'"
		       % canvas_id) == "2"


def test_operations_table_rejects_a_duplicate_version_or_client_op_id(cluster,
								      migrated_db_with_one_op):
	db, canvas_id, op_id = migrated_db_with_one_op
	user_id, client_op_id = psql_db(cluster, db, "SELECT user_id, client_op_id FROM operations "
					"WHERE id = '%s'" % op_id).split("|")
	with pytest.raises(ClusterError, match="duplicate key"):
		psql_db(cluster, db, "INSERT INTO operations (canvas_id, version, client_op_id, "
			"user_id, type, payload) VALUES ('%s', 1, gen_random_uuid(), '%s', "
			"'delete_shape', '{}')" % (canvas_id, user_id))
	with pytest.raises(ClusterError, match="duplicate key"):
		psql_db(cluster, db, "INSERT INTO operations (canvas_id, version, client_op_id, "
			"user_id, type, payload) VALUES ('%s', 2, '%s', '%s', 'delete_shape', '{}')"
			% (canvas_id, client_op_id, user_id))
