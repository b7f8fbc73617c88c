/*
 * Integration-style tests of node/db.c (the async pool), node/migrate.c and schema/001_init.sql
 * against a real PostgreSQL named by FLOWSTATE_TEST_DATABASE_URL (for example
 * postgresql://postgres@127.0.0.1:55432/flowstate_test). Without it every database test is
 * reported SKIPPED, never passed. Migration tests create scratch databases (CREATE DATABASE
 * privilege); if that is refused they fall back to the URL's database.
 *
 * No Criterion .timeout here: under --jobs 2, Criterion 2.4.1's runner leaks its timeout watchdog
 * (LeakSanitizer then fails the binary). Every wait below has its own deadline instead.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "store/db.h"
#include "store/migrate.h"

#define URL_ENV "FLOWSTATE_TEST_DATABASE_URL"

static const char *test_db_url(void)
{
	const char *url = getenv(URL_ENV);
	if (!url || !*url) {
		fprintf(stderr, "SKIPPED: " URL_ENV " is not set: database tests did NOT run\n");
		cr_skip_test(URL_ENV " is not set: database test NOT run "
				     "(set it to postgresql://user@host:port/db)");
	}
	return url;
}

/* Appends key='value' with libpq's quoting rules. */
static void append_kv(char **s, const char *key, const char *value)
{
	size_t len = strlen(*s);
	*s = xrealloc(*s, len + strlen(key) + 2 * strlen(value) + 5);
	char *p = *s + len;
	p += sprintf(p, "%s%s='", len ? " " : "", key);
	for (const char *v = value; *v; v++) {
		if (*v == '\'' || *v == '\\')
			*p++ = '\\';
		*p++ = *v;
	}
	*p++ = '\'';
	*p = '\0';
}

/* The URL's connection parameters with another database name. */
static char *conninfo_with_dbname(const char *url, const char *dbname)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &err);
	cr_assert(opts != NULL, "cannot parse " URL_ENV ": %s", err ? err : "out of memory");
	char *s = xstrdup("");
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
			append_kv(&s, o->keyword, o->val);
	}
	append_kv(&s, "dbname", dbname);
	PQconninfoFree(opts);
	return s;
}

static void quiet_notices(void *arg, const char *message)
{
}

static PGconn *connect_or_fail(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	cr_assert(PQstatus(pg) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(pg));
	PQsetNoticeProcessor(pg, quiet_notices, NULL);
	return pg;
}

static bool exec_ok(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		cr_log_warn("%s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/* First column of the first row, as a fresh string. */
static char *query_value(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", sql,
		  PQresultErrorMessage(res));
	char *v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* ---- scratch databases (one per test process; dropped in .fini even after a failure) ---- */

static char scratch_name[64];
static char *scratch_conninfo;
static bool scratch_created;

static const char *scratch_db_create(const char *tag)
{
	const char *url = test_db_url();
	snprintf(scratch_name, sizeof(scratch_name), "flowstate_test_%s_%d", tag, (int)getpid());
	PGconn *pg = connect_or_fail(url);
	char *drop = xasprintf("DROP DATABASE IF EXISTS %s", scratch_name);
	char *create = xasprintf("CREATE DATABASE %s TEMPLATE template0", scratch_name);
	scratch_created = exec_ok(pg, drop) && exec_ok(pg, create);
	if (scratch_created) {
		scratch_conninfo = conninfo_with_dbname(url, scratch_name);
	} else {
		cr_log_warn("cannot create a scratch database: using the URL's database");
		scratch_conninfo = xstrdup(url);
	}
	free(drop);
	free(create);
	PQfinish(pg);
	return scratch_conninfo;
}

static void scratch_db_drop(void)
{
	if (scratch_created) {
		PGconn *pg = PQconnectdb(getenv(URL_ENV));
		if (PQstatus(pg) == CONNECTION_OK) {
			char *drop = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)",
					       scratch_name);
			(void)exec_ok(pg, drop);
			free(drop);
		}
		PQfinish(pg);
		scratch_created = false;
	}
	free(scratch_conninfo);
	scratch_conninfo = NULL;
}

static void migrate_or_fail(const char *conninfo)
{
	char *error = NULL;
	bool ok = migrate_run(conninfo, &error);
	cr_assert(ok, "migrate_run failed: %s", error ? error : "(no message)");
	cr_assert_null(error);
}

/* ---- migrations ---- */

