/*
 * rollcallctl: the operator's command line.  It talks to PostgreSQL
 * directly (same settings as the server) and tells running servers
 * about changes with NOTIFY, so a token revoked here is refused by
 * every instance within moments.
 *
 *   rollcallctl migrate [--dir DIR]
 *   rollcallctl bootstrap [--public-url URL]
 *   rollcallctl token create --scope S[,S] [--directory NAME | --global]
 *                            [--name LABEL] [--expires-days N]
 *   rollcallctl token list [--directory NAME] [--json]
 *   rollcallctl token revoke ID
 *   rollcallctl directory create NAME
 *   rollcallctl directory list [--json]
 *   rollcallctl entra bind|show|unbind DIRECTORY ...  (ctl_entra.c)
 *   rollcallctl audit verify [--json]
 *   rollcallctl audit tail [-n N] [--json]
 *   rollcallctl user list [--directory NAME] [--json]   ("users list" too)
 *   rollcallctl user show ID|USERNAME [--directory NAME] [--json]
 *   rollcallctl --help | --version
 *
 * Settings: conf/rollcall.settings (or $ROLLCALL_SETTINGS), then the
 * connection file 'make run' writes (.run/rollcallctl.settings, or
 * $ROLLCALL_CTL_SETTINGS), then ROLLCALL_* variables, which win.
 */
#include <sys/types.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "audit_store.h"
#include "build_info.h"
#include "directory_store.h"
#include "idkey_store.h"
#include "migration.h"
#include "settings.h"
#include "store.h"
#include "token.h"
#include "util.h"
#include "ctl.h"

extern char	**environ;

/* Written by scripts/run.sh ('make run'); read when it exists. */
#define CTL_RUN_SETTINGS	".run/rollcallctl.settings"

/* One sql/NNN_name.sql file. */
struct migration_file {
	long long	 version;
	char		*name;
};

struct settings		 settings;
static char		 actor_name[64];
struct store_actor	 actor = { "cli", actor_name, 0, NULL };

static void	 usage(void) __attribute__((noreturn));
static void	 usage_to(FILE *, int) __attribute__((noreturn));
static int	 cmd_migrate(int, char **);
static int	 cmd_bootstrap(int, char **);
static int	 cmd_token(int, char **);
static int	 cmd_directory(int, char **);
static int	 cmd_audit(int, char **);
static int	 cmd_users(int, char **);
static int	 cmd_user(int, char **);
static int	 migration_file_cmp(const void *, const void *);
static long long	 recorded_versions(PGconn *,
		    const struct migration_file *, size_t);


/* A mistake: usage on stderr, exit 2.  --help: stdout, exit 0. */
static void
usage(void)
{
	usage_to(stderr, 2);
}

