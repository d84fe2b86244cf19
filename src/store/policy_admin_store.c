/*
 * policy_admin_store: see policy_admin_store.h.
 *
 * Objects and change records are built by PostgreSQL (json_build_object)
 * from the row a statement just wrote (RETURNING), so the answer, the
 * record every index applies and the row cannot disagree.
 *
 * Order inside a write transaction: lock and change rows, queue
 * records, store_changes_flush() (takes policy_state), then the audit
 * entry (takes audit_chain), then COMMIT: the lock order every writer
 * follows (store.h, the write protocol).  An operation that fails
 * returns -1 and leaves its transaction to policy_admin_run, which rolls
 * it back and runs it again when PostgreSQL aborted it to break a
 * serialisation failure or deadlock (store_txn_run).
 *
 * Which elevate rule a grant falls under is decided with the policy
 * core itself (a one-rule index), so a grant request and a decision can
 * never disagree on what a selector covers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idkey.h"
#include "policy.h"
#include "policy_admin_store.h"
#include "util.h"

#define TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define MS(c)	"(extract(epoch FROM " c ") * 1000)::bigint"

#define SERVER_JSON							\
	"json_build_object('slug', s.slug, 'name', s.name, 'url', s.url, "\
	"'description', s.description, 'tool_count', (SELECT count(*) "	\
	"FROM tools x WHERE x.server_id = s.id), 'created_at', "	\
	TS("s.created_at") ", 'updated_at', " TS("s.updated_at") ")::text"
#define SERVER_REC							\
	"json_build_object('kind', 'server', 'slug', s.slug, 'deleted', "\
	"false)::text"
#define TOOL_JSON							\
	"json_build_object('server', s.slug, 'name', t.name, "		\
	"'description', t.description, 'risk', t.risk, 'labels', "	\
	"to_json(t.labels), 'created_at', " TS("t.created_at") ", "	\
	"'updated_at', " TS("t.updated_at") ")::text"
#define TOOL_REC							\
	"json_build_object('kind', 'tool', 'server', s.slug, 'name', "	\
	"t.name, 'risk', t.risk, 'labels', to_json(t.labels), "		\
	"'deleted', false)::text"
#define RULE_JSON							\
	"json_build_object('id', r.id, 'directory_id', r.directory_id, "\
	"'subject', json_build_object('kind', r.subject_kind, 'id', "	\
	"r.subject_id), 'server', r.server_slug, 'selector', "		\
	"r.tool_selector, 'effect', r.effect, 'max_grant_s', "		\
	"r.max_grant_s, 'description', r.description, 'version', "	\
	"r.version, 'created_by', r.created_by, 'created_at', "		\
	TS("r.created_at") ", 'updated_at', " TS("r.updated_at") ")::text"
#define RULE_REC							\
	"json_build_object('kind', 'rule', 'id', r.id, 'directory_id', "\
	"r.directory_id, 'subject_kind', r.subject_kind, 'subject_id', "\
	"r.subject_id, 'server', r.server_slug, 'selector', "		\
	"r.tool_selector, 'effect', r.effect, 'max_grant_s', "		\
	"r.max_grant_s, 'deleted', false)::text"
#define GRANT_JSON							\
	"json_build_object('id', g.id, 'directory_id', g.directory_id, "\
	"'principal', json_build_object('kind', g.principal_kind, 'id', "\
	"g.principal_id), 'server', g.server_slug, 'selector', "	\
	"g.tool_selector, 'rule_id', g.rule_id, 'state', g.state, "	\
	"'active', g.state = 'approved' AND now() >= g.not_before AND "	\
	"now() < g.expires_at, 'not_before', " TS("g.not_before") ", "	\
	"'expires_at', " TS("g.expires_at") ", 'reason', g.reason, "	\
	"'ticket', g.ticket, 'requested_by', g.requested_by, "		\
	"'approved_by', g.approved_by, 'created_at', "			\
	TS("g.created_at") ", 'updated_at', " TS("g.updated_at") ")::text"
#define GRANT_REC							\
	"json_build_object('kind', 'grant', 'id', g.id, 'principal', "	\
	"g.principal_id, 'server', g.server_slug, 'selector', "		\
	"g.tool_selector, 'not_before_ms', " MS("g.not_before") ", "	\
	"'expires_at_ms', " MS("g.expires_at") ", 'state', g.state)::text"
#define SP_JSON								\
	"json_build_object('id', p.id, 'directory_id', p.directory_id, "\
	"'name', p.name, 'app_id', p.app_id, 'owner', p.owner_user_id, "\
	"'active', p.active, 'suspended', p.owner_user_id IS NOT NULL "	\
	"AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = "		\
	"p.owner_user_id AND u.active AND u.deleted_at IS NULL AND "	\
	"u.revoked_all_at IS NULL), 'created_at', " TS("p.created_at")	\
	", 'updated_at', " TS("p.updated_at") ")::text"
#define SP_REC								\
	"json_build_object('kind', 'sp', 'id', p.id, 'directory_id', "	\
	"p.directory_id, 'name', p.name, 'appId', p.app_id, 'owner', "	\
	"p.owner_user_id, 'active', p.active, 'deleted', "		\
	"p.deleted_at IS NOT NULL)::text"

/* Directory scope of a query: $n is the actor's id, "0" for global. */
#define IN_DIR(col, n)	"($" n "::bigint = 0 OR " col " = $" n "::bigint)"

struct rule_in {
	char		 kind[24];
	char		 subject[40];
	char		 server[64];
	char		 selector[POLICY_SELECTOR_MAX + 1];
	char		 effect[8];
	long long	 max_grant_s;		/* 0: none */
	const char	*description;
	int		 has_description;
};

static int	one(PGconn *, const char *, int, const char *const *,
		    json_t **, json_t **, struct store_err *);
static int	list(PGconn *, const char *, int, const char *const *,
		    json_t **, struct store_err *);
static int	write_dir(PGconn *, const struct policy_admin_req *,
		    int64_t *, struct store_err *);
static int	resolve(PGconn *, int64_t, const char *, const char *,
		    char *, char *, struct store_err *);
static int	opt_text(const json_t *, const char *, size_t, const char **,
		    int *, struct store_err *);
