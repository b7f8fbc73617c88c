/*
 * Migration runner. It uses a plain blocking libpq connection on purpose: it runs once, before the
 * event loop exists (or as a command of its own), and straight-line code is the easiest to trust
 * for something that changes the schema.
 *
 * Many nodes may start at once against an empty database, so the whole run holds a session-level
 * advisory lock: the first process applies the pending files, the others wait, then find nothing
 * left to do. Even CREATE TABLE IF NOT EXISTS is only done under the lock (run concurrently, it
 * can fail on the catalog's unique index). Each file runs in its own transaction together with
 * its schema_migrations row, so a file is either fully applied and recorded or not at all.
 */
#include "store/migrate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "auth/token.h"

/* Arbitrary constant naming "FlowState schema migrations" among advisory locks. */
#define MIGRATE_LOCK_KEY "7346012393117468545"
#define MIGRATE_CONNECT_DEADLINE_MS 30000
#define MIGRATE_BACKOFF_MAX_MS 2000

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0) {
	}
}

/* libpq messages end with a newline and may span lines; errors go into single log lines. */
static char *message_dup(const char *msg)
{
	char *s = xstrdup(msg && *msg ? msg : "unknown error");
	for (char *p = s; *p; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	}
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

static void migrate_notice_processor(void *arg, const char *message)
{
	char quoted[512];
	char *msg = message_dup(message);
	log_debug("migrate_notice", "message=%s", log_quote(quoted, sizeof(quoted), msg));
	free(msg);
}

/*
 * Connects, retrying with backoff while the server is unreachable or still starting. PQping tells
 * those cases apart from a server that is up and refuses us, which no retry will fix.
 */
static PGconn *migrate_connect(const char *conninfo, char **error)
{
	/* Entries before "dbname" are defaults that the caller's conninfo may override. */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *values[] = { "10", "flowstate-migrate", conninfo, NULL };
	int64_t start = clock_mono_ms();
	int delay = 100;
	for (int attempt = 1;; attempt++) {
		PGconn *pg = PQconnectdbParams(keys, values, 1);
		if (pg && PQstatus(pg) == CONNECTION_OK)
			return pg;
		char *msg = message_dup(pg ? PQerrorMessage(pg) : "out of memory");
		PQfinish(pg);
		PGPing ping = PQpingParams(keys, values, 1);
		bool transient = ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT;
		if (!transient || clock_mono_ms() - start + delay > MIGRATE_CONNECT_DEADLINE_MS) {
			*error = xasprintf("cannot connect to PostgreSQL (attempt %d): %s", attempt,
					   msg);
			free(msg);
			return NULL;
		}
		char quoted[512];
		log_warn("migrate_connect_retry", "attempt=%d retry_ms=%d error=%s", attempt, delay,
			 log_quote(quoted, sizeof(quoted), msg));
		free(msg);
		sleep_ms(delay);
		delay = delay * 2 > MIGRATE_BACKOFF_MAX_MS ? MIGRATE_BACKOFF_MAX_MS : delay * 2;
	}
}

/* Takes ownership of res. On failure sets *error to "<what>: <server message>". */
static bool check_result(PGresult *res, PGconn *pg, const char *what, char **error)
{
	ExecStatusType st = PQresultStatus(res);
	bool ok = res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	if (!ok) {
		char *msg = message_dup(res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
		*error = xasprintf("%s: %s", what, msg);
		free(msg);
	}
	PQclear(res);
	return ok;
}

static bool exec_ok(PGconn *pg, const char *sql, const char *what, char **error)
{
	return check_result(PQexec(pg, sql), pg, what, error);
}

/*
 * Whether m is applied. A migration is immutable once applied: if the recorded checksum
 * differs from the embedded file's, the database was built from other SQL than this binary
 * carries, and running on it would be running on a schema nobody reviewed. That is an error,
 * not a warning. (Rows recorded before checksums existed have none and are trusted.)
 */
static bool migration_is_applied(PGconn *pg, const struct migration *m, const char *checksum,
				 bool *applied, char **error)
{
	const char *params[] = { m->name };
	PGresult *res = PQexecParams(pg, "SELECT checksum FROM schema_migrations WHERE name = $1",
				     1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*applied = PQntuples(res) > 0;
		if (*applied && !PQgetisnull(res, 0, 0) &&
		    strcmp(PQgetvalue(res, 0, 0), checksum) != 0) {
			*error = xasprintf("migration %s was changed after it was applied (recorded "
					   "sha256 %.12s…, this binary has %.12s…): add a new "
					   "migration instead of editing an applied one",
					   m->name, PQgetvalue(res, 0, 0), checksum);
			PQclear(res);
			return false;
		}
	}
	return check_result(res, pg, "reading schema_migrations", error);
}

static bool migration_apply(PGconn *pg, const struct migration *m, const char *checksum,
			    char **error)
{
	int64_t start = clock_mono_ms();
	char *what = xasprintf("migration %s", m->name);
	const char *params[] = { m->name, checksum };
	bool ok = exec_ok(pg, "BEGIN", what, error) && exec_ok(pg, m->sql, what, error) &&
		  check_result(PQexecParams(pg,
					    "INSERT INTO schema_migrations (name, checksum) "
					    "VALUES ($1, $2)",
					    2, NULL, params, NULL, NULL, 0),
			       pg, what, error) &&
		  exec_ok(pg, "COMMIT", what, error);
	if (ok) {
		log_info("migration_applied", "name=%s ms=%lld", m->name,
			 (long long)(clock_mono_ms() - start));
	} else {
		PQclear(PQexec(pg, "ROLLBACK"));
	}
	free(what);
	return ok;
}

/* A newer binary may have applied files this one does not know: fine for rolling upgrades. */
static void warn_unknown_migrations(PGconn *pg)
{
	PGresult *res = PQexec(pg, "SELECT name FROM schema_migrations ORDER BY name");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(res); i++) {
			const char *name = PQgetvalue(res, i, 0);
			bool known = false;
			for (size_t j = 0; j < migrations_embedded_count && !known; j++)
				known = strcmp(migrations_embedded[j].name, name) == 0;
			if (!known)
				log_warn("migration_unknown", "name=%s", name);
		}
	}
	PQclear(res);
}

bool migrate_run(const char *conninfo, char **error)
{
	*error = NULL;
	PGconn *pg = migrate_connect(conninfo, error);
	if (!pg)
		return false;
	PQsetNoticeProcessor(pg, migrate_notice_processor, NULL);
	bool ok = false;
	bool locked = false;
	size_t applied_now = 0;
	if (!exec_ok(pg, "SET statement_timeout = 0", "configuring session", error))
		goto out;
	if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "taking migration lock",
		     error))
		goto out;
	locked = true;
	if (!exec_ok(pg,
		     "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), "
		     "checksum text)",
		     "creating schema_migrations", error) ||
	    !exec_ok(pg, "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text",
		     "upgrading schema_migrations", error))
		goto out;
	for (size_t i = 0; i < migrations_embedded_count; i++) {
		const struct migration *m = &migrations_embedded[i];
		bool applied = false;
		char checksum[65];
		token_sha256_hex(m->sql, strlen(m->sql), checksum);
		if (!migration_is_applied(pg, m, checksum, &applied, error))
			goto out;
		if (applied)
			continue;
		if (!migration_apply(pg, m, checksum, error))
			goto out;
		applied_now++;
	}
	warn_unknown_migrations(pg);
	ok = true;
	log_info("migrate_done", "applied=%zu known=%zu", applied_now, migrations_embedded_count);
out:
	if (locked)
		PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	PQfinish(pg);
	return ok;
}