static void
usage_to(FILE *fp, int code)
{
	fprintf(fp,
	    "usage: rollcallctl migrate [--dir DIR]\n"
	    "       rollcallctl bootstrap [--public-url URL]\n"
	    "       rollcallctl token create --scope SCOPE[,SCOPE] "
	    "[--directory NAME | --global]\n"
	    "                                [--name LABEL] "
	    "[--expires-days N]\n"
	    "       rollcallctl token list [--directory NAME] [--json]\n"
	    "       rollcallctl token revoke ID\n"
	    "       rollcallctl directory create NAME\n"
	    "       rollcallctl directory list [--json]\n"
	    "       rollcallctl entra bind DIRECTORY --tenant TID --audience AUD "
	    "[--audience AUD ...]\n"
	    "                         [--versions v1,v2] [--skew-s N] "
	    "[--openid-url URL | --jwks-file FILE]\n"
	    "       rollcallctl entra show DIRECTORY | unbind DIRECTORY\n"
	    "       rollcallctl audit verify [--json]\n"
	    "       rollcallctl audit tail [-n N] [--json]\n"
	    "       rollcallctl user list [--directory NAME] [--json]\n"
	    "       rollcallctl user show ID|USERNAME [--directory NAME] "
	    "[--json]\n"
	    "       rollcallctl effective-policy ID|USERNAME [--directory NAME] "
	    "[--server SLUG] [--json]\n"
	    "       rollcallctl explain SUBJECT SERVER TOOL [--directory NAME] "
	    "[--json]\n"
	    "       rollcallctl revoke-all ID [--restore]\n"
	    "       rollcallctl quarantine [--directory NAME] [--json]\n"
	    "       rollcallctl server list | show SLUG | create | "
	    "update SLUG | delete SLUG\n"
	    "       rollcallctl tool list SERVER | show SERVER NAME | "
	    "create SERVER\n"
	    "                        | update SERVER NAME | delete SERVER NAME"
	    " | import SERVER FILE\n"
	    "       rollcallctl rule list [--server SLUG] [--subject ID] | "
	    "show ID | create\n"
	    "                        | update ID | delete ID\n"
	    "       rollcallctl grant list [--state S] [--principal ID] | "
	    "show ID | create\n"
	    "                        | approve ID | deny ID | activate ID | "
	    "revoke ID\n"
	    "       rollcallctl sp list | show ID | create | update ID | "
	    "delete ID\n"
	    "         (bodies: --set key=value ... and/or --body FILE|-; "
	    "--json)\n"
	    "       rollcallctl --help | --version\n"
	    "Settings come from $ROLLCALL_SETTINGS (default "
	    "conf/rollcall.settings),\nthen %s when it exists "
	    "(written by 'make run'),\nthen ROLLCALL_* variables, as for "
	    "the server.\n", CTL_RUN_SETTINGS);
	exit(code);
}

void
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "rollcallctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

PGconn *
db_connect(void)
{
	PGconn	*conn;

	conn = PQconnectdb(settings.database_url);
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect to PostgreSQL (setting database_url): %s",
		    PQerrorMessage(conn));
	/* Short statements: JIT would only add compile time. */
	PQclear(PQexec(conn, "SET jit = off"));

	return (conn);
}

/* By version; equal versions by name, so a duplicate is reported alike. */
static int
migration_file_cmp(const void *a, const void *b)
{
	const struct migration_file	*x = a, *y = b;

	if (x->version != y->version)
		return (x->version < y->version ? -1 : 1);
	return (strcmp(x->name, y->name));
}

static char *
read_file(const char *path)
{
	FILE	*fp;
	char	*buf;
	long	 len;

	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	if (fseek(fp, 0, SEEK_END) == -1 || (len = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)len + 1)) == NULL) {
		fclose(fp);
		return (NULL);
	}
	if (fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		free(buf);
		fclose(fp);
		return (NULL);
	}
	buf[len] = '\0';
	fclose(fp);

	return (buf);
}

/*
 * Applies sql/NNN_name.sql files in order, each in its own transaction,
 * exactly once.  An advisory lock keeps two starting instances from
 * migrating at the same time.  The files, and the versions the database
 * has recorded, must each be the start of migration.h's sequence: a gap
 * or a file numbered below the database's last version is refused
 * before anything runs, so what is applied is always the files after
 * the last recorded version, in order.
 */