Test(db_migrate, applies_every_migration_once_and_a_rerun_changes_nothing, .fini = scratch_db_drop)
{
	const char *conninfo = scratch_db_create("idem");
	migrate_or_fail(conninfo);
	PGconn *pg = connect_or_fail(conninfo);
	char *count = query_value(pg, "SELECT count(*) FROM schema_migrations");
	char *stamp = query_value(pg, "SELECT max(applied_at)::text FROM schema_migrations");
	cr_assert_eq(strtoul(count, NULL, 10), migrations_embedded_count);

	migrate_or_fail(conninfo);
	char *count2 = query_value(pg, "SELECT count(*) FROM schema_migrations");
	char *stamp2 = query_value(pg, "SELECT max(applied_at)::text FROM schema_migrations");
	cr_assert_str_eq(count2, count);
	cr_assert_str_eq(stamp2, stamp, "a rerun re-applied a migration");

	static const char *const tables[] = { "users", "refresh_tokens", "workspaces",
					      "workspace_members", "canvases", "operations",
					      "snapshots", "checkpoints" };
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *sql = xasprintf("SELECT to_regclass('%s') IS NOT NULL", tables[i]);
		char *exists = query_value(pg, sql);
		cr_expect_str_eq(exists, "t", "table %s missing", tables[i]);
		free(exists);
		free(sql);
	}
	free(count);
	free(stamp);
	free(count2);
	free(stamp2);
	PQfinish(pg);
}

Test(db_migrate, refuses_to_run_when_an_applied_migration_was_edited, .fini = scratch_db_drop)
{
	const char *conninfo = scratch_db_create("edited");
	migrate_or_fail(conninfo);
	PGconn *pg = connect_or_fail(conninfo);
	char *checksum = query_value(pg, "SELECT checksum FROM schema_migrations "
					 "WHERE name = '001_init.sql'");
	cr_assert_eq(strlen(checksum), 64, "a checksum is recorded: '%s'", checksum);
	/* What a database built from an earlier version of the file looks like. */
	cr_assert(exec_ok(pg, "UPDATE schema_migrations SET checksum = repeat('0', 64) "
			      "WHERE name = '001_init.sql'"));
	char *error = NULL;
	cr_assert_not(migrate_run(conninfo, &error), "an edited migration went unnoticed");
	cr_assert(error && strstr(error, "001_init.sql") && strstr(error, "changed"), "%s",
		  error ? error : "(no error)");
	free(error);
	free(checksum);
	PQfinish(pg);
}

struct migrate_thread {
	const char *conninfo;
	pthread_barrier_t *start;
	bool ok;
	char *error;
};

static void *migrate_thread_main(void *arg)
{
	struct migrate_thread *t = arg;
	pthread_barrier_wait(t->start);
	t->ok = migrate_run(t->conninfo, &t->error);
	return NULL;
}

