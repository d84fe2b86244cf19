/*
 * ctl_policy.c: rollcallctl's policy commands.  effective-policy and
 * explain load the whole policy from PostgreSQL into the same in-memory
 * index the server uses (src/store/policy_store.c) and ask it, so the
 * CLI and the gateways can never disagree.  revoke-all writes through
 * the same code as the admin API; running servers apply it through
 * NOTIFY within moments.  quarantine lists the principals the index
 * denies because their stored state cannot be applied.
 */
#include <sys/types.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "ctl.h"
#include "policy.h"
#include "policy_store.h"
#include "principal_store.h"
#include "util.h"

struct effective_rows {
	const char	*server;
	json_t		*rows;
};

static const char *const	effects[] = { "deny", "allow", "elevate" };

static struct policy_index *
load_index(PGconn *conn, struct policy_dirs *dirs)
{
	struct policy_index	*idx;
	struct store_err	 err;

	memset(&err, 0, sizeof(err));
	if (policy_store_load(conn, &idx, dirs, &err) == -1)
		die("cannot load the policy: %s", err.msg);
	/* Decide as the server does: its nesting limit too. */
	policy_set_nest_depth(idx, settings.group_nesting_depth);

	return (idx);
}

/* Finds the principal by id, userName, email, externalId or app id. */
static int
resolve(struct policy_index *idx, const struct policy_dirs *dirs,
    const char *who, const char *directory, struct policy_subject *subj,
    struct policy_principal_info *info)
{
	static const enum policy_alias	order[] = { POLICY_BY_ID,
	    POLICY_BY_USERNAME, POLICY_BY_EMAIL, POLICY_BY_EXTERNAL_ID,
	    POLICY_BY_APP_ID };
	size_t				i;

	memset(subj, 0, sizeof(*subj));
	subj->value = who;
	subj->directory = NULL;
	if (directory != NULL &&
	    (subj->directory = policy_dirs_resolve(dirs, directory)) == NULL)
		die("no directory named '%s'", directory);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		subj->by = order[i];
		if (policy_principal_lookup(idx, subj, info) == 0)
			return (0);
	}

	return (-1);
}

static int
effective_row(void *arg, const char *server, const char *tool,
    const struct policy_result *r)
{
	struct effective_rows	*acc = arg;

	if (acc->server != NULL && strcmp(acc->server, server) != 0)
		return (0);
	(void)json_array_append_new(acc->rows, json_pack("{s:s, s:s, s:s, "
	    "s:s, s:s?, s:s?, s:s?}", "server", server, "tool", tool,
	    "decision", r->decision == POLICY_ALLOW ? "allow" : "deny",
	    "reason_code", policy_reason_str(r->reason), "rule_id", r->rule_id,
	    "group_id", r->group_id, "grant_id", r->grant_id));

	return (0);
}

int
cmd_effective(int argc, char **argv)
{
	static struct option		 opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 cols[] = { "server", "tool",
	    "decision", "reason_code", "rule_id", "group_id", NULL };
	struct policy_principal_info	 info;
	struct policy_subject		 subj;
	struct policy_dirs		 dirs;
	struct policy_index		*idx;
	struct effective_rows		 acc;
	const char			*directory;
	int				 ch, as_json;

	directory = NULL;
	acc.server = NULL;
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			directory = optarg;
		else if (ch == 's')
			acc.server = optarg;
		else if (ch == 'j')
			as_json = 1;
		else
			die("usage: rollcallctl effective-policy ID|USERNAME "
			    "[--directory NAME] [--server SLUG] [--json]");
	}
	if (optind >= argc)
		die("effective-policy needs a principal (id, userName, email, "
		    "externalId or application id)");

	{
		PGconn	*conn = db_connect();

		idx = load_index(conn, &dirs);
		PQfinish(conn);
	}
	if (resolve(idx, &dirs, argv[optind], directory, &subj, &info) == -1)
		die("no principal '%s'", argv[optind]);
	acc.rows = json_array();
	(void)policy_effective(idx, &subj, (int64_t)rc_now_ms(), effective_row,
	    &acc);
	if (as_json) {
		print_json(acc.rows);
	} else {
		printf("%s %s (%s): %s, policy version %llu\n",
		    info.kind == POLICY_PRINCIPAL_SP ? "service principal" :
		    "user", info.user_name ? info.user_name : info.app_id ?
		    info.app_id : "", info.id, policy_reason_str(info.state),
		    (unsigned long long)policy_version(idx));
		print_table(acc.rows, cols);
	}
	json_decref(acc.rows);
	policy_dirs_cleanup(&dirs);
	policy_free(idx);

	return (0);
}

static int
explain_row(void *arg, const char *rule_id, enum policy_effect effect,
    enum policy_subject_kind kind, const char *via, const char *const *path,
    size_t npath)
{
	static const char	*kinds[] = { "group", "user",
	    "service_principal", "everyone", "role" };
	json_t			*rows = arg;
	char			 buf[2048];
	size_t			 i, len;

	/* The way the rule reaches the principal: groups outward, or role. */
	buf[0] = '\0';
	len = 0;
	if (kind == POLICY_SUBJECT_ROLE && via != NULL)
		(void)snprintf(buf, sizeof(buf), "role %s", via);
	for (i = 0; i < npath && len < sizeof(buf); i++) {
		(void)snprintf(buf + len, sizeof(buf) - len, "%sgroup %s",
		    i ? " -> " : "", path[i]);
		len = strlen(buf);
	}
	(void)json_array_append_new(rows, json_pack(
	    "{s:s, s:s, s:s, s:s?, s:s*, s:s}",
	    "rule_id", rule_id, "effect", effects[effect], "subject_kind",
	    kinds[kind], "via_group", kind == POLICY_SUBJECT_GROUP ? via :
	    NULL, "via_role", kind == POLICY_SUBJECT_ROLE ? via : NULL,
	    "path", buf));

	return (0);
}