static int
cmd_migrate(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_err	 err;
	struct dirent		*de;
	struct migration_file	*files, *grown;
	PGconn			*conn;
	PGresult		*res;
	DIR			*dir;
	const char		*dirpath, *p[2];
	char			 path[1024], num[24], why[128], *sql;
	size_t			 n, cap, i;
	long long		*vers, last;
	long			 keyed;
	int			 ch, applied;

	dirpath = "sql";
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			dirpath = optarg;
		else
			usage();
	}

	if ((dir = opendir(dirpath)) == NULL)
		die("cannot read migrations in %s: %s", dirpath,
		    strerror(errno));
	files = NULL;
	n = cap = 0;
	while ((de = readdir(dir)) != NULL) {
		if (strlen(de->d_name) < 8 || de->d_name[0] < '0' ||
		    de->d_name[0] > '9' ||
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(files, cap * sizeof(*files))) ==
			    NULL)
				die("out of memory");
			files = grown;
		}
		(void)snprintf(num, sizeof(num), "%.*s",
		    (int)strspn(de->d_name, "0123456789"), de->d_name);
		if (rc_parse_int(num, 1, 99999, &files[n].version) == -1)
			die("migration %s: bad number", de->d_name);
		if ((files[n++].name = strdup(de->d_name)) == NULL)
			die("out of memory");
	}
	closedir(dir);
	if (n == 0)
		die("no migrations (NNN_name.sql) in %s", dirpath);
	qsort(files, n, sizeof(*files), migration_file_cmp);
	if ((vers = calloc(n, sizeof(*vers))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++)
		vers[i] = files[i].version;
	if (migration_check_prefix(vers, n, why, sizeof(why)) == -1)
		die("migrations in %s: %s (nothing was applied)", dirpath, why);
	free(vers);

	conn = db_connect();
	res = PQexec(conn, "SET client_min_messages = warning; "
	    "SELECT pg_advisory_lock(7231001); "
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version integer PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("migrate: %s", PQerrorMessage(conn));
	PQclear(res);
	last = recorded_versions(conn, files, n);

	applied = 0;
	for (i = 0; i < n; i++) {
		if (files[i].version <= last)
			continue;
		(void)snprintf(num, sizeof(num), "%lld", files[i].version);
		p[0] = num;
		p[1] = files[i].name;

		(void)snprintf(path, sizeof(path), "%s/%s", dirpath,
		    files[i].name);
		if ((sql = read_file(path)) == NULL)
			die("cannot read %s: %s", path, strerror(errno));
		if (store_begin(conn, &err) == -1)
			die("migrate: %s", err.msg);
		res = PQexec(conn, sql);
		free(sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			die("migration %s failed (nothing of it was applied): "
			    "%s", files[i].name, PQresultErrorMessage(res));
		PQclear(res);
		/* From 004 on, every user has its identity keys. */
		if (files[i].version >= 4 && idkey_store_backfill(conn,
		    &keyed, &err) == -1)
			die("migration %s failed (nothing of it was applied): "
			    "%s", files[i].name, err.msg);
		if (store_exec(conn, "INSERT INTO schema_migrations "
		    "(version, name) VALUES ($1, $2)", 2, p, NULL, &err) == -1 ||
		    store_commit(conn, &err) == -1)
			die("migration %s: %s", files[i].name, err.msg);
		printf("applied %s\n", files[i].name);
		applied++;
	}
	/* Rows written by hand since (tests, repairs) get their keys too. */
	keyed = 0;
	if (files[n - 1].version >= 4 && (store_begin(conn, &err) == -1 ||
	    idkey_store_backfill(conn, &keyed, &err) == -1 ||
	    store_commit(conn, &err) == -1))
		die("migrate: %s", err.msg);
	if (keyed > 0)
		printf("keyed %ld user%s without identity keys\n", keyed,
		    keyed == 1 ? "" : "s");
	res = PQexec(conn, "SELECT pg_advisory_unlock(7231001)");
	PQclear(res);
	PQfinish(conn);
	if (applied == 0)
		printf("database is up to date\n");

	for (i = 0; i < n; i++)
		free(files[i].name);
	free(files);

	return (0);
}

/*
 * The database's recorded versions, checked to be the start of the
 * sequence (none skipped, none applied out of order) and to have been
 * applied from the files of the same names (two branches that each
 * took the next number); returns the last one, 0 when none.  A database
 * that fails is left alone: repairing it takes a person who knows which
 * statements ran.
 */
static long long
recorded_versions(PGconn *conn, const struct migration_file *files,
    size_t n)
{
	struct store_err	 err;
	PGresult		*res;
	long long		*vers, last;
	char			 why[128];
	size_t			 j;
	int			 i, rows;

	if (store_exec(conn, "SELECT version, name FROM schema_migrations "
	    "ORDER BY version", 0, NULL, &res, &err) == -1)
		die("migrate: %s", err.msg);
	rows = PQntuples(res);
	if ((vers = calloc((size_t)rows + 1, sizeof(*vers))) == NULL)
		die("out of memory");
	for (i = 0; i < rows; i++) {
		if (rc_parse_int(PQgetvalue(res, i, 0), 0, 99999,
		    &vers[i]) == -1)
			die("schema_migrations: bad version '%s'",
			    PQgetvalue(res, i, 0));
		for (j = 0; j < n; j++) {
			if (files[j].version == vers[i] &&
			    strcmp(files[j].name, PQgetvalue(res, i, 1)) != 0)
				die("version %lld was applied from %s, but the "
				    "file is now %s: renumber the new file "
				    "(nothing was applied)", vers[i],
				    PQgetvalue(res, i, 1), files[j].name);
		}
	}
	PQclear(res);
	if (migration_check_prefix(vers, (size_t)rows, why,
	    sizeof(why)) == -1)
		die("the database's schema_migrations: %s: a migration was "
		    "skipped or applied out of order; nothing was applied "
		    "(repair the database by hand)", why);
	last = rows > 0 ? vers[rows - 1] : 0;
	free(vers);
	return (last);
}

/*
 * First start of a fresh installation: when no token exists yet, mint
 * one per scope for the default directory and print them, once.
 */
static int
cmd_bootstrap(int argc, char **argv)
{
	static const struct {
		unsigned int	 scope;
		const char	*label;
	} kinds[] = {
		{ TOKEN_SCOPE_SCIM, "entra-provisioning" },
		{ TOKEN_SCOPE_GATEWAY, "gateway" },
		{ TOKEN_SCOPE_ADMIN, "admin" },
	};
	static struct option	 opts[] = {
		{ "public-url", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_new_token	 tok;
	struct store_err	 err;
	PGconn			*conn;
	json_t			*json;
	long long		 count;
	size_t			 i;
	int			 ch;
	const char		*url;

	url = settings.public_url;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'u')
			url = optarg;
		else
			usage();
	}

	conn = db_connect();
	if (store_token_count(conn, &count, &err) == -1)
		die("bootstrap: %s", err.msg);
	printf("SCIM base URL (Entra 'Tenant URL'): %s/scim/v2\n", url);
	if (count > 0) {
		printf("Tokens exist already (%lld); list them with "
		    "'rollcallctl token list'.\n", count);
		PQfinish(conn);
		return (0);
	}
	printf("First start: scim and gateway tokens for directory "
	    "'default', and a global admin token. "
	    "They are shown only now.\n");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (store_token_create(conn, &actor, kinds[i].scope ==
		    TOKEN_SCOPE_ADMIN ? NULL : "default", kinds[i].scope,
		    kinds[i].label, 0, &tok, &json, &err) == -1)
			die("bootstrap: %s", err.msg);
		printf("  %-8s token: %s\n", token_scope_name(kinds[i].scope),
		    tok.secret);
		explicit_bzero(tok.secret, sizeof(tok.secret));
		json_decref(json);
	}
	PQfinish(conn);

	return (0);
}

void
print_table(json_t *rows, const char *const *cols)
{
	json_t		*row, *v;
	size_t		 i, c, ncols, *width, len;
	char		 cell[256];

	for (ncols = 0; cols[ncols] != NULL; ncols++)
		;
	if ((width = calloc(ncols, sizeof(*width))) == NULL)
		die("out of memory");
	for (c = 0; c < ncols; c++)
		width[c] = strlen(cols[c]);
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			v = json_object_get(row, cols[c]);
			if (json_is_string(v))
				len = strlen(json_string_value(v));
			else if (json_is_integer(v))
				len = (size_t)snprintf(cell, sizeof(cell),
				    "%lld", (long long)json_integer_value(v));
			else
				len = 1;
			if (len > width[c])
				width[c] = len > 40 ? 40 : len;
		}
	}
	for (c = 0; c < ncols; c++)
		printf("%-*s%s", (int)width[c], cols[c],
		    c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			v = json_object_get(row, cols[c]);
			if (json_is_string(v))
				rc_strlcpy(cell, json_string_value(v),
				    sizeof(cell));
			else if (json_is_integer(v))
				(void)snprintf(cell, sizeof(cell), "%lld",
				    (long long)json_integer_value(v));
			else
				rc_strlcpy(cell, "-", sizeof(cell));
			printf("%-*.*s%s", (int)width[c], (int)width[c], cell,
			    c + 1 < ncols ? "  " : "\n");
		}
	}
	free(width);
}