static int	server_op(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	tool_op(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	tools_import(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	rule_op(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	grant_op(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	grant_request(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);
static int	sp_op(PGconn *, struct policy_admin_req *, json_t **,
		    struct store_err *);

static json_t *
col_json(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (NULL);
	return (json_loads(PQgetvalue(res, row, col), 0, NULL));
}

/*
 * Runs a statement that yields at most one row of JSON text columns:
 * 1 with *a (and *b when not NULL) loaded, 0 when no row, -1 on error.
 */
static int
one(PGconn *conn, const char *sql, int n, const char *const *p, json_t **a,
    json_t **b, struct store_err *err)
{
	PGresult	*res;

	*a = NULL;
	if (b != NULL)
		*b = NULL;
	if (store_exec(conn, sql, n, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return (0);
	}
	*a = col_json(res, 0, 0);
	if (b != NULL && PQnfields(res) > 1)
		*b = col_json(res, 0, 1);
	PQclear(res);
	if (*a == NULL)
		return (store_err_set(err, 500, "internal", "unreadable row"));

	return (1);
}

/* A statement that yields one JSON array as text. */
static int
list(PGconn *conn, const char *sql, int n, const char *const *p, json_t **out,
    struct store_err *err)
{
	json_t	*b;

	if (one(conn, sql, n, p, out, &b, err) != 1)
		return (-1);
	json_decref(b);
	if (!json_is_array(*out)) {
		json_decref(*out);
		*out = NULL;
		return (store_err_set(err, 500, "internal", "unreadable list"));
	}

	return (0);
}

/* Queues the record text returned by a statement. */
static void
queue(struct policy_admin_req *rq, json_t *rec)
{
	if (rec != NULL)
		store_changes_add(rq->changes, rec);
}

/*
 * Tool records travel with their server's record (same version), so a
 * batch applied on its own (another instance catching up, a ring
 * reader) never meets a tool whose server it has not seen.
 */
static void
queue_server(struct policy_admin_req *rq, const char *slug)
{
	store_changes_add(rq->changes, json_pack("{s:s, s:s, s:b}", "kind",
	    "server", "slug", slug, "deleted", 0));
}

/* The directory a write lands in: the token's, or (global) the body's. */
static int
write_dir(PGconn *conn, const struct policy_admin_req *rq, int64_t *dir,
    struct store_err *err)
{
	const char	*name;
	int64_t		 id;

	name = json_string_value(json_object_get(rq->body, "directory"));
	if (name == NULL && json_object_get(rq->body, "directory") != NULL &&
	    !json_is_null(json_object_get(rq->body, "directory")))
		return (store_err_set(err, 400, "invalid_directory",
		    "'directory' must be a directory name"));
	if (rq->actor->directory_id != 0) {
		*dir = rq->actor->directory_id;
		if (name == NULL)
			return (0);
		if (store_directory_id(conn, name, &id, NULL, 0, err) == -1 ||
		    id != *dir)
			return (store_err_set(err, 403, "forbidden", "this "
			    "token manages only its own directory"));
		return (0);
	}
	if (name == NULL)
		return (store_err_set(err, 400, "invalid_directory", "a global "
		    "admin token must name the 'directory' this belongs to"));

	return (store_directory_id(conn, name, dir, NULL, 0, err));
}

/*
 * Resolves a principal or group named by id or name within dir.  kind
 * is "user", "service_principal", "group" or "" (a user or service
 * principal).  Fills kind_out and id_out.  0, or -1 with 400.
 */
static int
resolve(PGconn *conn, int64_t dir, const char *kind, const char *name,
    char *kind_out, char *id_out, struct store_err *err)
{
	PGresult	*res;
	const char	*p[4];
	char		 d[24], *nk;
	int		 rc;

	if (name == NULL || *name == '\0' || strlen(name) > 512)
		return (store_err_set(err, 400, "unknown_subject", "a %s must "
		    "be named by id or name", *kind ? kind : "principal"));
	/* A userName compares by its identity key (idkey.h). */
	if ((nk = idkey_dup(name, &rc)) == NULL)
		return (store_err_set(err, rc == IDKEY_ENOMEM ? 500 : 400,
		    rc == IDKEY_ENOMEM ? "internal" : "unknown_subject",
		    "the name %s", idkey_strerror(rc)));
	(void)snprintf(d, sizeof(d), "%lld", (long long)dir);
	p[0] = d;
	p[1] = kind;
	p[2] = name;
	p[3] = nk;
	rc = store_exec(conn, "SELECT k, id FROM ("
	    "SELECT 'user' AS k, id::text AS id, 1 AS o FROM users WHERE "
	    "directory_id = $1::bigint AND deleted_at IS NULL AND $2 IN "
	    "('user', '') AND (id::text = lower($3) OR user_name_key = "
	    "$4) UNION ALL "
	    "SELECT 'service_principal', id::text, 2 FROM service_principals "
	    "WHERE directory_id = $1::bigint AND deleted_at IS NULL AND $2 IN "
	    "('service_principal', '') AND (id::text = lower($3) OR "
	    "lower(app_id) = lower($3)) UNION ALL "
	    "SELECT 'group', id::text, 3 FROM groups WHERE directory_id = "
	    "$1::bigint AND deleted_at IS NULL AND $2 = 'group' AND "
	    "(id::text = lower($3) OR lower(display_name) = lower($3))"
	    ") s ORDER BY o LIMIT 1", 4, p, &res, err);
	free(nk);
	if (rc == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (store_err_set(err, 400, "unknown_subject", "no %s "
		    "'%.128s' in this directory", *kind ? kind : "user or "
		    "service principal", name));
	}
	rc_strlcpy(kind_out, PQgetvalue(res, 0, 0), 24);
	rc_strlcpy(id_out, PQgetvalue(res, 0, 1), 40);
	PQclear(res);

	return (0);
}

/*
 * An optional string member: absent leaves *set 0; null or a string of
 * at most max bytes sets *set (and *v, NULL for null).
 */
static int
opt_text(const json_t *body, const char *key, size_t max, const char **v,
    int *set, struct store_err *err)
{
	json_t	*j;

	*set = 0;
	*v = NULL;
	if ((j = json_object_get(body, key)) == NULL)
		return (0);
	if (json_is_null(j)) {
		*v = NULL;
		*set = 1;
		return (0);
	}
	if (!json_is_string(j) || json_string_length(j) > max ||
	    strlen(json_string_value(j)) != json_string_length(j))
		return (store_err_set(err, 400, "invalid_request", "'%s' must "
		    "be a string of at most %zu bytes", key, max));
	*v = json_string_value(j);
	*set = 1;

	return (0);
}

static int
slug_ok(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 63)
		return (0);
	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '_' || s[i] == '-'))
			continue;
		return (0);
	}

	return (1);
}

/*
 * Printable, no spaces, and within the one rule of policy.h (no C0, DEL
 * or C1 controls): names, labels, selectors.  What is written here the
 * index can load, so a deny rule is never refused by the index.
 */
static int
token_ok(const char *s, size_t max)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > max ||
	    policy_check_value(s, max, 0, "value", NULL) == -1)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ')
			return (0);

	return (1);
}

static int
risk_ok(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 32)
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return (0);

	return (1);
}

const char *
policy_admin_risk_of(const json_t *ann, json_t **labels)
{
	const char	*risk;

	*labels = json_array();
	risk = "normal";
	if (!json_is_object(ann))
		return (risk);
	if (json_is_true(json_object_get(ann, "readOnlyHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:read-only"));
	if (json_is_true(json_object_get(ann, "destructiveHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:destructive"));
	if (json_is_true(json_object_get(ann, "idempotentHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:idempotent"));
	if (json_is_true(json_object_get(ann, "openWorldHint")))
		(void)json_array_append_new(*labels,
		    json_string("mcp:open-world"));

	/* Hints are the server's claims: the more cautious one wins. */
	if (json_is_true(json_object_get(ann, "destructiveHint")))
		risk = "high";
	else if (json_is_true(json_object_get(ann, "readOnlyHint")))
		risk = "low";
	else if (json_is_false(json_object_get(ann, "destructiveHint")) &&
	    json_is_true(json_object_get(ann, "openWorldHint")))
		risk = "consequential";

	return (risk);
}

/* Validates "labels": an array of distinct label strings. */
static int
labels_check(const json_t *v, struct store_err *err)
{
	json_t	*l;
	size_t	 i, j;

	if (!json_is_array(v) || json_array_size(v) > POLICY_LIST_MAX)
		return (store_err_set(err, 400, "invalid_labels", "'labels' "
		    "must be an array of at most %d labels", POLICY_LIST_MAX));
	json_array_foreach(v, i, l) {
		if (!token_ok(json_string_value(l), 128))
			return (store_err_set(err, 400, "invalid_labels",
			    "labels[%zu] must be 1-128 printable characters "
			    "without spaces", i));
		for (j = 0; j < i; j++)
			if (strcasecmp(json_string_value(l),
			    json_string_value(json_array_get(v, j))) == 0)
				return (store_err_set(err, 400,
				    "invalid_labels", "labels[%zu] repeats a "
				    "label", i));
	}

	return (0);
}

/* The operation itself: one attempt, which may leave a transaction open. */
static int
dispatch(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	if (rq->body != NULL && !json_is_object(rq->body))
		return (store_err_set(err, 400, "invalid_request",
		    "the body must be a JSON object"));
	switch (rq->entity) {
	case PA_SERVER:
		return (server_op(conn, rq, out, err));
	case PA_TOOL:
		return (rq->op == PA_IMPORT ? tools_import(conn, rq, out, err) :
		    tool_op(conn, rq, out, err));
	case PA_RULE:
		return (rule_op(conn, rq, out, err));
	case PA_GRANT:
		return (grant_op(conn, rq, out, err));
	case PA_SP:
		return (sp_op(conn, rq, out, err));
	}

	return (store_err_set(err, 500, "internal", "unknown operation"));
}

/* One run of policy_admin_run (store_txn_run). */
struct attempt {
	struct policy_admin_req	*rq;
	json_t			**out;
	struct store_err	*err;
};

static enum store_outcome
attempt_run(PGconn *conn, void *arg)
{
	struct attempt	*a = arg;

	/* A rerun starts from nothing: the last attempt rolled back. */
	store_changes_reset(a->rq->changes);
	memset(a->err, 0, sizeof(*a->err));
	if (dispatch(conn, a->rq, a->out, a->err) == 0)
		return (STORE_OK);
	/* Whatever failed, nothing of it stays open or is answered. */
	store_rollback(conn);
	json_decref(*a->out);
	*a->out = NULL;

	return (a->err->outcome != STORE_OK ? a->err->outcome :
	    STORE_INTERNAL);
}

int
policy_admin_run(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	struct attempt	a;

	*out = NULL;
	a.rq = rq;
	a.out = out;
	a.err = err;

	return (store_txn_run(conn, attempt_run, &a) == STORE_OK ? 0 : -1);
}

/* Servers and tools are global: only a global admin token writes them. */
static int
global_only(const struct policy_admin_req *rq, struct store_err *err)
{
	if (rq->actor->directory_id != 0)
		return (store_err_set(err, 403, "forbidden", "MCP servers and "
		    "tools are shared by every directory: only a global admin "
		    "token may change them"));
	return (0);
}

static int
server_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	const char	*p[7], *name, *url, *desc, *slug;
	int		 has_name, has_url, has_desc, rc;
	json_t		*rec;

	slug = rq->key;
	switch (rq->op) {
	case PA_LIST:
		return (list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.slug), '[]')::text FROM (SELECT s.slug, " SERVER_JSON
		    "::json AS j FROM mcp_servers s) x", 0, NULL, out, err));
	case PA_GET:
		p[0] = slug;
		rc = one(conn, "SELECT " SERVER_JSON " FROM mcp_servers s "
		    "WHERE s.slug = $1", 1, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no MCP "
			    "server '%.64s'", slug));
		return (rc == 1 ? 0 : -1);
	case PA_DELETE:
		if (global_only(rq, err) == -1)
			return (-1);
		if (store_begin(conn, err) == -1)
			return (-1);
		p[0] = slug;
		rc = one(conn, "DELETE FROM mcp_servers s WHERE s.slug = $1 "
		    "RETURNING json_build_object('kind', 'server', 'slug', "
		    "s.slug, 'deleted', true)::text", 1, p, &rec, NULL, err);
		if (rc != 1) {
			if (rc == 0)
				return (store_err_set(err, 404, "not_found",
				    "no MCP server '%.64s'", slug));
			return (-1);
		}
		queue(rq, rec);
		store_changes_revoke(rq->changes, 0, "rule.changed", NULL,
		    json_pack("{s:s, s:s}", "cause", "server_deleted",
		    "server", slug));
		return (store_finish(conn, rq->changes, rq->actor, 0,
		    "server.delete", "McpServer", slug, NULL, err) ==
		    STORE_OK ? 0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on servers"));
	}

	if (global_only(rq, err) == -1)
		return (-1);
	if (opt_text(rq->body, "name", 256, &name, &has_name, err) == -1 ||
	    opt_text(rq->body, "url", 2048, &url, &has_url, err) == -1 ||
	    opt_text(rq->body, "description", 16384, &desc, &has_desc,
	    err) == -1)
		return (-1);
	if (has_name && (name == NULL || *name == '\0'))
		return (store_err_set(err, 400, "invalid_request",
		    "'name' must be a non-empty string"));
	if (has_url && url != NULL && strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0)
		return (store_err_set(err, 400, "invalid_url",
		    "'url' must be an http:// or https:// URL"));
	if (rq->op == PA_CREATE) {
		slug = json_string_value(json_object_get(rq->body, "slug"));
		if (!slug_ok(slug))
			return (store_err_set(err, 400, "invalid_slug",
			    "'slug' must be 1-63 lowercase letters, digits, "
			    "'_' or '-', starting with a letter or digit"));
		if (!has_name || name == NULL)
			name = slug;
	} else if (json_object_get(rq->body, "slug") != NULL &&
	    (json_string_value(json_object_get(rq->body, "slug")) == NULL ||
	    strcmp(json_string_value(json_object_get(rq->body, "slug")),
	    slug) != 0)) {
		return (store_err_set(err, 400, "invalid_slug", "a server's "
		    "slug cannot change (rules name it): create a new server"));
	}

	if (store_begin(conn, err) == -1)
		return (-1);
	p[0] = slug;
	p[1] = name;
	p[2] = url;
	p[3] = desc;
	p[4] = has_name ? "1" : "0";
	p[5] = has_url ? "1" : "0";
	p[6] = has_desc ? "1" : "0";
	if (rq->op == PA_CREATE)
		rc = one(conn, "INSERT INTO mcp_servers AS s (slug, name, url, "
		    "description) VALUES ($1, $2, $3, $4) RETURNING "
		    SERVER_JSON ", " SERVER_REC, 4, p, out, &rec, err);
	else
		rc = one(conn, "UPDATE mcp_servers s SET name = CASE WHEN "
		    "$5 = '1' THEN $2 ELSE name END, url = CASE WHEN $6 = '1' "
		    "THEN $3 ELSE url END, description = CASE WHEN $7 = '1' "
		    "THEN $4 ELSE description END, updated_at = now() WHERE "
		    "s.slug = $1 RETURNING " SERVER_JSON ", " SERVER_REC, 7, p,
		    out, &rec, err);
	if (rc != 1) {
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no MCP "
			    "server '%.64s'", slug));
		if (err->status == 409)
			return (store_err_set(err, 409, "conflict", "an MCP "
			    "server '%.64s' already exists", slug));
		return (-1);
	}
	queue(rq, rec);
	return (store_finish(conn, rq->changes, rq->actor, 0,
	    rq->op == PA_CREATE ? "server.create" : "server.update",
	    "McpServer", slug, json_deep_copy(rq->body), err) == STORE_OK ?
	    0 : -1);
}