Test(db_migrate, three_concurrent_runs_all_succeed_and_apply_each_file_once,
     .fini = scratch_db_drop)
{
	const char *conninfo = scratch_db_create("conc");
	enum { N = 3 };
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, N);
	struct migrate_thread threads[N];
	pthread_t ids[N];
	for (int i = 0; i < N; i++) {
		threads[i] = (struct migrate_thread){ .conninfo = conninfo, .start = &start };
		cr_assert_eq(pthread_create(&ids[i], NULL, migrate_thread_main, &threads[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(ids[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < N; i++) {
		cr_expect(threads[i].ok, "run %d failed: %s", i,
			  threads[i].error ? threads[i].error : "?");
		free(threads[i].error);
	}
	PGconn *pg = connect_or_fail(conninfo);
	char *count = query_value(pg, "SELECT count(*) FROM schema_migrations");
	cr_assert_eq(strtoul(count, NULL, 10), migrations_embedded_count);
	free(count);
	PQfinish(pg);
}

Test(db_migrate, missing_database_fails_at_once_with_an_error)
{
	char *conninfo = conninfo_with_dbname(test_db_url(), "flowstate_test_no_such_database");
	char *error = NULL;
	int64_t t0 = clock_mono_ms();
	bool ok = migrate_run(conninfo, &error);
	int64_t elapsed = clock_mono_ms() - t0;
	cr_assert_not(ok);
	cr_assert_not_null(error);
	cr_expect(strstr(error, "flowstate_test_no_such_database") != NULL, "error: %s", error);
	cr_expect_lt(elapsed, 5000, "a refusing server must not be retried for %lld ms",
		     (long long)elapsed);
	free(error);
	free(conninfo);
}

/* ---- schema invariants ---- */

#define U "00000000-0000-0000-0000-000000000001"
#define W "00000000-0000-0000-0000-000000000002"
#define C "00000000-0000-0000-0000-000000000003"
#define OP "00000000-0000-0000-0000-0000000000" /* + 2 hex digits */

/* Runs sql inside a savepoint and expects it to fail with sqlstate. */
static void expect_sqlstate(PGconn *pg, const char *sql, const char *sqlstate)
{
	cr_assert(exec_ok(pg, "SAVEPOINT probe"));
	PGresult *res = PQexec(pg, sql);
	const char *got = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	cr_expect(got && strcmp(got, sqlstate) == 0, "%s: expected %s, got %s (%s)", sql, sqlstate,
		  got ? got : "success", PQresultErrorMessage(res));
	PQclear(res);
	cr_assert(exec_ok(pg, "ROLLBACK TO SAVEPOINT probe"));
}

Test(db_schema, constraints_keep_the_operation_log_ordered_unique_and_immutable,
     .fini = scratch_db_drop)
{
	const char *conninfo = scratch_db_create("schema");
	migrate_or_fail(conninfo);
	PGconn *pg = connect_or_fail(conninfo);
	cr_assert(exec_ok(pg, "BEGIN"));
	/* Fixtures: user U, workspace W, canvas C with op version 1 (client op id ...a1). */
	cr_assert(exec_ok(pg, "INSERT INTO users (id, email, display_name, password_hash) VALUES "
			      "('" U "', 'a@example.com', 'A', 'h');"
			      "INSERT INTO workspaces (id, name, created_by) VALUES "
			      "('" W "', 'w', '" U "');"
			      "INSERT INTO canvases (id, workspace_id, name, created_by) VALUES "
			      "('" C "', '" W "', 'c', '" U "');"
			      "INSERT INTO operations (canvas_id, version, client_op_id, user_id, "
			      "type, payload) VALUES ('" C "', 1, '" OP "a1', '" U "', "
			      "'create_shape', '{\"shape_id\": \"s1\"}')"));
	const char *op = "INSERT INTO operations (canvas_id, version, client_op_id, user_id, type, "
			 "payload, undo_of) "
			 "VALUES ('" C "', %s, '" OP "%s', '" U "', '%s', '%s', %s)";
	struct {
		const char *version, *client_op_suffix, *type, *payload, *undo_of, *sqlstate;
	} bad_ops[] = {
		/* same version twice: total order */
		{ "1", "a2", "move_shape", "{}", "NULL", "23505" },
		/* same client op id twice: idempotent commit */
		{ "2", "a1", "move_shape", "{}", "NULL", "23505" },
		{ "0", "a3", "move_shape", "{}", "NULL", "23514" },
		{ "2", "a4", "paint", "{}", "NULL", "23514" },
		{ "2", "a5", "move_shape", "[]", "NULL", "23514" },
		/* undo_of must name an earlier op of the same canvas */
		{ "2", "a6", "move_shape", "{}", "2", "23514" },
		{ "5", "a7", "move_shape", "{}", "3", "23503" },
	};
	for (size_t i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++) {
		char *sql = xasprintf(op, bad_ops[i].version, bad_ops[i].client_op_suffix,
				      bad_ops[i].type, bad_ops[i].payload, bad_ops[i].undo_of);
		expect_sqlstate(pg, sql, bad_ops[i].sqlstate);
		free(sql);
	}
	char *undo = xasprintf(op, "2", "a8", "delete_shape", "{\"shape_id\": \"s1\"}", "1");
	cr_expect(exec_ok(pg, undo), "a valid undo op was refused");
	free(undo);

	/* The log is immutable. */
	expect_sqlstate(pg, "UPDATE operations SET payload = '{}'", "23001");
	expect_sqlstate(pg, "DELETE FROM operations", "23001");
	expect_sqlstate(pg, "TRUNCATE operations", "23001");
	expect_sqlstate(pg, "TRUNCATE operations CASCADE", "23001");

	expect_sqlstate(pg,
			"INSERT INTO users (email, display_name, password_hash) "
			"VALUES ('B@example.com', 'B', 'h')",
			"23514");
	expect_sqlstate(pg,
			"INSERT INTO users (email, display_name, password_hash) "
			"VALUES ('a@example.com', 'A2', 'h')",
			"23505");
	expect_sqlstate(pg,
			"INSERT INTO users (email, display_name, password_hash) "
			"VALUES ('c@example.com', '', 'h')",
			"23514");
	expect_sqlstate(pg,
			"INSERT INTO workspace_members (workspace_id, user_id, role) VALUES "
			"('" W "', '" U "', 'admin')",
			"23514");
	expect_sqlstate(pg, "UPDATE canvases SET version = -1", "23514");
	expect_sqlstate(pg,
			"INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
			"VALUES ('" U "', gen_random_uuid(), 'not-a-hash', now())",
			"23514");
	cr_assert(exec_ok(pg, "ROLLBACK"));
	PQfinish(pg);
}

/* ---- the async pool ---- */

static void ticker_cb(evutil_socket_t fd, short what, void *arg)
{
}

/*
 * Runs the loop until done(arg) or timeout_ms. A 10 ms ticker bounds each blocking wait so the
 * condition and the deadline are checked even while only long timers are pending.
 */
static void run_until(struct event_base *base, bool (*done)(void *), void *arg, int timeout_ms)
{
	struct event *ticker = event_new(base, -1, EV_PERSIST, ticker_cb, NULL);
	struct timeval tick = { 0, 10000 };
	event_add(ticker, &tick);
	int64_t deadline = clock_mono_ms() + timeout_ms;
	while (!done(arg) && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ticker);
}

static bool int_reached(void *arg)
{
	const int *pair = arg; /* { counter, target } */
	return pair[0] >= pair[1];
}

struct select_ctx {
	int count_target[2];
	bool in_db_query;
	bool called_from_db_query;
	int order[200];
};

struct select_slot {
	struct select_ctx *ctx;
	int index;
	int calls;
	bool ok;
	char value[16];
};

static void on_select(const struct db_result *r, void *arg)
{
	struct select_slot *slot = arg;
	struct select_ctx *ctx = slot->ctx;
	if (ctx->in_db_query)
		ctx->called_from_db_query = true;
	slot->calls++;
	slot->ok = r->ok;
	if (r->ok && r->res && PQntuples(r->res) == 1)
		snprintf(slot->value, sizeof(slot->value), "%s", PQgetvalue(r->res, 0, 0));
	ctx->order[ctx->count_target[0]] = slot->index;
	ctx->count_target[0]++;
}

static void submit_selects(struct db_pool *pool, struct select_ctx *ctx,
			   struct select_slot *slots, int n)
{
	for (int i = 0; i < n; i++) {
		char param[16];
		snprintf(param, sizeof(param), "%d", i);
		const char *params[] = { param };
		slots[i] = (struct select_slot){ .ctx = ctx, .index = i };
		ctx->in_db_query = true;
		bool queued = db_query(pool, "SELECT $1::int * 1", 1, params, on_select, &slots[i]);
		ctx->in_db_query = false;
		cr_assert(queued, "query %d refused", i);
	}
}

Test(db_pool, completes_200_queued_queries_on_4_connections_each_exactly_once)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 4, 1000, 5000);
	cr_assert_not_null(pool);
	static struct select_ctx ctx;
	static struct select_slot slots[200];
	ctx.count_target[1] = 200;
	submit_selects(pool, &ctx, slots, 200);
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.queued, 200, "nothing can run before the loop does");
	run_until(base, int_reached, ctx.count_target, 20000);
	cr_assert_eq(ctx.count_target[0], 200, "only %d of 200 callbacks ran", ctx.count_target[0]);
	cr_expect_not(ctx.called_from_db_query, "a callback ran inside db_query");
	for (int i = 0; i < 200; i++) {
		char want[16];
		snprintf(want, sizeof(want), "%d", i);
		cr_expect_eq(slots[i].calls, 1, "query %d called back %d times", i, slots[i].calls);
		cr_expect(slots[i].ok, "query %d failed", i);
		cr_expect_str_eq(slots[i].value, want);
	}
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.size, 4);
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.busy, 0);
	cr_expect_eq(st.queries, 200);
	cr_expect_eq(st.errors, 0);
	cr_expect(st.connected >= 1 && st.connected <= 4);
	cr_expect(db_pool_ready(pool));
	db_pool_free(pool);
	event_base_free(base);
}