static int
cmd_token(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "scope", required_argument, NULL, 's' },
		{ "directory", required_argument, NULL, 'd' },
		{ "global", no_argument, NULL, 'g' },
		{ "name", required_argument, NULL, 'n' },
		{ "expires-days", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	cols[] = { "id", "name", "directory",
	    "scopes", "hint", "status", "expires_at", "last_used_at", NULL };
	struct store_new_token	 tok;
	struct store_err	 err;
	PGconn			*conn;
	json_t			*json;
	const char		*sub, *directory, *name;
	char			*text;
	unsigned int		 scopes;
	long long		 days;
	int64_t			 dir_id;
	int			 ch, global, as_json;

	if (argc < 2)
		usage();
	sub = argv[1];
	argc--;
	argv++;

	scopes = 0;
	directory = NULL;
	name = NULL;
	days = 0;
	global = as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (token_scopes_parse(optarg, &scopes) == -1)
				die("--scope: '%s' is not a list of scim, "
				    "gateway, admin", optarg);
			break;
		case 'd':
			directory = optarg;
			break;
		case 'g':
			global = 1;
			break;
		case 'n':
			name = optarg;
			break;
		case 'e':
			if (rc_parse_int(optarg, 0, 3650, &days) == -1)
				die("--expires-days: a whole number from 0 "
				    "(never) to 3650");
			break;
		case 'j':
			as_json = 1;
			break;
		default:
			usage();
		}
	}

	if (strcmp(sub, "create") == 0) {
		if (scopes == 0)
			die("token create needs --scope");
		if (global && directory != NULL)
			die("--global and --directory exclude each other");
		if (!global && directory == NULL)
			directory = "default";
		if (name == NULL)
			name = "cli";
		conn = db_connect();
		if (store_token_create(conn, &actor, global ? NULL : directory,
		    scopes, name, (int)days, &tok, &json, &err) == -1)
			die("%s", err.msg);
		text = json_dumps(json, JSON_INDENT(2) | JSON_SORT_KEYS);
		fprintf(stderr, "created token %s (shown once, store it now):\n"
		    "%s\n", tok.id, text ? text : "");
		free(text);
		json_decref(json);
		/* Alone on the last line of stdout, for scripts. */
		printf("%s\n", tok.secret);
		explicit_bzero(tok.secret, sizeof(tok.secret));
		PQfinish(conn);
		return (0);
	}
	if (strcmp(sub, "list") == 0) {
		conn = db_connect();
		dir_id = 0;
		if (directory != NULL && store_directory_id(conn, directory,
		    &dir_id, NULL, 0, &err) == -1)
			die("%s", err.msg);
		if (store_token_list(conn, dir_id, &json, &err) == -1)
			die("%s", err.msg);
		if (as_json)
			print_json(json);
		else
			print_table(json, cols);
		json_decref(json);
		PQfinish(conn);
		return (0);
	}
	if (strcmp(sub, "revoke") == 0) {
		if (optind >= argc)
			die("token revoke needs the token's id");
		conn = db_connect();
		if (store_token_revoke(conn, &actor, 0, argv[optind],
		    &err) == -1)
			die("%s", err.msg);
		printf("revoked %s\n", argv[optind]);
		PQfinish(conn);
		return (0);
	}
	usage();
}