static int
tool_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	const char	*p[7], *name, *desc, *risk;
	char		*labels;
	json_t		*rec, *lv;
	int		 has_desc, rc;

	p[0] = rq->key;
	p[1] = rq->sub;
	switch (rq->op) {
	case PA_LIST:
		rc = one(conn, "SELECT (SELECT coalesce(json_agg(" TOOL_JSON
		    "::json ORDER BY t.name), '[]') FROM tools t WHERE "
		    "t.server_id = s.id)::text FROM mcp_servers s WHERE "
		    "s.slug = $1", 1, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no MCP "
			    "server '%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_GET:
		rc = one(conn, "SELECT " TOOL_JSON " FROM tools t JOIN "
		    "mcp_servers s ON s.id = t.server_id WHERE s.slug = $1 AND "
		    "t.name = $2", 2, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no tool "
			    "'%.128s' on '%.64s'", rq->sub, rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_DELETE:
		if (global_only(rq, err) == -1 || store_begin(conn, err) == -1)
			return (-1);
		rc = one(conn, "DELETE FROM tools t USING mcp_servers s WHERE "
		    "s.id = t.server_id AND s.slug = $1 AND t.name = $2 "
		    "RETURNING json_build_object('kind', 'tool', 'server', "
		    "s.slug, 'name', t.name, 'deleted', true)::text", 2, p,
		    &rec, NULL, err);
		if (rc != 1) {
			if (rc == 0)
				return (store_err_set(err, 404, "not_found",
				    "no tool '%.128s' on '%.64s'", rq->sub,
				    rq->key));
			return (-1);
		}
		queue(rq, rec);
		store_changes_revoke(rq->changes, 0, "rule.changed", NULL,
		    json_pack("{s:s, s:s, s:s}", "cause", "tool_deleted",
		    "server", rq->key, "tool", rq->sub));
		return (store_finish(conn, rq->changes, rq->actor, 0,
		    "tool.delete", "Tool", rq->sub, json_pack("{s:s}",
		    "server", rq->key), err) == STORE_OK ? 0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on tools"));
	}

	if (global_only(rq, err) == -1)
		return (-1);
	name = rq->sub;
	if (rq->op == PA_CREATE) {
		name = json_string_value(json_object_get(rq->body, "name"));
		if (!token_ok(name, 128))
			return (store_err_set(err, 400, "invalid_name",
			    "'name' must be 1-128 printable characters without "
			    "spaces"));
	} else if (json_object_get(rq->body, "name") != NULL &&
	    (json_string_value(json_object_get(rq->body, "name")) == NULL ||
	    strcmp(json_string_value(json_object_get(rq->body, "name")),
	    name) != 0)) {
		return (store_err_set(err, 400, "invalid_name", "a tool's name "
		    "cannot change: MCP servers call it by that name"));
	}
	if (opt_text(rq->body, "description", 16384, &desc, &has_desc,
	    err) == -1)
		return (-1);
	risk = NULL;
	if (json_object_get(rq->body, "risk") != NULL) {
		risk = json_string_value(json_object_get(rq->body, "risk"));
		if (!risk_ok(risk))
			return (store_err_set(err, 400, "invalid_risk",
			    "'risk' must be 1-32 of a-z, 0-9, '_', '-' (low, "
			    "normal, consequential, high, secrets, "
			    "infrastructure...)"));
	}
	labels = NULL;
	if ((lv = json_object_get(rq->body, "labels")) != NULL) {
		if (labels_check(lv, err) == -1)
			return (-1);
		labels = json_dumps(lv, JSON_COMPACT);
	}

	if (store_begin(conn, err) == -1) {
		free(labels);
		return (-1);
	}
	p[0] = rq->key;
	p[1] = name;
	p[2] = desc;
	p[3] = has_desc ? "1" : "0";
	p[4] = risk;
	p[5] = labels;
	if (rq->op == PA_CREATE)
		rc = one(conn, "INSERT INTO tools AS t (server_id, name, "
		    "description, risk, labels) SELECT s.id, $2, $3, "
		    "coalesce($5, 'normal'), coalesce(ARRAY(SELECT "
		    "jsonb_array_elements_text($6::jsonb)), '{}') FROM "
		    "mcp_servers s WHERE s.slug = $1 AND $4 IN ('0', '1') "
		    "RETURNING (SELECT " TOOL_JSON " FROM mcp_servers s WHERE "
		    "s.id = t.server_id), (SELECT " TOOL_REC " FROM "
		    "mcp_servers s WHERE s.id = t.server_id)", 6, p, out, &rec,
		    err);
	else
		rc = one(conn, "UPDATE tools t SET description = CASE WHEN "
		    "$4 = '1' THEN $3 ELSE t.description END, risk = "
		    "coalesce($5, t.risk), labels = CASE WHEN $6::jsonb IS "
		    "NULL THEN t.labels ELSE ARRAY(SELECT "
		    "jsonb_array_elements_text($6::jsonb)) END, updated_at = "
		    "now() FROM mcp_servers s WHERE s.id = t.server_id AND "
		    "s.slug = $1 AND t.name = $2 RETURNING " TOOL_JSON ", "
		    TOOL_REC, 6, p, out, &rec, err);
	free(labels);
	if (rc != 1) {
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", rq->op ==
			    PA_CREATE ? "no MCP server '%.64s'" : "no such "
			    "tool on '%.64s'", rq->key));
		if (err->status == 409)
			return (store_err_set(err, 409, "conflict", "'%.64s' "
			    "already has a tool '%.128s'", rq->key, name));
		return (-1);
	}
	queue_server(rq, rq->key);
	queue(rq, rec);
	/* A new risk or label can take access away (risk:, label: rules). */
	if (rq->op == PA_UPDATE)
		store_changes_revoke(rq->changes, 0, "rule.changed", NULL,
		    json_pack("{s:s, s:s, s:s}", "cause", "tool_changed",
		    "server", rq->key, "tool", name));
	return (store_finish(conn, rq->changes, rq->actor, 0,
	    rq->op == PA_CREATE ? "tool.create" : "tool.update", "Tool", name,
	    json_pack("{s:s, s:O}", "server", rq->key, "request", rq->body),
	    err) == STORE_OK ? 0 : -1);
}