Test(db_pool, one_connection_runs_queries_in_submission_order)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 1, 100, 5000);
	cr_assert_not_null(pool);
	static struct select_ctx ctx;
	static struct select_slot slots[50];
	ctx.count_target[1] = 50;
	submit_selects(pool, &ctx, slots, 50);
	run_until(base, int_reached, ctx.count_target, 20000);
	cr_assert_eq(ctx.count_target[0], 50);
	for (int i = 0; i < 50; i++)
		cr_expect_eq(ctx.order[i], i, "callback %d was query %d", i, ctx.order[i]);
	db_pool_free(pool);
	event_base_free(base);
}

struct captured {
	int calls;
	bool ok, retryable, had_res;
	char sqlstate[8];
	char message[256];
	char values[2][16];
	int64_t at_ms;
	struct db_pool *pool;
	bool requery_accepted; /* db_query from inside the callback */
};

static void on_capture(const struct db_result *r, void *arg)
{
	struct captured *c = arg;
	c->calls++;
	c->ok = r->ok;
	c->retryable = r->retryable;
	c->had_res = r->res != NULL;
	c->at_ms = clock_mono_ms();
	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", r->sqlstate);
	snprintf(c->message, sizeof(c->message), "%s", r->message);
	for (int i = 0; r->ok && r->res && i < PQnfields(r->res) && i < 2; i++)
		snprintf(c->values[i], sizeof(c->values[i]), "%s",
			 PQgetisnull(r->res, 0, i) ? "(null)" : PQgetvalue(r->res, 0, i));
	if (c->pool)
		c->requery_accepted = db_query(c->pool, "SELECT 1", 0, NULL, on_capture, c);
}