static int
cmd_directory(int argc, char **argv)
{
	static const char *const	cols[] = { "id", "name", "users",
	    "groups", "created_at", NULL };
	struct store_err	 err;
	PGconn			*conn;
	json_t			*json;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "create") == 0 && argc == 3) {
		conn = db_connect();
		if (store_directory_create(conn, &actor, argv[2], &json,
		    &err) == -1)
			die("%s", err.msg);
		printf("created directory %s\n", argv[2]);
		json_decref(json);
		PQfinish(conn);
		return (0);
	}
	if (strcmp(argv[1], "list") == 0) {
		conn = db_connect();
		if (store_directory_list(conn, 0, &json, &err) == -1)
			die("%s", err.msg);
		if (argc > 2 && strcmp(argv[2], "--json") == 0)
			print_json(json);
		else
			print_table(json, cols);
		json_decref(json);
		PQfinish(conn);
		return (0);
	}
	usage();
}

void
print_json(json_t *json)
{
	char	*text;

	if ((text = json_dumps(json, JSON_INDENT(2))) == NULL)
		die("out of memory");
	printf("%s\n", text);
	free(text);
}

/*
 * audit verify: exit 0 when the hash chain is intact, 1 when a record
 * was edited or removed (the first problems are named).
 * audit tail: the newest N records, oldest of them first.
 */