/*
 * POST /servers/{slug}/tools:import with a tools/list result.  New tools
 * get the risk and labels their annotations suggest; existing ones keep
 * what an admin set (only their description follows the server).
 * "prune": true also deletes tools the list no longer has.
 */
static int
tools_import(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	json_t		*tools, *t, *rows, *labels, *seen, *created, *rec;
	const char	*name, *desc, *risk, *p[3];
	char		*text, *names;
	size_t		 i;
	int		 prune, updated, n, k;

	if (global_only(rq, err) == -1)
		return (-1);
	tools = json_object_get(rq->body, "tools");
	if (json_is_object(json_object_get(rq->body, "result")))
		tools = json_object_get(json_object_get(rq->body, "result"),
		    "tools");
	if (!json_is_array(tools) || json_array_size(tools) >
	    POLICY_ADMIN_IMPORT_MAX)
		return (store_err_set(err, 400, "invalid_request", "the body "
		    "must be a tools/list result {\"tools\": [{\"name\", "
		    "\"description\", \"annotations\"}...]} with at most %d "
		    "tools", POLICY_ADMIN_IMPORT_MAX));
	prune = json_is_true(json_object_get(rq->body, "prune"));

	rows = json_array();
	seen = json_object();
	json_array_foreach(tools, i, t) {
		name = json_string_value(json_object_get(t, "name"));
		if (!json_is_object(t) || !token_ok(name, 128)) {
			json_decref(rows);
			json_decref(seen);
			return (store_err_set(err, 400, "invalid_request",
			    "tools[%zu] needs a 'name' of 1-128 printable "
			    "characters without spaces", i));
		}
		if (json_object_get(seen, name) != NULL) {
			json_decref(rows);
			json_decref(seen);
			return (store_err_set(err, 400, "invalid_request",
			    "tools[%zu] repeats the name '%.128s'", i, name));
		}
		(void)json_object_set_new(seen, name, json_true());
		desc = json_string_value(json_object_get(t, "description"));
		if (desc != NULL && strlen(desc) > 16384)
			desc = NULL;
		risk = policy_admin_risk_of(json_object_get(t, "annotations"),
		    &labels);
		(void)json_array_append_new(rows, json_pack("{s:s, s:s?, s:s, "
		    "s:o}", "name", name, "description", desc, "risk", risk,
		    "labels", labels));
	}
	json_decref(seen);
	text = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	if (text == NULL)
		return (store_err_set(err, 500, "internal", "out of memory"));

	if (store_begin(conn, err) == -1) {
		free(text);
		return (-1);
	}
	p[0] = rq->key;
	if (store_exec(conn, "SELECT id FROM mcp_servers WHERE slug = $1 "
	    "FOR UPDATE", 1, p, &res, err) == -1) {
		free(text);
		return (-1);
	}
	n = PQntuples(res);
	PQclear(res);
	if (n != 1) {
		free(text);
		return (store_err_set(err, 404, "not_found", "no MCP server "
		    "'%.64s'", rq->key));
	}
	p[1] = text;
	/* xmax = 0: the row was inserted by this statement. */
	if (store_exec(conn, "INSERT INTO tools AS t (server_id, name, "
	    "description, risk, labels) SELECT s.id, x.name, x.description, "
	    "x.risk, ARRAY(SELECT jsonb_array_elements_text(x.labels)) FROM "
	    "mcp_servers s, jsonb_to_recordset($2::jsonb) AS x(name text, "
	    "description text, risk text, labels jsonb) WHERE s.slug = $1 "
	    "ON CONFLICT (server_id, name) DO UPDATE SET description = "
	    "EXCLUDED.description, updated_at = now() WHERE "
	    "t.description IS DISTINCT FROM EXCLUDED.description "
	    "RETURNING t.name, t.xmax = 0, (SELECT " TOOL_REC " FROM "
	    "mcp_servers s WHERE s.id = t.server_id)", 2, p, &res,
	    err) == -1) {
		free(text);
		return (-1);
	}
	free(text);
	created = json_array();
	updated = 0;
	for (k = 0; k < PQntuples(res); k++) {
		if (strcmp(PQgetvalue(res, k, 1), "t") != 0) {
			updated++;
			continue;
		}
		if (json_array_size(created) == 0)
			queue_server(rq, rq->key);
		(void)json_array_append_new(created,
		    json_string(PQgetvalue(res, k, 0)));
		queue(rq, col_json(res, k, 2));
	}
	PQclear(res);

	n = 0;
	if (prune) {
		names = NULL;
		rows = json_array();
		json_array_foreach(tools, i, t)
			(void)json_array_append(rows, json_object_get(t,
			    "name"));
		names = json_dumps(rows, JSON_COMPACT);
		json_decref(rows);
		p[1] = names ? names : "[]";
		if (store_exec(conn, "DELETE FROM tools t USING mcp_servers s "
		    "WHERE s.id = t.server_id AND s.slug = $1 AND NOT (t.name "
		    "= ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))"
		    ") RETURNING json_build_object('kind', 'tool', 'server', "
		    "s.slug, 'name', t.name, 'deleted', true)::text", 2, p,
		    &res, err) == -1) {
			free(names);
			json_decref(created);
			return (-1);
		}
		free(names);
		n = PQntuples(res);
		for (k = 0; k < n; k++)
			queue(rq, col_json(res, k, 0));
		PQclear(res);
		if (n > 0)
			store_changes_revoke(rq->changes, 0, "rule.changed",
			    NULL, json_pack("{s:s, s:s, s:i}", "cause",
			    "tools_pruned", "server", rq->key, "count", n));
	}

	*out = json_pack("{s:s, s:I, s:i, s:I, s:i, s:O}", "server", rq->key,
	    "created", (json_int_t)json_array_size(created), "updated",
	    updated, "unchanged", (json_int_t)(json_array_size(tools) -
	    json_array_size(created) - (size_t)updated), "removed", n,
	    "created_tools", created);
	rec = json_pack("{s:I, s:i, s:i}", "created",
	    (json_int_t)json_array_size(created), "updated", updated,
	    "removed", n);
	json_decref(created);
	return (store_finish(conn, rq->changes, rq->actor, 0, "tools.import",
	    "McpServer", rq->key, rec, err) == STORE_OK ? 0 : -1);
}

/* Reads the rule fields the body sets over r, validating each. */
static int
rule_parse(PGconn *conn, int64_t dir, const json_t *body, struct rule_in *r,
    struct store_err *err)
{
	json_t		*subj, *v;
	const char	*kind, *name, *s;
	int		 set;