static bool captured_called(void *arg)
{
	return ((struct captured *)arg)->calls > 0;
}

Test(db_pool, syntax_error_fails_with_42601_and_is_not_retryable)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 2, 10, 5000);
	cr_assert_not_null(pool);
	struct captured bad = { 0 }, good = { 0 };
	cr_assert(db_query(pool, "SELEC 1", 0, NULL, on_capture, &bad));
	cr_assert(db_query(pool, "SELECT $1::text IS NULL, $2::text", 2,
			   (const char *const[]){ NULL, "x" }, on_capture, &good));
	run_until(base, captured_called, &bad, 10000);
	run_until(base, captured_called, &good, 10000);
	cr_assert_eq(bad.calls, 1);
	cr_expect_not(bad.ok);
	cr_expect_str_eq(bad.sqlstate, "42601");
	cr_expect_not(bad.retryable);
	cr_expect(bad.had_res);
	cr_expect_neq(bad.message[0], '\0');
	cr_assert_eq(good.calls, 1);
	cr_expect(good.ok, "%s", good.message);
	cr_expect_str_eq(good.sqlstate, "");
	cr_expect_str_eq(good.values[0], "t", "a NULL param must be SQL NULL");
	cr_expect_str_eq(good.values[1], "x");
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.queries, 2);
	cr_expect_eq(st.errors, 1);
	db_pool_free(pool);
	event_base_free(base);
}

Test(db_pool, full_queue_refuses_without_calling_back)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 4, 3, 5000);
	cr_assert_not_null(pool);
	struct captured c[4] = { 0 };
	for (int i = 0; i < 3; i++)
		cr_assert(db_query(pool, "SELECT 1", 0, NULL, on_capture, &c[i]));
	cr_assert_not(db_query(pool, "SELECT 1", 0, NULL, on_capture, &c[3]),
		      "a 4th query fit in a queue of 3");
	run_until(base, captured_called, &c[2], 10000);
	run_until(base, captured_called, &c[1], 10000);
	run_until(base, captured_called, &c[0], 10000);
	for (int i = 0; i < 3; i++)
		cr_expect(c[i].calls == 1 && c[i].ok, "query %d: calls=%d %s", i, c[i].calls,
			  c[i].message);
	cr_expect_eq(c[3].calls, 0, "a refused query was called back");
	db_pool_free(pool);
	cr_expect_eq(c[3].calls, 0);
	event_base_free(base);
}

/* A bound, not listening socket: connections to its port are refused, no one else gets it. */
static int reserve_closed_port(int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*fd_out = fd;
	return ntohs(sa.sin_port);
}

