/*
 * policy_admin_catalog: MCP servers and their tools, shared by every
 * directory (policy_admin_impl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "policy_admin_impl.h"
#include "util.h"

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
		if (!pa_token_ok(json_string_value(l), 128))
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

int
pa_server_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
    struct store_err *err)
{
	const char	*p[7], *name, *url, *desc, *slug;
	int		 has_name, has_url, has_desc, rc;
	json_t		*rec;

	slug = rq->key;
	switch (rq->op) {
	case PA_LIST:
		return (pa_list(conn, "SELECT coalesce(json_agg(x.j ORDER BY "
		    "x.slug), '[]')::text FROM (SELECT s.slug, " SERVER_JSON
		    "::json AS j FROM mcp_servers s) x", 0, NULL, out, err));
	case PA_GET:
		p[0] = slug;
		rc = pa_one(conn, "SELECT " SERVER_JSON " FROM mcp_servers s "
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
		rc = pa_one(conn, "DELETE FROM mcp_servers s WHERE s.slug = $1 "
		    "RETURNING json_build_object('kind', 'server', 'slug', "
		    "s.slug, 'deleted', true)::text", 1, p, &rec, NULL, err);
		if (rc != 1) {
			if (rc == 0)
				return (store_err_set(err, 404, "not_found",
				    "no MCP server '%.64s'", slug));
			return (-1);
		}
		pa_queue(rq, rec);
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
	if (pa_opt_text(rq->body, "name", 256, &name, &has_name, err) == -1 ||
	    pa_opt_text(rq->body, "url", 2048, &url, &has_url, err) == -1 ||
	    pa_opt_text(rq->body, "description", 16384, &desc, &has_desc,
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
		if (!pa_slug_ok(slug))
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
		rc = pa_one(conn, "INSERT INTO mcp_servers AS s (slug, name, "
		    "url, description) VALUES ($1, $2, $3, $4) RETURNING "
		    SERVER_JSON ", " SERVER_REC, 4, p, out, &rec, err);
	else
		rc = pa_one(conn, "UPDATE mcp_servers s SET name = CASE WHEN "
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
	pa_queue(rq, rec);
	return (store_finish(conn, rq->changes, rq->actor, 0,
	    rq->op == PA_CREATE ? "server.create" : "server.update",
	    "McpServer", slug, json_deep_copy(rq->body), err) == STORE_OK ?
	    0 : -1);
}

int
pa_tool_op(PGconn *conn, struct policy_admin_req *rq, json_t **out,
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
		rc = pa_one(conn, "SELECT (SELECT coalesce(json_agg(" TOOL_JSON
		    "::json ORDER BY t.name), '[]') FROM tools t WHERE "
		    "t.server_id = s.id)::text FROM mcp_servers s WHERE "
		    "s.slug = $1", 1, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no MCP "
			    "server '%.64s'", rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_GET:
		rc = pa_one(conn, "SELECT " TOOL_JSON " FROM tools t JOIN "
		    "mcp_servers s ON s.id = t.server_id WHERE s.slug = $1 AND "
		    "t.name = $2", 2, p, out, NULL, err);
		if (rc == 0)
			return (store_err_set(err, 404, "not_found", "no tool "
			    "'%.128s' on '%.64s'", rq->sub, rq->key));
		return (rc == 1 ? 0 : -1);
	case PA_DELETE:
		if (global_only(rq, err) == -1 || store_begin(conn, err) == -1)
			return (-1);
		rc = pa_one(conn, "DELETE FROM tools t USING mcp_servers s "
		    "WHERE s.id = t.server_id AND s.slug = $1 AND t.name = $2 "
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
		pa_queue(rq, rec);
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
		if (!pa_token_ok(name, 128))
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
	if (pa_opt_text(rq->body, "description", 16384, &desc, &has_desc,
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
		rc = pa_one(conn, "INSERT INTO tools AS t (server_id, name, "
		    "description, risk, labels) SELECT s.id, $2, $3, "
		    "coalesce($5, 'normal'), coalesce(ARRAY(SELECT "
		    "jsonb_array_elements_text($6::jsonb)), '{}') FROM "
		    "mcp_servers s WHERE s.slug = $1 AND $4 IN ('0', '1') "
		    "RETURNING (SELECT " TOOL_JSON " FROM mcp_servers s WHERE "
		    "s.id = t.server_id), (SELECT " TOOL_REC " FROM "
		    "mcp_servers s WHERE s.id = t.server_id)", 6, p, out, &rec,
		    err);
	else
		rc = pa_one(conn, "UPDATE tools t SET description = CASE WHEN "
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
	pa_queue(rq, rec);
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
int
pa_tools_import(PGconn *conn, struct policy_admin_req *rq, json_t **out,
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
		if (!json_is_object(t) || !pa_token_ok(name, 128)) {
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
		pa_queue(rq, pa_col_json(res, k, 2));
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
			pa_queue(rq, pa_col_json(res, k, 0));
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