	if ((subj = json_object_get(body, "subject")) != NULL) {
		if (json_is_string(subj) && strcmp(json_string_value(subj),
		    "everyone") == 0) {
			rc_strlcpy(r->kind, "everyone", sizeof(r->kind));
			r->subject[0] = '\0';
		} else {
			kind = json_string_value(json_object_get(subj, "kind"));
			if (kind == NULL)
				kind = json_string_value(json_object_get(subj,
				    "type"));
			if (kind == NULL || (strcmp(kind, "group") != 0 &&
			    strcmp(kind, "user") != 0 && strcmp(kind,
			    "service_principal") != 0 && strcmp(kind,
			    "everyone") != 0))
				return (store_err_set(err, 400,
				    "invalid_subject", "'subject' must be "
				    "\"everyone\" or {\"kind\": "
				    "\"group\"|\"user\"|\"service_principal\"|"
				    "\"everyone\", \"id\" or \"name\"}"));
			if (strcmp(kind, "everyone") == 0) {
				rc_strlcpy(r->kind, kind, sizeof(r->kind));
				r->subject[0] = '\0';
			} else {
				name = json_string_value(json_object_get(subj,
				    "id"));
				if (name == NULL)
					name = json_string_value(
					    json_object_get(subj, "name"));
				if (resolve(conn, dir, kind, name, r->kind,
				    r->subject, err) == -1)
					return (-1);
			}
		}
	}
	if ((v = json_object_get(body, "server")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || (strcmp(s, "*") != 0 && !slug_ok(s)))
			return (store_err_set(err, 400, "invalid_server",
			    "'server' must be an MCP server slug or \"*\""));
		rc_strlcpy(r->server, s, sizeof(r->server));
	}
	if ((v = json_object_get(body, "selector")) == NULL)
		v = json_object_get(body, "tool");
	if (v != NULL) {
		s = json_string_value(v);
		if (!token_ok(s, POLICY_SELECTOR_MAX) ||
		    strcmp(s, "risk:") == 0 || strcmp(s, "label:") == 0 ||
		    s[strlen(s) - 1] == ':')
			return (store_err_set(err, 400, "invalid_selector",
			    "'selector' must be a tool name, a glob "
			    "(delete_*), risk:X or label:X, up to %d "
			    "characters without spaces", POLICY_SELECTOR_MAX));
		rc_strlcpy(r->selector, s, sizeof(r->selector));
	}
	if ((v = json_object_get(body, "effect")) != NULL) {
		s = json_string_value(v);
		if (s == NULL || (strcmp(s, "allow") != 0 &&
		    strcmp(s, "deny") != 0 && strcmp(s, "elevate") != 0))
			return (store_err_set(err, 400, "invalid_effect",
			    "'effect' must be allow, deny or elevate"));
		rc_strlcpy(r->effect, s, sizeof(r->effect));
	}
	if ((v = json_object_get(body, "max_grant_s")) != NULL) {
		if (json_is_null(v))
			r->max_grant_s = 0;
		else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 366LL * 86400)
			return (store_err_set(err, 400, "invalid_max_grant",
			    "'max_grant_s' must be 1 to 31622400 seconds, or "
			    "null"));
		else
			r->max_grant_s = json_integer_value(v);
	}
	if (opt_text(body, "description", 4096, &s, &set, err) == -1)
		return (-1);
	if (set) {
		r->description = s;
		r->has_description = 1;
	}

	if (r->kind[0] == '\0' || r->server[0] == '\0' ||
	    r->selector[0] == '\0' || r->effect[0] == '\0')
		return (store_err_set(err, 400, "invalid_request", "a rule "
		    "needs 'subject', 'server', 'selector' and 'effect'"));
	if (r->max_grant_s != 0 && strcmp(r->effect, "elevate") != 0)
		return (store_err_set(err, 400, "invalid_max_grant",
		    "'max_grant_s' applies to elevate rules only"));

	return (0);
}

static int
rule_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	struct rule_in	 r;
	PGresult	*res;
	const char	*p[10];
	char		 d[24], maxg[24], fdir[24];
	const char	*server, *subject;
	json_t		*rec;
	int64_t		 dir = 0;
	long long	 ll;
	int		 rc;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op != PA_LIST && rq->op != PA_CREATE && !rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no rule '%.64s'",
		    rq->key));
	switch (rq->op) {
	case PA_LIST:
		server = json_string_value(json_object_get(rq->query,
		    "server"));
		subject = json_string_value(json_object_get(rq->query,
		    "subject"));
		if (subject != NULL && !rc_is_uuid(subject))
			return (store_err_set(err, 400, "invalid_request",
			    "'subject' must be a subject id"));
		p[0] = d;
		p[1] = server;
		p[2] = subject;
		return (list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.id), '[]')::text FROM (SELECT r.id, " RULE_JSON
		    "::json AS j FROM rules r WHERE " IN_DIR("r.directory_id",
		    "1") " AND ($2::text IS NULL OR r.server_slug = $2) AND "
		    "($3::uuid IS NULL OR r.subject_id = $3::uuid) ORDER BY "
		    "r.id LIMIT 5000) x", 3, p, out, err));
	case PA_GET:
		p[0] = d;
		p[1] = rq->key;
		rc = one(conn, "SELECT " RULE_JSON " FROM rules r WHERE r.id = "
		    "$2::uuid AND " IN_DIR("r.directory_id", "1"), 2, p, out,
		    NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_DELETE:
		if (store_begin(conn, err) == -1)
			return (-1);
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "DELETE FROM rules r WHERE r.id = "
		    "$2::uuid AND " IN_DIR("r.directory_id", "1") " RETURNING "
		    "json_build_object('kind', 'rule', 'id', r.id, "
		    "'directory_id', r.directory_id, 'deleted', true)::text, "
		    "r.directory_id, r.subject_kind, r.subject_id", 2, p, &res,
		    err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		queue(rq, col_json(res, 0, 0));
		(void)rc_parse_int(PQgetvalue(res, 0, 1), 1, INT64_MAX, &ll);
		dir = ll;
		store_changes_revoke(rq->changes, dir, "rule.changed",
		    strcmp(PQgetvalue(res, 0, 2), "user") == 0 ||
		    strcmp(PQgetvalue(res, 0, 2), "service_principal") == 0 ?
		    PQgetvalue(res, 0, 3) : NULL, json_pack("{s:s, s:s}",
		    "cause", "rule_deleted", "rule_id", rq->key));
		PQclear(res);
		return (store_finish(conn, rq->changes, rq->actor, dir,
		    "rule.delete", "Rule", rq->key, NULL, err) == STORE_OK ?
		    0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on rules"));
	}

	memset(&r, 0, sizeof(r));
	if (store_begin(conn, err) == -1)
		return (-1);
	if (rq->op == PA_CREATE) {
		if (write_dir(conn, rq, &dir, err) == -1)
			return (-1);
	} else {
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "SELECT r.directory_id, r.subject_kind, "
		    "r.subject_id, r.server_slug, r.tool_selector, r.effect, "
		    "r.max_grant_s, r.description FROM rules r WHERE r.id = "
		    "$2::uuid AND " IN_DIR("r.directory_id", "1") " FOR UPDATE",
		    2, p, &res, err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		(void)rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &ll);
		dir = ll;
		rc_strlcpy(r.kind, PQgetvalue(res, 0, 1), sizeof(r.kind));
		rc_strlcpy(r.subject, PQgetvalue(res, 0, 2), sizeof(r.subject));
		rc_strlcpy(r.server, PQgetvalue(res, 0, 3), sizeof(r.server));
		rc_strlcpy(r.selector, PQgetvalue(res, 0, 4),
		    sizeof(r.selector));
		rc_strlcpy(r.effect, PQgetvalue(res, 0, 5), sizeof(r.effect));
		if (!PQgetisnull(res, 0, 6))
			(void)rc_parse_int(PQgetvalue(res, 0, 6), 1, INT32_MAX,
			    &r.max_grant_s);
		PQclear(res);
		/* Description kept unless the body sets it (below). */
	}
	if (rule_parse(conn, dir, rq->body, &r, err) == -1)
		return (-1);
	if (strcmp(r.server, "*") != 0) {
		p[0] = r.server;
		if (store_exec(conn, "SELECT 1 FROM mcp_servers WHERE slug = "
		    "$1", 1, p, &res, err) == -1)
			return (-1);
		rc = PQntuples(res);
		PQclear(res);
		if (rc != 1) {
			return (store_err_set(err, 400, "invalid_server", "no "
			    "MCP server '%.64s' (use \"*\" for any server)",
			    r.server));
		}
	}

	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	(void)snprintf(maxg, sizeof(maxg), "%lld", r.max_grant_s);
	p[0] = fdir;
	p[1] = r.kind;
	p[2] = r.subject[0] ? r.subject : NULL;
	p[3] = r.server;
	p[4] = r.selector;
	p[5] = r.effect;
	p[6] = r.max_grant_s ? maxg : NULL;
	p[7] = r.description;
	p[8] = r.has_description ? "1" : "0";
	p[9] = rq->op == PA_CREATE ? rq->actor->name : rq->key;
	if (rq->op == PA_CREATE)
		rc = one(conn, "INSERT INTO rules AS r (directory_id, "
		    "subject_kind, subject_id, server_slug, tool_selector, "
		    "effect, max_grant_s, description, created_by) VALUES "
		    "($1::bigint, $2, $3::uuid, $4, $5, $6, $7::integer, $8, "
		    "$10) RETURNING " RULE_JSON ", " RULE_REC ", $9::text", 10,
		    p, out, &rec, err);
	else
		rc = one(conn, "UPDATE rules r SET subject_kind = $2, "
		    "subject_id = $3::uuid, server_slug = $4, tool_selector = "
		    "$5, effect = $6, max_grant_s = $7::integer, description = "
		    "CASE WHEN $9 = '1' THEN $8 ELSE r.description END, "
		    "version = r.version + 1, updated_at = now() WHERE r.id = "
		    "$10::uuid AND r.directory_id = $1::bigint RETURNING "
		    RULE_JSON ", " RULE_REC, 10, p, out, &rec, err);
	if (rc != 1) {
		if (rc == 0) {
			return (store_err_set(err, 404, "not_found", "no rule "
			    "'%.64s'", rq->key));
		}
		return (-1);
	}
	queue(rq, rec);
	/* A deny, or any edit, can take access away. */
	if (rq->op == PA_UPDATE || strcmp(r.effect, "deny") == 0)
		store_changes_revoke(rq->changes, dir, "rule.changed",
		    strcmp(r.kind, "user") == 0 || strcmp(r.kind,
		    "service_principal") == 0 ? r.subject : NULL,
		    json_pack("{s:s, s:s}", "cause", rq->op == PA_CREATE ?
		    "rule_created" : "rule_updated", "rule_id",
		    json_string_value(json_object_get(*out, "id"))));
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    rq->op == PA_CREATE ? "rule.create" : "rule.update", "Rule",
	    json_string_value(json_object_get(*out, "id")), json_incref(*out),
	    err) == STORE_OK ? 0 : -1);
}