Test(db_pool, unreachable_server_fails_queued_queries_retryable_within_6s)
{
	test_db_url();
	int fd;
	int port = reserve_closed_port(&fd);
	char *conninfo = xasprintf("host=127.0.0.1 port=%d dbname=x user=x sslmode=disable", port);
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, conninfo, 2, 10, 5000);
	cr_assert_not_null(pool);
	struct captured c[3] = { 0 };
	int64_t t0 = clock_mono_ms();
	for (int i = 0; i < 3; i++)
		cr_assert(db_query(pool, "SELECT 1", 0, NULL, on_capture, &c[i]));
	run_until(base, captured_called, &c[2], 10000);
	cr_expect_not(db_pool_ready(pool));
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(c[i].calls, 1, "query %d never failed", i);
		cr_expect_not(c[i].ok);
		cr_expect(c[i].retryable);
		cr_expect_not(c[i].had_res);
		cr_expect_neq(c[i].message[0], '\0');
		int64_t waited = c[i].at_ms - t0;
		cr_expect(waited >= 4500 && waited <= 6500, "query %d failed after %lld ms", i,
			  (long long)waited);
	}
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.connected, 0);
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.errors, 3);
	db_pool_free(pool);
	event_base_free(base);
	free(conninfo);
	close(fd);
}

static bool pool_all_busy(void *arg)
{
	struct db_pool_stats st;
	db_pool_get_stats(arg, &st);
	return st.busy == st.size;
}

Test(db_pool, free_fails_in_flight_and_queued_queries_retryable)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 2, 10, 5000);
	cr_assert_not_null(pool);
	struct captured c[4] = { 0 };
	for (int i = 0; i < 4; i++) {
		c[i].pool = pool;
		cr_assert(db_query(pool, "SELECT pg_sleep(2)", 0, NULL, on_capture, &c[i]));
	}
	run_until(base, pool_all_busy, pool, 10000);
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_assert_eq(st.busy, 2, "the queries never started");
	cr_assert_eq(st.queued, 2);
	db_pool_free(pool);
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(c[i].calls, 1, "query %d: %d callbacks", i, c[i].calls);
		cr_expect_not(c[i].ok);
		cr_expect(c[i].retryable);
		cr_expect_not(c[i].had_res);
		cr_expect_str_eq(c[i].message, "shutting down");
		cr_expect_not(c[i].requery_accepted, "db_query accepted work during db_pool_free");
	}
	event_base_free(base);
}

struct victim {
	struct captured first, second;
	struct db_pool *pool;
	const char *url;
	bool killed;
};

static void on_victim(const struct db_result *r, void *arg)
{
	struct victim *v = arg;
	on_capture(r, &v->first);
	/* Retry at once, as a caller of a retryable failure would: it waits for the reconnect. */
	v->second.pool = NULL;
	cr_assert(db_query(v->pool, "SELECT 'again'", 0, NULL, on_capture, &v->second));
}

static bool victim_running(void *arg)
{
	struct victim *v = arg;
	struct db_pool_stats st;
	db_pool_get_stats(v->pool, &st);
	return st.busy == 1;
}

Test(db_pool, lost_connection_fails_in_flight_query_retryable_then_reconnects)
{
	struct event_base *base = event_base_new();
	struct victim v = { .url = test_db_url() };
	v.pool = db_pool_new(base, v.url, 1, 10, 5000);
	cr_assert_not_null(v.pool);
	char *sql = xasprintf("SELECT pg_sleep(10) /* victim %d */", (int)getpid());
	cr_assert(db_query(v.pool, sql, 0, NULL, on_victim, &v));
	run_until(base, victim_running, &v, 10000);
	cr_assert(victim_running(&v));
	/* Wait until the server runs it, then kill the backend from another connection. */
	PGconn *admin = connect_or_fail(v.url);
	char *kill = xasprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
			       "WHERE query LIKE '%%victim %d */' AND pid <> pg_backend_pid()",
			       (int)getpid());
	char *killed = NULL;
	for (int i = 0; i < 200; i++) {
		free(killed);
		killed = query_value(admin, kill);
		if (strcmp(killed, "1") == 0)
			break;
		usleep(10000);
	}
	cr_assert_str_eq(killed, "1", "could not find the victim backend");
	PQfinish(admin);
	run_until(base, captured_called, &v.first, 10000);
	cr_assert_eq(v.first.calls, 1);
	cr_expect_not(v.first.ok);
	cr_expect(v.first.retryable, "a lost connection must be retryable (%s, %s)",
		  v.first.sqlstate, v.first.message);
	run_until(base, captured_called, &v.second, 10000);
	cr_assert_eq(v.second.calls, 1, "the retry never completed");
	cr_expect(v.second.ok, "%s", v.second.message);
	cr_expect_str_eq(v.second.values[0], "again");
	struct db_pool_stats st;
	db_pool_get_stats(v.pool, &st);
	cr_expect_geq(st.reconnects, 1);
	cr_expect(db_pool_ready(v.pool));
	db_pool_free(v.pool);
	event_base_free(base);
	free(sql);
	free(kill);
	free(killed);
}

