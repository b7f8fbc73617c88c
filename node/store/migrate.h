/*
 * Schema migrations: the numbered schema/NNN_*.sql files, embedded into the binary at build time
 * (cmake/embed_migrations.cmake), applied in name order by migrate_run().
 *
 * Ownership: migrations_embedded is static, read-only data. migrate_run() allocates *error on
 * failure only; the caller frees it with free().
 *
 * A migration file runs inside a transaction opened by the runner, so it must not contain
 * BEGIN/COMMIT, nor statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 */
#ifndef FLOWSTATE_MIGRATE_H
#define FLOWSTATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct migration {
	const char *name; /* file name, e.g. "001_init.sql": the key recorded once applied */
	const char *sql;
};

/* Generated from schema/NNN_name.sql, sorted by name. */
extern const struct migration migrations_embedded[];
extern const size_t migrations_embedded_count;

/*
 * Applies pending migrations with a BLOCKING libpq connection (it runs before the event loop
 * starts, or from the `flowstate-node migrate` command). Serialized across processes with
 * pg_advisory_lock; each migration runs in its own transaction and is recorded in
 * schema_migrations(name text primary key, applied_at timestamptz). Safe to run concurrently from
 * many processes and repeatedly. The initial connect is retried for about 30 s while the server
 * is unreachable or starting up (nodes often start together with Postgres); a server that answers
 * but refuses us (bad password, missing database) fails at once.
 * Returns false and sets *error (caller frees) on failure; *error is NULL on success.
 */
bool migrate_run(const char *conninfo, char **error) __attribute__((warn_unused_result));

#endif
