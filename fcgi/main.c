/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The tollgate command: load and check the configuration once, then run
 * one subcommand.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

static int
main_migrate(int argc, char *argv[])
{
	const char	*cause = NULL;

	if (conf_require(&conf, "TOLLGATE_OWNER_DATABASE_URL", &cause) == -1) {
		fprintf(stderr, "tollgate: %s\n", cause);
		return 1;
	}
	return db_migrate_run(conf.owner_database_url, conf.sql_dir, 1) == 0 ?
	    0 : 1;
}

static void
main_usage(FILE *fp)
{
	fprintf(fp, "usage: tollgate serve | work [--once] | migrate | "
	    "admin ... | version\n"
	    "Configuration comes from the environment and the file named by "
	    "TOLLGATE_CONFIG;\nsee the README for every key.\n");
}

int
main(int argc, char *argv[])
{
	const char	*cause = NULL, *cmd;
	int		 rc;

	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("tollgate %s\n", TOLLGATE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (conf_load(&conf, getenv("TOLLGATE_CONFIG"), &cause) == -1) {
		fprintf(stderr, "tollgate: configuration: %s\n", cause);
		return 1;
	}
	log_init("tollgate", conf.log_level);
	if (strcmp(cmd, "serve") == 0)
		rc = serve_main(argc - 1, argv + 1);
	else if (strcmp(cmd, "work") == 0)
		rc = work_main(argc - 1, argv + 1);
	else if (strcmp(cmd, "migrate") == 0)
		rc = main_migrate(argc - 1, argv + 1);
	else if (strcmp(cmd, "admin") == 0)
		rc = admin_main(argc - 1, argv + 1);
	else {
		main_usage(stderr);
		rc = 2;
	}
	conf_free(&conf);
	return rc;
}