static bool pool_reconnected(void *arg)
{
	struct db_pool_stats st;
	db_pool_get_stats(arg, &st);
	return st.reconnects >= 1 && st.connected == 1;
}

Test(db_pool, a_statement_past_its_deadline_fails_retryable_and_its_connection_is_replaced)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 1, 10, 500);
	cr_assert_not_null(pool);
	struct captured slow = { 0 }, after = { 0 };
	cr_assert(db_query(pool, "SELECT pg_sleep(30)", 0, NULL, on_capture, &slow));
	run_until(base, captured_called, &slow, 20000);
	cr_assert_eq(slow.calls, 1, "a stuck statement was never answered");
	cr_expect_not(slow.ok);
	cr_expect(slow.retryable, "a timeout must be retryable");
	cr_expect_not(slow.had_res);
	cr_expect_str_eq(slow.message, "query timed out");
	/* The connection that ran it cannot be trusted with another statement: replaced. */
	run_until(base, pool_reconnected, pool, 20000);
	cr_assert(pool_reconnected(pool), "the stuck connection was not replaced");
	cr_assert(db_query(pool, "SELECT 'after'", 0, NULL, on_capture, &after));
	run_until(base, captured_called, &after, 20000);
	cr_assert_eq(after.calls, 1);
	cr_expect(after.ok, "%s", after.message);
	cr_expect_str_eq(after.values[0], "after");
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.timeouts, 1);
	cr_expect_eq(slow.calls, 1, "the timed-out query was answered twice");
	db_pool_free(pool);
	event_base_free(base);
}

Test(db_pool, a_query_that_waited_out_its_deadline_is_answered_once_and_later_ones_run)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 1, 10, 1000);
	cr_assert_not_null(pool);
	/* The first holds the only connection for most of the second's deadline; the second is
	 * answered at its deadline, queued or already sent; its late result is discarded. */
	struct captured first = { 0 }, second = { 0 }, third = { 0 };
	cr_assert(db_query(pool, "SELECT pg_sleep(0.8)", 0, NULL, on_capture, &first));
	cr_assert(db_query(pool, "SELECT pg_sleep(0.6)", 0, NULL, on_capture, &second));
	run_until(base, captured_called, &second, 20000);
	cr_assert_eq(second.calls, 1);
	cr_expect_not(second.ok);
	cr_expect(second.retryable);
	cr_assert(db_query(pool, "SELECT 'third'", 0, NULL, on_capture, &third));
	run_until(base, captured_called, &third, 20000);
	cr_assert_eq(third.calls, 1);
	cr_expect(third.ok, "%s", third.message);
	cr_expect_str_eq(third.values[0], "third");
	cr_expect_eq(first.calls, 1);
	cr_expect_eq(second.calls, 1, "a query past its deadline was answered twice");
	db_pool_free(pool);
	event_base_free(base);
}

Test(db_pool, a_query_with_its_own_longer_timeout_outlives_the_pools_and_others_still_expire)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 2, 10, 400);
	cr_assert_not_null(pool);
	cr_expect_eq(db_pool_query_timeout(pool), 400);
	/* 0.8 s: past the pool's 400 ms, within its own 20 s. The short one behind it on the
	 * other connection still gets the pool's bound. */
	struct captured longer = { 0 }, shorter = { 0 };
	cr_assert(db_query_timeout(pool, 20000, "SELECT pg_sleep(0.8), 'long'", 0, NULL, on_capture,
				   &longer));
	cr_assert(db_query(pool, "SELECT pg_sleep(30)", 0, NULL, on_capture, &shorter));
	run_until(base, captured_called, &shorter, 20000);
	run_until(base, captured_called, &longer, 20000);
	cr_assert_eq(shorter.calls, 1);
	cr_expect_not(shorter.ok);
	cr_expect(shorter.retryable);
	cr_assert_eq(longer.calls, 1);
	cr_expect(longer.ok, "%s", longer.message);
	cr_expect_str_eq(longer.values[1], "long");
	cr_expect_not(db_query_timeout(pool, 0, "SELECT 1", 0, NULL, on_capture, &longer));
	db_pool_free(pool);
	event_base_free(base);
}