/* Locks a grant of the actor's directory; fills its state and directory. */
static int
grant_lock(PGconn *conn, struct policy_admin_req *rq, char *state,
    int64_t *dir, struct store_err *err)
{
	PGresult	*res;
	const char	*p[2];
	char		 d[24];
	long long	 ll;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	p[0] = d;
	p[1] = rq->key;
	if (store_exec(conn, "SELECT g.state, g.directory_id FROM jit_grants "
	    "g WHERE g.id = $2::uuid AND " IN_DIR("g.directory_id", "1")
	    " FOR UPDATE", 2, p, &res, err) == -1)
		return (-1);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return (store_err_set(err, 404, "not_found", "no grant '%.64s'",
		    rq->key));
	}
	rc_strlcpy(state, PQgetvalue(res, 0, 0), 16);
	(void)rc_parse_int(PQgetvalue(res, 0, 1), 1, INT64_MAX, &ll);
	*dir = ll;
	PQclear(res);

	return (0);
}

static int
grant_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	const char	*p[3], *action, *sql, *principal;
	char		 d[24], state[16];
	json_t		*rec;
	int64_t		 dir = 0;
	int		 rc;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op == PA_CREATE)
		return (grant_request(conn, rq, out, err));
	if (rq->op == PA_LIST) {
		p[0] = d;
		p[1] = json_string_value(json_object_get(rq->query, "state"));
		p[2] = json_string_value(json_object_get(rq->query,
		    "principal"));
		if (p[2] != NULL && !rc_is_uuid(p[2]))
			return (store_err_set(err, 400, "invalid_request",
			    "'principal' must be a principal id"));
		return (list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.created_at DESC, x.id), '[]')::text FROM (SELECT g.id, "
		    "g.created_at, " GRANT_JSON "::json AS j FROM jit_grants g "
		    "WHERE " IN_DIR("g.directory_id", "1") " AND ($2::text IS "
		    "NULL OR g.state = $2 OR ($2 = 'active' AND g.state = "
		    "'approved' AND now() >= g.not_before AND now() < "
		    "g.expires_at)) AND ($3::uuid IS NULL OR g.principal_id = "
		    "$3::uuid) ORDER BY g.created_at DESC, g.id LIMIT 5000) x",
		    3, p, out, err));
	}
	if (!rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no grant '%.64s'",
		    rq->key));
	if (rq->op == PA_GET) {
		p[0] = d;
		p[1] = rq->key;
		rc = one(conn, "SELECT " GRANT_JSON " FROM jit_grants g WHERE "
		    "g.id = $2::uuid AND " IN_DIR("g.directory_id", "1"), 2, p,
		    out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no grant "
			    "'%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	}

	if (store_begin(conn, err) == -1)
		return (-1);
	if (grant_lock(conn, rq, state, &dir, err) == -1)
		return (-1);
	switch (rq->op) {
	case PA_APPROVE:
		if (strcmp(state, "requested") != 0)
			goto badstate;
		action = "grant.approve";
		sql = "UPDATE jit_grants g SET state = 'approved', approved_by "
		    "= $2, updated_at = now() WHERE g.id = $1::uuid AND "
		    "g.expires_at > now() RETURNING " GRANT_JSON ", " GRANT_REC;
		break;
	case PA_DENY:
		if (strcmp(state, "requested") != 0)
			goto badstate;
		action = "grant.deny";
		sql = "UPDATE jit_grants g SET state = 'denied', approved_by = "
		    "$2, updated_at = now() WHERE g.id = $1::uuid RETURNING "
		    GRANT_JSON ", NULL";
		break;
	case PA_ACTIVATE:
		if (strcmp(state, "approved") != 0)
			goto badstate;
		action = "grant.activate";
		/* Starts now; keeps its length (validated at request). */
		sql = "UPDATE jit_grants g SET expires_at = now() + "
		    "(g.expires_at - g.not_before), not_before = now(), "
		    "updated_at = now() WHERE g.id = $1::uuid AND g.not_before "
		    "> now() RETURNING " GRANT_JSON ", " GRANT_REC;
		break;
	case PA_REVOKE:
		if (strcmp(state, "requested") != 0 &&
		    strcmp(state, "approved") != 0)
			goto badstate;
		action = "grant.revoke";
		sql = "UPDATE jit_grants g SET state = 'revoked', updated_at = "
		    "now() WHERE g.id = $1::uuid RETURNING " GRANT_JSON ", "
		    GRANT_REC;
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on grants"));
	}
	p[0] = rq->key;
	p[1] = rq->actor->name;
	rc = one(conn, sql, rq->op == PA_APPROVE || rq->op == PA_DENY ? 2 : 1,
	    p, out, &rec, err);
	if (rc != 1) {
		if (rc == -1)
			return (-1);
		return (store_err_set(err, 409, "invalid_state",
		    rq->op == PA_APPROVE ? "the grant's window has already "
		    "ended" : "the grant has already started"));
	}
	principal = json_string_value(json_object_get(json_object_get(*out,
	    "principal"), "id"));
	if (rq->op != PA_DENY && !(rq->op == PA_REVOKE &&
	    strcmp(state, "requested") == 0))
		queue(rq, rec);
	else
		json_decref(rec);
	if (rq->op == PA_REVOKE && strcmp(state, "approved") == 0)
		store_changes_revoke(rq->changes, dir, "grant.revoked",
		    principal, json_pack("{s:s, s:O, s:O}", "grant_id", rq->key,
		    "server", json_object_get(*out, "server"), "selector",
		    json_object_get(*out, "selector")));
	return (store_finish(conn, rq->changes, rq->actor, dir, action,
	    "Grant", rq->key, json_pack("{s:s, s:O}", "from", state, "to",
	    json_object_get(*out, "state")), err) == STORE_OK ? 0 : -1);

badstate:
	return (store_err_set(err, 409, "invalid_state", "a %s grant cannot be "
	    "%s", state, rq->op == PA_APPROVE ? "approved" : rq->op ==
	    PA_DENY ? "denied" : rq->op == PA_ACTIVATE ? "activated" :
	    "revoked"));
}

/*
 * 1 when the elevate rule (server rsrv, selector rsel) covers a grant of
 * gsel on gsrv: the same selector, "*", or, for a grant of one tool,
 * what the policy core says about that tool.
 */
static int
rule_covers(PGconn *conn, const char *rsrv, const char *rsel,
    const char *gsrv, const char *gsel, struct store_err *err)
{
	struct policy_index	*idx;
	struct policy_user	 u;
	struct policy_tool	 t;
	struct policy_rule	 r;
	struct policy_result	 res;
	struct policy_subject	 subj;
	struct policy_err	 perr;
	PGresult		*pg;
	const char		*p[2], *labels[POLICY_LIST_MAX];
	json_t			*lv, *l;
	size_t			 i;
	int			 covers;

	if (strcmp(rsrv, "*") != 0 && strcmp(rsrv, gsrv) != 0)
		return (0);
	if (strcmp(rsel, gsel) == 0 || strcmp(rsel, "*") == 0)
		return (1);
	if (strcmp(gsrv, "*") == 0 || strpbrk(gsel, "*?:") != NULL)
		return (0);

	p[0] = gsrv;
	p[1] = gsel;
	if (store_exec(conn, "SELECT t.risk, array_to_json(t.labels)::text "
	    "FROM tools t JOIN mcp_servers s ON s.id = t.server_id WHERE "
	    "s.slug = $1 AND t.name = $2", 2, p, &pg, err) == -1)
		return (-1);
	if (PQntuples(pg) != 1) {
		PQclear(pg);
		return (0);
	}
	lv = json_loads(PQgetvalue(pg, 0, 1), 0, NULL);
	memset(&t, 0, sizeof(t));
	t.server = gsrv;
	t.name = gsel;
	t.risk = PQgetvalue(pg, 0, 0);
	json_array_foreach(lv, i, l) {
		if (t.nlabels < POLICY_LIST_MAX && json_is_string(l))
			labels[t.nlabels++] = json_string_value(l);
	}
	t.labels = labels;

	covers = 0;
	memset(&perr, 0, sizeof(perr));
	memset(&u, 0, sizeof(u));
	u.id = "probe";
	u.directory = "0";
	u.user_name = "probe";
	u.active = 1;
	memset(&r, 0, sizeof(r));
	r.id = "probe-rule";
	r.subject_kind = POLICY_SUBJECT_EVERYONE;
	r.server = rsrv;
	r.tool = rsel;
	r.effect = POLICY_EFFECT_ELEVATE;
	memset(&subj, 0, sizeof(subj));
	subj.by = POLICY_BY_ID;
	subj.value = "probe";
	if ((idx = policy_new()) != NULL &&
	    policy_user_upsert(idx, &u, &perr) == 0 &&
	    policy_server_upsert(idx, gsrv, &perr) == 0 &&
	    policy_tool_upsert(idx, &t, &perr) == 0 &&
	    policy_rule_upsert(idx, &r, &perr) == 0) {
		(void)policy_evaluate(idx, &subj, gsrv, gsel, 0, &res);
		covers = res.reason == POLICY_R_ELEVATION_REQUIRED;
	}
	policy_free(idx);
	json_decref(lv);
	PQclear(pg);

	return (covers);
}

static int
grant_request(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	json_t		*pv, *v;
	const char	*p[12], *server, *sel, *reason, *ticket, *nb, *ex;
	const char	*kind, *name, *rule_id;
	char		 pkind[24], pid[40], fdir[24], dur[24], nbms[24];
	char		 exms[24], rid[40];
	long long	 nb_ms, ex_ms, now_ms, max_s, dur_s;
	int64_t		 dir = 0;
	int		 i, n, c, set;

	server = json_string_value(json_object_get(rq->body, "server"));
	if ((sel = json_string_value(json_object_get(rq->body,
	    "selector"))) == NULL)
		sel = json_string_value(json_object_get(rq->body, "tool"));
	if (server == NULL || (strcmp(server, "*") != 0 && !slug_ok(server)))
		return (store_err_set(err, 400, "invalid_server", "'server' "
		    "must be an MCP server slug"));
	if (!token_ok(sel, POLICY_SELECTOR_MAX))
		return (store_err_set(err, 400, "invalid_selector", "'tool' "
		    "(or 'selector') must name the tool(s) the grant covers"));
	reason = NULL;
	if (opt_text(rq->body, "reason", 1024, &reason, &set, err) == -1)
		return (-1);
	if (!set || reason == NULL || *reason == '\0')
		return (store_err_set(err, 400, "invalid_reason",
		    "'reason' is required (why the elevation is needed)"));
	ticket = NULL;
	if (opt_text(rq->body, "ticket", 256, &ticket, &set, err) == -1 ||
	    opt_text(rq->body, "not_before", 64, &nb, &set, err) == -1)
		return (-1);
	if (!set)
		nb = NULL;
	if (opt_text(rq->body, "expires_at", 64, &ex, &set, err) == -1)
		return (-1);
	if (!set)
		ex = NULL;
	dur[0] = '\0';
	if ((v = json_object_get(rq->body, "duration_s")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 366LL * 86400 || ex != NULL)
			return (store_err_set(err, 400, "invalid_duration",
			    "give either 'expires_at' or 'duration_s' (1 to "
			    "31622400 seconds)"));
		(void)snprintf(dur, sizeof(dur), "%lld",
		    (long long)json_integer_value(v));
	}
	if (ex == NULL && dur[0] == '\0')
		return (store_err_set(err, 400, "invalid_duration", "a grant "
		    "needs 'expires_at' or 'duration_s'"));
	rule_id = json_string_value(json_object_get(rq->body, "rule_id"));
	if (rule_id != NULL && !rc_is_uuid(rule_id))
		return (store_err_set(err, 400, "invalid_rule", "'rule_id' "
		    "must be a rule id"));

	if (store_begin(conn, err) == -1)
		return (-1);
	if (write_dir(conn, rq, &dir, err) == -1)
		return (-1);
	pv = json_object_get(rq->body, "principal");
	kind = "";
	name = json_string_value(pv);
	if (json_is_object(pv)) {
		kind = json_string_value(json_object_get(pv, "kind"));
		if (kind == NULL)
			kind = json_string_value(json_object_get(pv, "type"));
		name = json_string_value(json_object_get(pv, "id"));
		if (kind == NULL || (strcmp(kind, "user") != 0 &&
		    strcmp(kind, "service_principal") != 0)) {
			return (store_err_set(err, 400, "invalid_principal",
			    "'principal' kind must be user or "
			    "service_principal"));
		}
	}
	if (resolve(conn, dir, kind, name, pkind, pid, err) == -1)
		return (-1);

	/* The window, computed by the database (it parses RFC 3339). */
	p[0] = nb;
	p[1] = ex;
	p[2] = dur[0] ? dur : NULL;
	if (store_exec(conn, "SELECT " MS("a.nb") ", " MS("coalesce($2::"
	    "timestamptz, a.nb + make_interval(secs => $3::double precision))")
	    ", " MS("now()") " FROM (SELECT coalesce($1::timestamptz, now()) "
	    "AS nb) a", 3, p, &res, err) == -1) {
		if (err->status == 400)
			return (store_err_set(err, 400, "invalid_time",
			    "'not_before' and 'expires_at' must be RFC 3339 "
			    "times"));
		return (-1);
	}
	(void)rc_parse_int(PQgetvalue(res, 0, 0), INT64_MIN, INT64_MAX, &nb_ms);
	(void)rc_parse_int(PQgetvalue(res, 0, 1), INT64_MIN, INT64_MAX, &ex_ms);
	(void)rc_parse_int(PQgetvalue(res, 0, 2), INT64_MIN, INT64_MAX,
	    &now_ms);
	PQclear(res);
	if (ex_ms <= nb_ms || ex_ms <= now_ms) {
		return (store_err_set(err, 400, "invalid_time", "the grant "
		    "must end after it starts, and in the future"));
	}
	dur_s = (ex_ms - nb_ms + 999) / 1000;

	/* The elevate rules that apply to this principal, lowest id first. */
	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	p[0] = fdir;
	p[1] = pid;
	p[2] = rule_id;
	if (store_exec(conn, "SELECT r.id, r.server_slug, r.tool_selector, "
	    "coalesce(r.max_grant_s, 0) FROM rules r WHERE r.directory_id = "
	    "$1::bigint AND r.effect = 'elevate' AND ($3::uuid IS NULL OR "
	    "r.id = $3::uuid) AND (r.subject_kind = 'everyone' OR "
	    "r.subject_id = $2::uuid OR (r.subject_kind = 'group' AND "
	    "EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = "
	    "r.subject_id AND m.user_id = $2::uuid))) ORDER BY r.id::text",
	    3, p, &res, err) == -1)
		return (-1);
	n = PQntuples(res);
	rid[0] = '\0';
	max_s = 0;
	for (i = 0; i < n; i++) {
		c = rule_covers(conn, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), server, sel, err);
		if (c == -1) {
			PQclear(res);
			return (-1);
		}
		if (c == 1) {
			rc_strlcpy(rid, PQgetvalue(res, i, 0), sizeof(rid));
			(void)rc_parse_int(PQgetvalue(res, i, 3), 0, INT32_MAX,
			    &max_s);
			break;
		}
	}
	PQclear(res);
	if (rid[0] == '\0') {
		return (store_err_set(err, 400, "no_elevate_rule", "no elevate "
		    "rule for this principal covers '%.64s' on '%.64s'", sel,
		    server));
	}
	if (max_s > 0 && dur_s > max_s) {
		return (store_err_set(err, 400, "duration_exceeds_max", "the "
		    "grant lasts %lld s; its elevate rule allows at most %lld "
		    "s", dur_s, max_s));
	}

	(void)snprintf(nbms, sizeof(nbms), "%lld", nb_ms);
	(void)snprintf(exms, sizeof(exms), "%lld", ex_ms);
	p[0] = fdir;
	p[1] = pkind;
	p[2] = pid;
	p[3] = server;
	p[4] = sel;
	p[5] = rid;
	p[6] = nbms;
	p[7] = exms;
	p[8] = reason;
	p[9] = ticket;
	p[10] = rq->actor->name;
	if (one(conn, "INSERT INTO jit_grants AS g (directory_id, "
	    "principal_kind, principal_id, server_slug, tool_selector, "
	    "rule_id, state, not_before, expires_at, reason, ticket, "
	    "requested_by) VALUES ($1::bigint, $2, $3::uuid, $4, $5, "
	    "$6::uuid, 'requested', to_timestamp($7::bigint / 1000.0), "
	    "to_timestamp($8::bigint / 1000.0), $9, $10, $11) RETURNING "
	    GRANT_JSON, 11, p, out, NULL, err) != 1)
		return (-1);
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    "grant.request", "Grant", json_string_value(json_object_get(*out,
	    "id")), json_incref(*out), err) == STORE_OK ? 0 : -1);
}

