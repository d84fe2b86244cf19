/*
 * ctl_admin.c: rollcallctl's commands for what the admin API manages
 * in the policy model: MCP servers and their tools (including a
 * tools/list import), rules, grants and service principals.  They run
 * the admin API's own store code (policy_admin_run) as a global admin,
 * so validation, audit records and the NOTIFY to running servers are
 * the same as over HTTP.
 *
 *   rollcallctl server list | show SLUG | create | update SLUG | delete SLUG
 *   rollcallctl tool list SERVER | show SERVER NAME | create SERVER
 *                    | update SERVER NAME | delete SERVER NAME
 *                    | import SERVER FILE
 *   rollcallctl rule list [--server S] [--subject ID] | show ID | create
 *                    | update ID | delete ID
 *   rollcallctl grant list [--state S] [--principal ID] | show ID | create
 *                     | approve ID | deny ID | activate ID | revoke ID
 *   rollcallctl sp list | show ID | create | update ID | delete ID
 *
 * A body is built from --set key=value (the value is JSON when it parses
 * as JSON, else a string) and/or --body FILE ('-': stdin), as the API's
 * request body.  Lists print tables, everything else JSON; --json
 * prints JSON always.
 */
#include <sys/types.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes.h"
#include "ctl.h"
#include "policy_admin_store.h"
#include "util.h"

struct entity {
	const char			*noun;
	enum policy_admin_entity	 entity;
	int				 keyed_create;	/* tools: SERVER */
	const char *const		*cols;
};

static const char *const	server_cols[] = { "slug", "name", "url",
	"tool_count", "updated_at", NULL };
static const char *const	tool_cols[] = { "server", "name", "risk",
	"description", NULL };
static const char *const	rule_cols[] = { "id", "subject", "server",
	"selector", "effect", "description", NULL };
static const char *const	grant_cols[] = { "id", "principal", "server",
	"selector", "state", "expires_at", NULL };
static const char *const	sp_cols[] = { "id", "name", "app_id",
	"owner", "active", NULL };

static const struct entity	entities[] = {
	{ "server", PA_SERVER, 0, server_cols },
	{ "tool", PA_TOOL, 1, tool_cols },
	{ "rule", PA_RULE, 0, rule_cols },
	{ "grant", PA_GRANT, 0, grant_cols },
	{ "sp", PA_SP, 0, sp_cols },
};

static const struct {
	const char		*name;
	enum policy_admin_op	 op;
	int			 nkeys;		/* positional keys after it */
} ops[] = {
	{ "list", PA_LIST, 0 },
	{ "show", PA_GET, 1 },
	{ "create", PA_CREATE, 0 },
	{ "update", PA_UPDATE, 1 },
	{ "delete", PA_DELETE, 1 },
	{ "import", PA_IMPORT, 1 },
	{ "approve", PA_APPROVE, 1 },
	{ "deny", PA_DENY, 1 },
	{ "activate", PA_ACTIVATE, 1 },
	{ "revoke", PA_REVOKE, 1 },
};

static json_t	*read_json_file(const char *);
static void	 flatten_for_table(json_t *);

static json_t *
read_json_file(const char *path)
{
	json_error_t	 jerr;
	json_t		*doc;
	FILE		*fp;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL)
		die("cannot read %s", path);
	doc = json_loadf(fp, 0, &jerr);
	if (fp != stdin)
		(void)fclose(fp);
	if (doc == NULL)
		die("%s: not JSON (line %d: %s)", path, jerr.line, jerr.text);

	return (doc);
}

/* Nested {kind, id} objects read as "kind:id" in a table cell. */
static void
flatten_for_table(json_t *rows)
{
	json_t		*row, *v;
	const char	*key;
	size_t		 i;
	char		 cell[256];

	json_array_foreach(rows, i, row) {
		json_object_foreach(row, key, v) {
			if (json_is_object(v)) {
				(void)snprintf(cell, sizeof(cell), "%s:%s",
				    json_string_value(json_object_get(v,
				    "kind")) ? json_string_value(
				    json_object_get(v, "kind")) : "?",
				    json_string_value(json_object_get(v, "id")) ?
				    json_string_value(json_object_get(v, "id")) :
				    "?");
				(void)json_object_set_new(row, key,
				    json_string(cell));
			} else if (json_is_boolean(v)) {
				(void)json_object_set_new(row, key,
				    json_string(json_is_true(v) ? "yes" :
				    "no"));
			}
		}
	}
}

