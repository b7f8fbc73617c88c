#include <criterion/criterion.h>
#include <string.h>

#include "base/config.h"

struct fake_env {
	const char *const *pairs; /* name, value, name, value, ..., NULL */
};

static const char *fake_lookup(const char *name, void *arg)
{
	const struct fake_env *env = arg;
	for (const char *const *p = env->pairs; p && *p; p += 2)
		if (!strcmp(p[0], name))
			return p[1];
	return NULL;
}

static bool load(struct config *cfg, const char *const *pairs, char *err, size_t err_size)
{
	struct fake_env env = { pairs };
	return config_load(cfg, fake_lookup, &env, err, err_size);
}

Test(config, development_mode_starts_with_safe_local_defaults)
{
	struct config cfg;
	char err[256];
	cr_assert(load(&cfg, NULL, err, sizeof(err)), "%s", err);
	cr_assert_eq(cfg.mode, CONFIG_MODE_DEVELOPMENT);
	cr_assert_str_eq(cfg.host, "127.0.0.1");
	cr_assert_eq(cfg.port, 8081);
	cr_assert_eq(cfg.access_token_ttl, 900);
	cr_assert(strstr(cfg.database_url, "127.0.0.1") != NULL);
	cr_assert(cfg.migrate_on_start);
	cr_assert(strlen(cfg.node_id) > 0, "a node id is derived when unset");
	config_free(&cfg);
}

Test(config, environment_overrides_defaults)
{
	const char *env[] = { "FLOWSTATE_PORT", "9001", "FLOWSTATE_NODE_ID", "n7",
			      "FLOWSTATE_MIGRATE_ON_START", "false", "FLOWSTATE_LOG_LEVEL", "debug",
			      NULL };
	struct config cfg;
	char err[256];
	cr_assert(load(&cfg, env, err, sizeof(err)), "%s", err);
	cr_assert_eq(cfg.port, 9001);
	cr_assert_str_eq(cfg.node_id, "n7");
	cr_assert_not(cfg.migrate_on_start);
	cr_assert_str_eq(cfg.log_level, "debug");
	config_free(&cfg);
}

Test(config, rejects_out_of_range_and_malformed_integers)
{
	const char *cases[][2] = { { "FLOWSTATE_PORT", "0" },        { "FLOWSTATE_PORT", "70000" },
				   { "FLOWSTATE_PORT", "80x" },      { "FLOWSTATE_PORT", "-1" },
				   { "FLOWSTATE_DB_POOL_SIZE", "0" }, { "FLOWSTATE_SCRYPT_LOG2N", "30" } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *env[] = { cases[i][0], cases[i][1], NULL };
		struct config cfg;
		char err[256] = "";
		cr_assert_not(load(&cfg, env, err, sizeof(err)), "%s=%s accepted", cases[i][0],
			      cases[i][1]);
		cr_assert(strstr(err, cases[i][0]) != NULL, "error names the variable: %s", err);
	}
}

Test(config, rejects_unknown_mode_bool_and_log_level)
{
	const char *bad[][2] = { { "FLOWSTATE_MODE", "staging" },
				 { "FLOWSTATE_MIGRATE_ON_START", "maybe" },
				 { "FLOWSTATE_LOG_LEVEL", "verbose" } };
	for (size_t i = 0; i < 3; i++) {
		const char *env[] = { bad[i][0], bad[i][1], NULL };
		struct config cfg;
		char err[256];
		cr_assert_not(load(&cfg, env, err, sizeof(err)), "%s accepted", bad[i][0]);
	}
}

Test(config, production_refuses_missing_secret_and_urls)
{
	const char *env[] = { "FLOWSTATE_MODE", "production", NULL };
	struct config cfg;
	char err[256];
	cr_assert_not(load(&cfg, env, err, sizeof(err)));
	cr_assert(strstr(err, "must be set in production") != NULL, "%s", err);
}

Test(config, production_refuses_a_jwt_secret_shorter_than_32_bytes)
{
	const char *env[] = { "FLOWSTATE_MODE", "production", "FLOWSTATE_JWT_SECRET", "short-secret",
			      "FLOWSTATE_DATABASE_URL", "postgresql://db/fs", "FLOWSTATE_REDIS_URL",
			      "redis://r:6379", NULL };
	struct config cfg;
	char err[256];
	cr_assert_not(load(&cfg, env, err, sizeof(err)));
	cr_assert(strstr(err, "at least 32 bytes") != NULL, "%s", err);
}

Test(config, production_refuses_weak_password_hashing)
{
	const char *env[] = { "FLOWSTATE_MODE", "production", "FLOWSTATE_JWT_SECRET",
			      "0123456789abcdef0123456789abcdef", "FLOWSTATE_DATABASE_URL",
			      "postgresql://db/fs", "FLOWSTATE_REDIS_URL", "redis://r:6379",
			      "FLOWSTATE_SCRYPT_LOG2N", "10", NULL };
	struct config cfg;
	char err[256];
	cr_assert_not(load(&cfg, env, err, sizeof(err)));
	cr_assert(strstr(err, "SCRYPT") != NULL, "%s", err);
}

Test(config, production_starts_with_strong_explicit_settings)
{
	const char *env[] = { "FLOWSTATE_MODE", "production", "FLOWSTATE_JWT_SECRET",
			      "0123456789abcdef0123456789abcdef", "FLOWSTATE_DATABASE_URL",
			      "postgresql://db/fs", "FLOWSTATE_REDIS_URL", "redis://r:6379", NULL };
	struct config cfg;
	char err[256];
	cr_assert(load(&cfg, env, err, sizeof(err)), "%s", err);
	cr_assert_eq(cfg.mode, CONFIG_MODE_PRODUCTION);
	config_free(&cfg);
}

Test(config, help_lists_every_setting)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_print_help(f);
	fclose(f);
	const char *names[] = { "FLOWSTATE_MODE", "FLOWSTATE_PORT", "FLOWSTATE_DATABASE_URL",
				"FLOWSTATE_REDIS_URL", "FLOWSTATE_JWT_SECRET",
				"FLOWSTATE_SHUTDOWN_TIMEOUT" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_assert(strstr(buf, names[i]) != NULL, "%s missing from --help", names[i]);
	free(buf);
}