static int
sp_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	PGresult	*res;
	const char	*p[9], *name, *app, *owner;
	char		 d[24], fdir[24], okind[24], oid[40];
	json_t		*rec, *v;
	int64_t		 dir = 0;
	long long	 ll;
	int		 has_name, has_app, has_owner, rc, was_active, active;

	(void)snprintf(d, sizeof(d), "%lld",
	    (long long)rq->actor->directory_id);
	if (rq->op != PA_LIST && rq->op != PA_CREATE && !rc_is_uuid(rq->key))
		return (store_err_set(err, 404, "not_found", "no service "
		    "principal '%.64s'", rq->key));
	switch (rq->op) {
	case PA_LIST:
		p[0] = d;
		return (list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.name, x.id), '[]')::text FROM (SELECT p.id, p.name, "
		    SP_JSON "::json AS j FROM service_principals p WHERE "
		    "p.deleted_at IS NULL AND " IN_DIR("p.directory_id", "1")
		    " ORDER BY p.name, p.id LIMIT 5000) x", 1, p, out, err));
	case PA_GET:
		p[0] = d;
		p[1] = rq->key;
		rc = one(conn, "SELECT " SP_JSON " FROM service_principals p "
		    "WHERE p.id = $2::uuid AND p.deleted_at IS NULL AND "
		    IN_DIR("p.directory_id", "1"), 2, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_CREATE:
	case PA_UPDATE:
	case PA_DELETE:
		break;
	default:
		return (store_err_set(err, 405, "method_not_allowed",
		    "not supported on service principals"));
	}

	has_owner = 0;
	owner = NULL;
	active = -1;
	if (rq->op != PA_DELETE) {
		if (opt_text(rq->body, "name", 256, &name, &has_name,
		    err) == -1)
			return (-1);
		if ((v = json_object_get(rq->body, "app_id")) == NULL)
			v = json_object_get(rq->body, "appId");
		has_app = v != NULL;
		app = json_string_value(v);
		if ((has_name && (name == NULL || *name == '\0')) ||
		    (has_app && !token_ok(app, 256)))
			return (store_err_set(err, 400, "invalid_request",
			    "'name' (1-256 characters) and 'app_id' (the Entra "
			    "application id, no spaces) must be strings"));
		if (rq->op == PA_CREATE && (!has_name || !has_app))
			return (store_err_set(err, 400, "invalid_request", "a "
			    "service principal needs 'name' and 'app_id'"));
		if ((v = json_object_get(rq->body, "active")) != NULL) {
			if (!json_is_boolean(v))
				return (store_err_set(err, 400,
				    "invalid_request", "'active' must be true "
				    "or false"));
			active = json_is_true(v);
		}
		if ((v = json_object_get(rq->body, "owner")) != NULL) {
			has_owner = 1;
			if (!json_is_null(v) && !json_is_string(v))
				return (store_err_set(err, 400, "invalid_owner",
				    "'owner' must be a user id, a userName, or "
				    "null"));
			owner = json_string_value(v);
		}
	} else {
		name = app = NULL;
		has_name = has_app = 0;
	}

	if (store_begin(conn, err) == -1)
		return (-1);
	was_active = 1;
	if (rq->op == PA_CREATE) {
		if (write_dir(conn, rq, &dir, err) == -1)
			return (-1);
	} else {
		p[0] = d;
		p[1] = rq->key;
		if (store_exec(conn, "SELECT p.directory_id, p.active FROM "
		    "service_principals p WHERE p.id = $2::uuid AND "
		    "p.deleted_at IS NULL AND " IN_DIR("p.directory_id", "1")
		    " FOR UPDATE", 2, p, &res, err) == -1)
			return (-1);
		if (PQntuples(res) != 1) {
			PQclear(res);
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		}
		(void)rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &ll);
		dir = ll;
		was_active = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		PQclear(res);
	}
	if (owner != NULL) {
		if (resolve(conn, dir, "user", owner, okind, oid, err) == -1) {
			return (store_err_set(err, 400, "invalid_owner", "no "
			    "user '%.128s' in this directory", owner));
		}
		owner = oid;
	}

	(void)snprintf(fdir, sizeof(fdir), "%lld", (long long)dir);
	p[0] = fdir;
	p[1] = name;
	p[2] = app;
	p[3] = owner;
	p[4] = active == -1 ? NULL : active ? "true" : "false";
	p[5] = has_name ? "1" : "0";
	p[6] = has_app ? "1" : "0";
	p[7] = has_owner ? "1" : "0";
	p[8] = rq->key;
	if (rq->op == PA_CREATE)
		rc = one(conn, "INSERT INTO service_principals AS p "
		    "(directory_id, name, app_id, owner_user_id, active) "
		    "SELECT $1::bigint, $2, $3, $4::uuid, coalesce($5::boolean,"
		    " true) WHERE $6 || $7 || $8 IS NOT NULL AND $9::text IS "
		    "NULL RETURNING " SP_JSON ", " SP_REC, 9, p, out, &rec,
		    err);
	else if (rq->op == PA_UPDATE)
		rc = one(conn, "UPDATE service_principals p SET name = CASE "
		    "WHEN $6 = '1' THEN $2 ELSE p.name END, app_id = CASE WHEN "
		    "$7 = '1' THEN $3 ELSE p.app_id END, owner_user_id = CASE "
		    "WHEN $8 = '1' THEN $4::uuid ELSE p.owner_user_id END, "
		    "active = coalesce($5::boolean, p.active), updated_at = "
		    "now() WHERE p.id = $9::uuid AND p.directory_id = "
		    "$1::bigint RETURNING " SP_JSON ", " SP_REC, 9, p, out,
		    &rec, err);
	else
		rc = one(conn, "UPDATE service_principals p SET deleted_at = "
		    "now(), active = false, updated_at = now() WHERE p.id = "
		    "$9::uuid AND p.directory_id = $1::bigint AND $2::text IS "
		    "NULL AND $3::text IS NULL AND $4::uuid IS NULL AND "
		    "$5::boolean IS NULL AND $6 || $7 || $8 IS NOT NULL "
		    "RETURNING " SP_JSON ", " SP_REC, 9, p, out, &rec, err);
	if (rc != 1) {
		if (rc == 0) {
			return (store_err_set(err, 404, "not_found", "no "
			    "service principal '%.64s'", rq->key));
		}
		if (err->status == 409) {
			return (store_err_set(err, 409, "conflict", "another "
			    "service principal in this directory has app_id "
			    "'%.128s'", app ? app : ""));
		}
		return (-1);
	}
	queue(rq, rec);
	if (rq->op == PA_DELETE)
		store_changes_revoke(rq->changes, dir, "principal.revoked",
		    rq->key, json_pack("{s:s}", "cause", "deleted"));
	else if (rq->op == PA_UPDATE && ((was_active && active == 0) ||
	    has_owner || has_app))
		store_changes_revoke(rq->changes, dir, "principal.suspended",
		    rq->key, json_pack("{s:s}", "cause", active == 0 ?
		    "disabled" : "changed"));
	if (rq->op == PA_DELETE) {
		json_decref(*out);
		*out = NULL;
	}
	return (store_finish(conn, rq->changes, rq->actor, dir,
	    rq->op == PA_CREATE ? "sp.create" : rq->op == PA_UPDATE ?
	    "sp.update" : "sp.delete", "ServicePrincipal", rq->key ? rq->key :
	    json_string_value(json_object_get(*out, "id")), rq->body ?
	    json_deep_copy(rq->body) : NULL, err) == STORE_OK ? 0 : -1);
}