static int
cmd_audit(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	cols[] = { "id", "at", "directory",
	    "actor", "type", "subject", NULL };
	struct audit_query	 q;
	struct store_err	 err;
	PGconn			*conn;
	json_t			*json, *page, *row, *p;
	const char		*sub;
	long long		 n;
	size_t			 i;
	int			 ch, as_json, more, ok;

	if (argc < 2)
		usage();
	sub = argv[1];
	argc--;
	argv++;
	as_json = 0;
	n = 20;
	while ((ch = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = 1;
			break;
		case 'n':
			if (rc_parse_int(optarg, 1, 100000, &n) == -1)
				die("-n: a whole number from 1 to 100000");
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (strcmp(sub, "verify") == 0) {
		conn = db_connect();
		if (audit_store_verify(conn, &json, &err) == -1)
			die("%s", err.msg);
		PQfinish(conn);
		ok = json_is_true(json_object_get(json, "ok"));
		if (as_json) {
			print_json(json);
		} else if (ok) {
			printf("audit chain intact: %lld records, head %lld "
			    "%s\n", (long long)json_integer_value(
			    json_object_get(json, "records")),
			    (long long)json_integer_value(json_object_get(
			    json_object_get(json, "head"), "id")),
			    json_string_value(json_object_get(json_object_get(
			    json, "head"), "hash")));
		} else {
			printf("audit chain BROKEN: %lld problem(s) in %lld "
			    "records\n", (long long)json_integer_value(
			    json_object_get(json, "problem_count")),
			    (long long)json_integer_value(json_object_get(json,
			    "records")));
			json_array_foreach(json_object_get(json, "problems"),
			    i, p) {
				printf("  record %lld: %s: %s\n",
				    (long long)json_integer_value(
				    json_object_get(p, "id")),
				    json_string_value(json_object_get(p,
				    "kind")), json_string_value(
				    json_object_get(p, "message")));
			}
		}
		json_decref(json);
		return (ok ? 0 : 1);
	}
	if (strcmp(sub, "tail") != 0)
		usage();

	conn = db_connect();
	if ((json = json_array()) == NULL)
		die("out of memory");
	memset(&q, 0, sizeof(q));
	do {
		q.limit = n - (long long)json_array_size(json) >
		    AUDIT_STORE_LIMIT_MAX ? AUDIT_STORE_LIMIT_MAX :
		    (int)(n - (long long)json_array_size(json));
		if (audit_store_list(conn, &q, &page, &more, &err) == -1)
			die("%s", err.msg);
		json_array_foreach(page, i, row) {
			(void)json_array_insert(json, 0, row);
			q.after_id = json_integer_value(json_object_get(row,
			    "id"));
		}
		json_decref(page);
	} while (more && (long long)json_array_size(json) < n);
	PQfinish(conn);
	if (as_json)
		print_json(json);
	else
		print_table(json, cols);
	json_decref(json);

	return (0);
}

static int
cmd_users(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	cols[] = { "id", "userName",
	    "displayName", "active", "directory", "created_at", NULL };
	struct directory_query	 q;
	struct directory_page	 page;
	struct store_err	 err;
	PGconn			*conn;
	json_t			*all, *row;
	const char		*directory;
	char			 after[37];
	size_t			 i;
	int			 ch, as_json;

	if (argc < 2 || strcmp(argv[1], "list") != 0)
		usage();
	argc--;
	argv++;
	directory = NULL;
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			directory = optarg;
		else if (ch == 'j')
			as_json = 1;
		else
			usage();
	}
	if (optind != argc)
		usage();

	conn = db_connect();
	memset(&q, 0, sizeof(q));
	q.active = -1;
	q.sort = DIRECTORY_SORT_USERNAME;
	q.limit = DIRECTORY_STORE_LIMIT_MAX;
	if (directory != NULL && store_directory_id(conn, directory,
	    &q.directory_id, NULL, 0, &err) == -1)
		die("%s", err.msg);
	if ((all = json_array()) == NULL)
		die("out of memory");
	do {
		if (directory_store_users(conn, &q, &page, &err) == -1)
			die("%s", err.msg);
		json_array_foreach(page.rows, i, row) {
			(void)json_array_append(all, row);
		}
		json_decref(page.rows);
		rc_strlcpy(after, page.last, sizeof(after));
		q.after = after;
	} while (page.more);
	PQfinish(conn);
	if (as_json) {
		print_json(all);
	} else {
		json_array_foreach(all, i, row) {
			(void)json_object_set_new(row, "active", json_string(
			    json_is_true(json_object_get(row, "active")) ?
			    "yes" : "no"));
		}
		print_table(all, cols);
	}
	json_decref(all);

	return (0);
}

static int
cmd_user(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	fields[] = { "id", "userName",
	    "displayName", "externalId", "directory", "created_at",
	    "updated_at", "revoked_all_at", NULL };
	struct store_err	 err;
	PGconn			*conn;
	json_t			*user, *v;
	const char		*directory;
	int64_t			 dir;
	size_t			 i;
	int			 ch, as_json;

	if (argc < 2 || strcmp(argv[1], "show") != 0)
		usage();
	argc--;
	argv++;
	directory = NULL;
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			directory = optarg;
		else if (ch == 'j')
			as_json = 1;
		else
			usage();
	}
	if (optind + 1 != argc)
		usage();

	conn = db_connect();
	dir = 0;
	if (directory != NULL && store_directory_id(conn, directory, &dir,
	    NULL, 0, &err) == -1)
		die("%s", err.msg);
	if (directory_store_user(conn, dir, argv[optind], &user, &err) == -1)
		die("%s", err.msg);
	PQfinish(conn);
	if (as_json) {
		print_json(user);
		json_decref(user);
		return (0);
	}
	for (i = 0; fields[i] != NULL; i++) {
		v = json_object_get(user, fields[i]);
		printf("%-15s %s\n", fields[i], json_is_string(v) ?
		    json_string_value(v) : "-");
	}
	printf("%-15s %s\n", "active", json_is_true(json_object_get(user,
	    "active")) ? "yes" : "no");
	printf("%-15s", "emails");
	json_array_foreach(json_object_get(user, "emails"), i, v) {
		printf(" %s", json_string_value(v));
	}
	printf("\ngroups (%lld):\n", (long long)json_integer_value(
	    json_object_get(user, "group_count")));
	json_array_foreach(json_object_get(user, "groups"), i, v) {
		printf("  %s  %s\n", json_string_value(json_object_get(v,
		    "id")), json_string_value(json_object_get(v,
		    "displayName")));
	}
	printf("service principals owned:\n");
	json_array_foreach(json_object_get(user, "service_principals"), i,
	    v) {
		printf("  %s  %s (%s)%s\n", json_string_value(json_object_get(v,
		    "id")), json_string_value(json_object_get(v, "name")),
		    json_string_value(json_object_get(v, "app_id")),
		    json_is_true(json_object_get(v, "active")) ? "" :
		    " inactive");
	}
	json_decref(user);

	return (0);
}

