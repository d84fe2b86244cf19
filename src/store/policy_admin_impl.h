/*
 * policy_admin_impl: what the policy_admin_*.c files share, private to
 * them (the public surface is policy_admin_store.h).
 *
 * policy_admin_store.c is the dispatcher (policy_admin_run: one
 * operation, run and rerun through the write protocol of store.h) and
 * the helpers below; each entity has its own file:
 *   policy_admin_catalog.c  MCP servers and their tools (global)
 *   policy_admin_rules.c    rules
 *   policy_admin_grants.c   just-in-time grants and their expiry
 *   policy_admin_sps.c      service principals
 *
 * An entity operation validates its input, then, for a write, begins,
 * locks and changes rows, queues change records (pa_queue) and ends
 * with store_finish().  On any failure it returns -1 with err set and
 * leaves whatever transaction it opened: policy_admin_run rolls it back
 * (and drops *out), so no path rolls back by hand.
 */
#ifndef RC_STORE_POLICY_ADMIN_IMPL_H
#define RC_STORE_POLICY_ADMIN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "policy_admin_store.h"

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
	"'subject', CASE WHEN r.subject_kind = 'role' THEN "		\
	"json_build_object('kind', 'role', 'value', r.subject_role) "	\
	"ELSE json_build_object('kind', r.subject_kind, 'id', "		\
	"r.subject_id) END, 'server', r.server_slug, 'selector', "	\
	"r.tool_selector, 'effect', r.effect, 'max_grant_s', "		\
	"r.max_grant_s, 'description', r.description, 'version', "	\
	"r.version, 'created_by', r.created_by, 'created_at', "		\
	TS("r.created_at") ", 'updated_at', " TS("r.updated_at") ")::text"
#define RULE_REC							\
	"json_build_object('kind', 'rule', 'id', r.id, 'directory_id', "\
	"r.directory_id, 'subject_kind', r.subject_kind, 'subject_id', "\
	"coalesce(r.subject_id::text, r.subject_role), 'server', "	\
	"r.server_slug, 'selector', "					\
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

/*
 * Objects and change records are built by PostgreSQL (the *_JSON and
 * *_REC expressions above) from the row a statement just wrote
 * (RETURNING), so the answer, the record every index applies and the
 * row cannot disagree.
 */

/* Column col of row as JSON (NULL when SQL NULL or unreadable). */
json_t	*pa_col_json(PGresult *, int row, int col);

/*
 * Runs a statement that yields at most one row of JSON text columns:
 * 1 with *a (and *b when not NULL) loaded, 0 when no row, -1 on error.
 */
int	 pa_one(PGconn *, const char *sql, int n, const char *const *p,
	    json_t **a, json_t **b, struct store_err *);

/* A statement that yields one JSON array as text, into *out. */
int	 pa_list(PGconn *, const char *sql, int n, const char *const *p,
	    json_t **out, struct store_err *);

/* Queues a change record (consumed; NULL is ignored). */
void	 pa_queue(struct policy_admin_req *, json_t *rec);

/* The directory a write lands in: the token's, or (global) the body's. */
int	 pa_write_dir(PGconn *, const struct policy_admin_req *, int64_t *dir,
	    struct store_err *);

/*
 * Resolves a principal or group named by id or name within dir.  kind
 * is "user", "service_principal", "group" or "" (a user or service
 * principal).  Fills kind_out (24 bytes) and id_out (40).  0, or -1
 * with 400.
 */
int	 pa_resolve(PGconn *, int64_t dir, const char *kind, const char *name,
	    char *kind_out, char *id_out, struct store_err *);

/*
 * An optional string member: absent leaves *set 0; null or a string of
 * at most max bytes sets *set (and *v, NULL for null); else 400.
 */
int	 pa_opt_text(const json_t *body, const char *key, size_t max,
	    const char **v, int *set, struct store_err *);

/* 1 when s is a server slug: 1-63 of a-z 0-9 '_' '-', not first. */
int	 pa_slug_ok(const char *s);

/*
 * 1 when s is 1-max printable bytes without spaces that the policy
 * index accepts (names, labels, selectors).
 */
int	 pa_token_ok(const char *s, size_t max);

/* The entity operations, each behind policy_admin_run. */
int	 pa_server_op(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);
int	 pa_tool_op(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);
int	 pa_tools_import(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);
int	 pa_rule_op(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);
int	 pa_grant_op(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);
int	 pa_sp_op(PGconn *, struct policy_admin_req *, json_t **,
	    struct store_err *);

#endif