static bool pool_one_up(void *arg)
{
	struct db_pool_stats st;
	db_pool_get_stats(arg, &st);
	return st.connected == 1;
}

Test(db_pool, a_connection_that_carried_a_large_result_is_replaced_and_the_pool_goes_on)
{
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, test_db_url(), 1, 10, 5000);
	cr_assert_not_null(pool);
	run_until(base, pool_one_up, pool, 20000);
	struct captured big = { 0 }, pid1 = { 0 }, pid2 = { 0 };
	cr_assert(db_query(pool, "SELECT pg_backend_pid()", 0, NULL, on_capture, &pid1));
	run_until(base, captured_called, &pid1, 20000);
	cr_assert(db_query(pool, "SELECT length(repeat('x', 2000000)), repeat('x', 2000000)", 0,
			   NULL, on_capture, &big));
	run_until(base, captured_called, &big, 20000);
	cr_assert(big.ok, "%s", big.message);
	cr_expect_str_eq(big.values[0], "2000000");
	cr_assert(db_query(pool, "SELECT pg_backend_pid()", 0, NULL, on_capture, &pid2));
	run_until(base, captured_called, &pid2, 20000);
	cr_assert(pid2.ok, "%s", pid2.message);
	cr_expect_str_neq(pid1.values[0], pid2.values[0],
			  "libpq's grown buffers were kept: the same backend served on");
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.reconnects, 0, "a replacement on purpose is not a reconnect");
	db_pool_free(pool);
	event_base_free(base);
}

/* A server that completes the TCP handshake (the kernel does, from the backlog) and then says
 * nothing: a silent link. */
static int silent_listener(int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*fd_out = fd;
	return ntohs(sa.sin_port);
}

Test(db_pool, a_silent_server_fails_queries_retryable_at_their_deadline_and_is_not_ready)
{
	test_db_url();
	int fd;
	int port = silent_listener(&fd);
	char *conninfo = xasprintf("host=127.0.0.1 port=%d dbname=x user=x sslmode=disable", port);
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, conninfo, 2, 10, 700);
	cr_assert_not_null(pool);
	struct captured c[3] = { 0 };
	for (int i = 0; i < 3; i++)
		cr_assert(db_query(pool, "SELECT 1", 0, NULL, on_capture, &c[i]));
	run_until(base, captured_called, &c[2], 20000);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(c[i].calls, 1, "query %d never failed", i);
		cr_expect_not(c[i].ok);
		cr_expect(c[i].retryable);
		cr_expect_not(c[i].had_res);
	}
	cr_expect_not(db_pool_ready(pool));
	struct db_pool_stats st;
	db_pool_get_stats(pool, &st);
	cr_expect_eq(st.connected, 0, "a server that never answered the startup counts as up");
	cr_expect_eq(st.queued, 0);
	cr_expect_eq(st.timeouts, 3);
	db_pool_free(pool);
	event_base_free(base);
	free(conninfo);
	close(fd);
}

/* These two need no database. */
Test(db_pool, rejects_unparsable_conninfo_and_bad_sizes)
{
	struct event_base *base = event_base_new();
	cr_expect_null(db_pool_new(base, "host='unterminated", 1, 1, 5000));
	cr_expect_null(db_pool_new(base, "host=127.0.0.1", 0, 1, 5000));
	cr_expect_null(db_pool_new(base, "host=127.0.0.1", 1, 0, 5000));
	event_base_free(base);
}

Test(db_migrate, embedded_migrations_are_sorted_unique_and_start_with_001)
{
	cr_assert_gt(migrations_embedded_count, 0);
	cr_expect_eq(strncmp(migrations_embedded[0].name, "001_", 4), 0);
	for (size_t i = 1; i < migrations_embedded_count; i++) {
		const char *prev = migrations_embedded[i - 1].name;
		cr_expect_lt(strcmp(prev, migrations_embedded[i].name), 0, "%s before %s", prev,
			     migrations_embedded[i].name);
	}
}