int
main(int argc, char **argv)
{
	struct settings_err	 serr;
	struct passwd		*pw;
	const char		*path;
	int			 optional;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		usage_to(stdout, 0);
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("rollcallctl %s (commit %s)\n", rc_build_version,
		    rc_build_commit);
		return (0);
	}

	settings_defaults(&settings);
	if ((path = getenv("ROLLCALL_SETTINGS")) == NULL) {
		path = "conf/rollcall.settings";
		optional = 1;
	} else {
		optional = 0;
	}
	if (settings_load_file(&settings, path, optional, &serr) == -1)
		die("bad configuration: %s", serr.msg);
	/*
	 * The private cluster 'make run' started: its connection settings,
	 * so ./rollcallctl in the checkout reaches it with no extra step.
	 * The variables below still win.
	 */
	if ((path = getenv("ROLLCALL_CTL_SETTINGS")) == NULL)
		path = CTL_RUN_SETTINGS;
	if (path[0] != '\0' &&
	    settings_load_file(&settings, path, 1, &serr) == -1)
		die("bad configuration: %s", serr.msg);
	if (settings_load_env(&settings, environ, &serr) == -1)
		die("bad configuration: %s", serr.msg);

	pw = getpwuid(getuid());
	(void)snprintf(actor_name, sizeof(actor_name), "rollcallctl:%s",
	    pw ? pw->pw_name : "unknown");

	argc--;
	argv++;
	if (strcmp(argv[0], "migrate") == 0)
		return (cmd_migrate(argc, argv));
	if (strcmp(argv[0], "bootstrap") == 0)
		return (cmd_bootstrap(argc, argv));
	if (strcmp(argv[0], "token") == 0)
		return (cmd_token(argc, argv));
	if (strcmp(argv[0], "directory") == 0)
		return (cmd_directory(argc, argv));
	if (strcmp(argv[0], "audit") == 0)
		return (cmd_audit(argc, argv));
	if (strcmp(argv[0], "entra") == 0)
		return (cmd_entra(argc, argv));
	/* "user list" is the spelling; "users list" stays as an alias. */
	if (strcmp(argv[0], "users") == 0 ||
	    (strcmp(argv[0], "user") == 0 && argc > 1 &&
	    strcmp(argv[1], "list") == 0))
		return (cmd_users(argc, argv));
	if (strcmp(argv[0], "effective-policy") == 0)
		return (cmd_effective(argc, argv));
	if (strcmp(argv[0], "explain") == 0)
		return (cmd_explain(argc, argv));
	if (strcmp(argv[0], "revoke-all") == 0)
		return (cmd_revoke_all(argc, argv));
	if (strcmp(argv[0], "quarantine") == 0)
		return (cmd_quarantine(argc, argv));
	if (strcmp(argv[0], "user") == 0)
		return (cmd_user(argc, argv));
	if (strncmp(argv[0], "server", 6) == 0 ||
	    strncmp(argv[0], "tool", 4) == 0 ||
	    strncmp(argv[0], "rule", 4) == 0 ||
	    strncmp(argv[0], "grant", 5) == 0 || strncmp(argv[0], "sp", 2) == 0)
		return (cmd_admin(argc, argv));
	usage();
}