int
cmd_admin(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "body", required_argument, NULL, 'b' },
		{ "server", required_argument, NULL, 'S' },
		{ "subject", required_argument, NULL, 'u' },
		{ "state", required_argument, NULL, 't' },
		{ "principal", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const struct entity		*e;
	struct policy_admin_req		 rq;
	struct store_changes		 changes;
	struct store_err		 err;
	json_error_t			 jerr;
	PGconn				*conn;
	json_t				*body, *query, *out, *v, *rows;
	const char			*keys[2];
	char				*eq;
	size_t				 i, o, nkeys;
	int				 ch, as_json, rc;

	e = NULL;
	for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
		if (strcmp(argv[0], entities[i].noun) == 0 ||
		    (strncmp(argv[0], entities[i].noun,
		    strlen(entities[i].noun)) == 0 &&
		    strcmp(argv[0] + strlen(entities[i].noun), "s") == 0))
			e = &entities[i];
	}
	if (e == NULL || argc < 2)
		die("usage: rollcallctl server|tool|rule|grant|sp COMMAND "
		    "(rollcallctl --help)");
	for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
		if (strcmp(argv[1], ops[o].name) == 0)
			break;
	}
	if (o == sizeof(ops) / sizeof(ops[0]) ||
	    (ops[o].op == PA_IMPORT && e->entity != PA_TOOL) ||
	    (ops[o].op >= PA_APPROVE && e->entity != PA_GRANT))
		die("%s: no command '%s' (rollcallctl --help)", e->noun,
		    argv[1]);
	argc--;
	argv++;

	if ((body = json_object()) == NULL || (query = json_object()) == NULL)
		die("out of memory");
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
				die("--set wants key=value, not '%s'", optarg);
			*eq = '\0';
			if ((v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr)) ==
			    NULL)
				v = json_string(eq + 1);
			(void)json_object_set_new(body, optarg, v);
			break;
		case 'b':
			v = read_json_file(optarg);
			if (!json_is_object(v))
				die("--body: the body must be a JSON object");
			(void)json_object_update(body, v);
			json_decref(v);
			break;
		case 'S':
			(void)json_object_set_new(query, "server",
			    json_string(optarg));
			break;
		case 'u':
			(void)json_object_set_new(query, "subject",
			    json_string(optarg));
			break;
		case 't':
			(void)json_object_set_new(query, "state",
			    json_string(optarg));
			break;
		case 'p':
			(void)json_object_set_new(query, "principal",
			    json_string(optarg));
			break;
		case 'j':
			as_json = 1;
			break;
		default:
			die("%s %s: unknown option (rollcallctl --help)",
			    e->noun, ops[o].name);
		}
	}

	/* Positional keys: tools are keyed by SERVER (and NAME). */
	nkeys = (size_t)ops[o].nkeys + (e->keyed_create ? 1 : 0);
	if (e->entity == PA_TOOL && ops[o].op == PA_IMPORT)
		nkeys = 2;	/* SERVER FILE */
	if ((size_t)(argc - optind) != nkeys)
		die("%s %s needs %zu argument(s)", e->noun, ops[o].name,
		    nkeys);
	keys[0] = nkeys > 0 ? argv[optind] : NULL;
	keys[1] = nkeys > 1 ? argv[optind + 1] : NULL;
	if (ops[o].op == PA_IMPORT) {
		json_decref(body);
		body = read_json_file(keys[1]);
		keys[1] = NULL;
	}

	memset(&rq, 0, sizeof(rq));
	memset(&err, 0, sizeof(err));
	rq.entity = e->entity;
	rq.op = ops[o].op;
	rq.actor = &actor;
	rq.key = keys[0];
	rq.sub = keys[1];
	rq.query = query;
	rq.body = body;

	conn = db_connect();
	out = NULL;
	rc = -1;
	/* Reruns after a serialisation failure: policy_admin_run. */
	store_changes_init(&changes, actor.name);
	rq.changes = &changes;
	rc = policy_admin_run(conn, &rq, &out, &err);
	store_changes_cleanup(&changes);
	PQfinish(conn);
	json_decref(body);
	json_decref(query);
	if (rc == -1)
		die("%s %s: %s", e->noun, ops[o].name, err.msg);

	if (out == NULL) {
		printf("deleted\n");
		return (0);
	}
	rows = json_is_array(out) ? out :
	    json_is_array(json_object_get(out, "tools")) ?
	    json_object_get(out, "tools") : NULL;
	if (ops[o].op == PA_LIST && rows != NULL && !as_json) {
		flatten_for_table(rows);
		print_table(rows, e->cols);
	} else {
		print_json(out);
	}
	json_decref(out);

	return (0);
}