/* One run of policy_admin_expire_grants (store_txn_run). */
struct expiry {
	const struct store_actor	*actor;
	struct store_changes		*changes;
	int				*count;
	struct store_err		*err;
};

static enum store_outcome
expiry_run(PGconn *conn, void *arg)
{
	struct expiry	*a = arg;
	PGresult	*res;
	json_t		*ids;
	long long	 dir;
	int		 i, n;

	store_changes_reset(a->changes);
	*a->count = 0;
	if (store_begin(conn, a->err) == -1)
		return (a->err->outcome);
	/* SKIP LOCKED: other instances run this too. */
	if (store_exec(conn, "WITH due AS (SELECT id FROM jit_grants WHERE "
	    "state = 'approved' AND expires_at <= now() ORDER BY expires_at "
	    "LIMIT 500 FOR UPDATE SKIP LOCKED) UPDATE jit_grants g SET state "
	    "= 'expired', updated_at = now() FROM due WHERE g.id = due.id "
	    "RETURNING " GRANT_REC ", g.directory_id, g.principal_id, g.id, "
	    "g.server_slug, g.tool_selector", 0, NULL, &res, a->err) == -1) {
		store_rollback(conn);
		return (a->err->outcome);
	}
	n = PQntuples(res);
	if (n == 0) {
		/* Nothing due: no version, no audit entry. */
		PQclear(res);
		store_rollback(conn);
		return (STORE_OK);
	}
	ids = json_array();
	for (i = 0; i < n; i++) {
		store_changes_add(a->changes, col_json(res, i, 0));
		(void)rc_parse_int(PQgetvalue(res, i, 1), 1, INT64_MAX, &dir);
		store_changes_revoke(a->changes, dir, "grant.expired",
		    PQgetvalue(res, i, 2), json_pack("{s:s, s:s, s:s}",
		    "grant_id", PQgetvalue(res, i, 3), "server",
		    PQgetvalue(res, i, 4), "selector", PQgetvalue(res, i, 5)));
		(void)json_array_append_new(ids,
		    json_string(PQgetvalue(res, i, 3)));
	}
	PQclear(res);
	*a->count = n;

	return (store_finish(conn, a->changes, a->actor, 0, "grant.expire",
	    "Grant", NULL, json_pack("{s:i, s:o}", "count", n, "grants", ids),
	    a->err));
}

int
policy_admin_expire_grants(PGconn *conn, const struct store_actor *actor,
    struct store_changes *changes, int *count, struct store_err *err)
{
	struct expiry	a;

	a.actor = actor;
	a.changes = changes;
	a.count = count;
	a.err = err;

	return (store_txn_run(conn, expiry_run, &a) == STORE_OK ? 0 : -1);
}
