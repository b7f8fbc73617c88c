/* flowstate-node: serve (default), migrate, --help, --version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "store/migrate.h"
#include "server.h"

#define FLOWSTATE_VERSION "0.1.0"

static const char *env_lookup(const char *name, void *arg)
{
	return getenv(name);
}

static int run_migrations(const struct config *cfg)
{
	char *error = NULL;
	if (!migrate_run(cfg->database_url, &error)) {
		log_error("migrate_failed", "error=\"%s\"", error ? error : "unknown");
		free(error);
		return 1;
	}
	return 0;
}

static void *json_alloc(size_t size)
{
	return xmalloc(size);
}

int main(int argc, char **argv)
{
	/* jansson follows the process's allocation policy (alloc.h): abort on out-of-memory. */
	json_set_alloc_funcs(json_alloc, free);
	const char *command = argc > 1 ? argv[1] : "serve";
	if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
		config_print_help(stdout);
		return 0;
	}
	if (!strcmp(command, "--version")) {
		printf("flowstate-node %s\n", FLOWSTATE_VERSION);
		return 0;
	}
	if (strcmp(command, "serve") && strcmp(command, "migrate")) {
		fprintf(stderr, "unknown command '%s'\n\n", command);
		config_print_help(stderr);
		return 2;
	}

	struct server srv;
	memset(&srv, 0, sizeof(srv));
	char err[256];
	if (!config_load(&srv.cfg, env_lookup, NULL, err, sizeof(err))) {
		fprintf(stderr, "level=fatal event=config_invalid detail=\"%s\"\n", err);
		return 2;
	}
	enum log_level level = LOG_INFO;
	if (log_level_parse(srv.cfg.log_level, &level))
		log_set_level(level);
	log_set_node(srv.cfg.node_id);
	config_log(&srv.cfg);

	if (!strcmp(command, "migrate")) {
		int rc = run_migrations(&srv.cfg);
		config_free(&srv.cfg);
		return rc;
	}
	if (srv.cfg.migrate_on_start && run_migrations(&srv.cfg) != 0) {
		config_free(&srv.cfg);
		return 1;
	}
	int rc = 1;
	if (server_init(&srv))
		rc = server_run(&srv);
	server_free(&srv);
	log_info("exit", "code=%d", rc);
	return rc;
}