int
cmd_explain(int argc, char **argv)
{
	static struct option		 opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 cols[] = { "rule_id", "effect",
	    "subject_kind", "path", NULL };
	struct policy_principal_info	 info;
	struct policy_subject		 subj;
	struct policy_result		 res;
	struct policy_dirs		 dirs;
	struct policy_index		*idx;
	const char			*directory;
	json_t				*rules, *out;
	int				 ch, as_json, found;
	PGconn				*conn;

	directory = NULL;
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			directory = optarg;
		else if (ch == 'j')
			as_json = 1;
		else
			die("usage: rollcallctl explain SUBJECT SERVER TOOL "
			    "[--directory NAME] [--json]");
	}
	if (argc - optind != 3)
		die("explain needs SUBJECT SERVER TOOL");

	conn = db_connect();
	idx = load_index(conn, &dirs);
	PQfinish(conn);
	found = resolve(idx, &dirs, argv[optind], directory, &subj,
	    &info) == 0;
	if (!found) {
		subj.by = POLICY_BY_ID;
		subj.value = argv[optind];
	}
	rules = json_array();
	(void)policy_explain(idx, &subj, argv[optind + 1], argv[optind + 2],
	    (int64_t)rc_now_ms(), explain_row, rules, &res);
	if (as_json) {
		out = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:o, s:I}",
		    "decision", res.decision == POLICY_ALLOW ? "allow" : "deny",
		    "reason_code", policy_reason_str(res.reason),
		    "rule_id", res.rule_id, "group_id", res.group_id,
		    "grant_id", res.grant_id, "matching_rules", rules,
		    "policy_version", (json_int_t)policy_version(idx));
		print_json(out);
		json_decref(out);
	} else {
		printf("%s may %scall %s/%s: %s%s%s\n", argv[optind],
		    res.decision == POLICY_ALLOW ? "" : "not ",
		    argv[optind + 1], argv[optind + 2],
		    policy_reason_str(res.reason), res.rule_id ? ", rule " :
		    "", res.rule_id ? res.rule_id : "");
		if (json_array_size(rules) > 0) {
			printf("matching rules:\n");
			print_table(rules, cols);
		}
		json_decref(rules);
	}
	policy_dirs_cleanup(&dirs);
	policy_free(idx);

	return (0);
}

struct quarantine_rows {
	const char	*directory;	/* index directory id, or NULL */
	json_t		*rows;
};

static int
quarantine_row(void *arg, const char *id, const char *dir, const char *why)
{
	struct quarantine_rows	*acc = arg;

	if (acc->directory != NULL &&
	    (dir == NULL || strcmp(dir, acc->directory) != 0))
		return (0);
	(void)json_array_append_new(acc->rows, json_pack("{s:s, s:s, s:s}",
	    "id", id, "directory_id", dir != NULL ? dir : "?", "reason",
	    why != NULL ? why : ""));
	return (0);
}

/*
 * The principals the index denies because their stored state cannot be
 * applied (policy.h, quarantine), as the server loads them at start.
 */
int
cmd_quarantine(int argc, char **argv)
{
	static struct option		 opts[] = {
		{ "directory", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const	 cols[] = { "id", "directory_id",
	    "reason", NULL };
	struct quarantine_rows		 acc;
	struct policy_dirs		 dirs;
	struct policy_index		*idx;
	const char			*directory;
	int				 ch, as_json;
	PGconn				*conn;

	directory = NULL;
	as_json = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			directory = optarg;
		else if (ch == 'j')
			as_json = 1;
		else
			die("usage: rollcallctl quarantine [--directory NAME] "
			    "[--json]");
	}
	conn = db_connect();
	idx = load_index(conn, &dirs);
	PQfinish(conn);
	acc.directory = NULL;
	if (directory != NULL &&
	    (acc.directory = policy_dirs_resolve(&dirs, directory)) == NULL)
		die("no directory named '%s'", directory);
	acc.rows = json_array();
	if (policy_quarantine_each(idx, quarantine_row, &acc) == -1)
		die("out of memory");
	if (as_json) {
		print_json(acc.rows);
	} else {
		printf("%zu principal(s) quarantined\n",
		    json_array_size(acc.rows));
		if (json_array_size(acc.rows) > 0)
			print_table(acc.rows, cols);
	}
	json_decref(acc.rows);
	policy_dirs_cleanup(&dirs);
	policy_free(idx);

	return (0);
}

int
cmd_revoke_all(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "restore", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_changes	 changes;
	struct store_err	 err;
	PGconn			*conn;
	int			 ch, restore, ngrants;

	restore = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'r')
			restore = 1;
		else
			die("usage: rollcallctl revoke-all ID [--restore]");
	}
	if (optind >= argc)
		die("revoke-all needs the principal's id");

	memset(&err, 0, sizeof(err));
	conn = db_connect();
	store_changes_init(&changes, actor.name);
	if (principal_store_revoke_all(conn, &actor, argv[optind], !restore,
	    &changes, &ngrants, &err) == -1)
		die("%s", err.msg);
	store_changes_cleanup(&changes);
	PQfinish(conn);
	if (restore)
		printf("restored %s (its grants stay revoked)\n", argv[optind]);
	else
		printf("revoked everything for %s; %d grant(s) revoked\n",
		    argv[optind], ngrants);

	return (0);
}
