/*
 * changes: see changes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "util.h"

/* NOTIFY payloads must stay under PostgreSQL's 8000 bytes. */
#define NOTIFY_INLINE_MAX	7000

void
store_changes_init(struct store_changes *c, const char *origin)
{
	memset(c, 0, sizeof(*c));
	c->records = json_array();
	c->revocations = json_array();
	rc_strlcpy(c->origin, origin ? origin : "", sizeof(c->origin));
}

void
store_changes_cleanup(struct store_changes *c)
{
	json_decref(c->records);
	json_decref(c->revocations);
	c->records = NULL;
	c->revocations = NULL;
}

void
store_changes_reset(struct store_changes *c)
{
	char	origin[sizeof(c->origin)];

	rc_strlcpy(origin, c->origin, sizeof(origin));
	store_changes_cleanup(c);
	store_changes_init(c, origin);
}

void
store_changes_add(struct store_changes *c, json_t *rec)
{
	if (rec != NULL)
		(void)json_array_append_new(c->records, rec);
}

void
store_changes_revoke(struct store_changes *c, int64_t directory_id,
    const char *kind, const char *principal, json_t *detail)
{
	json_t	*ev;

	ev = json_pack("{s:I, s:s, s:s?, s:o}", "directory_id",
	    (json_int_t)directory_id, "kind", kind, "principal", principal,
	    "detail", detail ? detail : json_object());
	if (ev != NULL)
		(void)json_array_append_new(c->revocations, ev);
}

int
store_changes_pending(const struct store_changes *c)
{
	return (json_array_size(c->records) > 0 ||
	    json_array_size(c->revocations) > 0);
}

int
store_changes_flush(PGconn *conn, struct store_changes *c,
    struct store_err *err)
{
	PGresult	*res;
	json_t		*ev, *rec, *epochs, *seen, *note;
	const char	*p[4], *principal;
	char		 version[24], *text, *payload;
	long long	 v;
	size_t		 i;

	if (!store_changes_pending(c))
		return (0);

	if (store_exec(conn, "UPDATE policy_state SET version = version + 1 "
	    "RETURNING version", 0, NULL, &res, err) == -1)
		return (-1);
	if (rc_parse_int(PQgetvalue(res, 0, 0), 1, INT64_MAX, &v) == -1) {
		PQclear(res);
		return (store_err_set(err, 500, "internal", "bad policy "
		    "version"));
	}
	PQclear(res);
	c->version = v;
	(void)snprintf(version, sizeof(version), "%lld", v);

	/* Taking access away moves the principal's epoch to this version. */
	epochs = json_array();
	seen = json_object();
	json_array_foreach(c->revocations, i, ev) {
		principal = json_string_value(json_object_get(ev, "principal"));
		if (principal == NULL || json_object_get(seen, principal))
			continue;
		(void)json_object_set_new(seen, principal, json_true());
		(void)json_array_append_new(epochs, json_pack("{s:s, s:s, "
		    "s:I}", "kind", "epoch", "principal", principal, "epoch",
		    (json_int_t)v));
	}
	json_decref(seen);
	(void)json_array_extend(c->records, epochs);
	json_decref(epochs);

	/* Every version has a record, so readers can tell a gap. */
	if (json_array_size(c->records) == 0)
		(void)json_array_append_new(c->records,
		    json_pack("{s:s}", "kind", "version"));
	/* (version, seq) orders records of one commit for the index. */
	json_array_foreach(c->records, i, rec) {
		(void)json_object_set_new(rec, "version", json_integer(v));
		(void)json_object_set_new(rec, "seq",
		    json_integer((json_int_t)i));
	}

	/* One statement per table: the arrays travel as JSON parameters. */
	text = json_dumps(c->records, JSON_COMPACT);
	p[0] = version;
	p[1] = c->origin;
	p[2] = text ? text : "[]";
	if (store_exec(conn, "INSERT INTO policy_changes (version, idx, "
	    "origin, record) SELECT $1::bigint, r.ord - 1, $2, r.value "
	    "FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS "
	    "r(value, ord)", 3, p, NULL, err) == -1) {
		free(text);
		return (-1);
	}
	free(text);

	if (json_array_size(c->revocations) > 0) {
		text = json_dumps(c->revocations, JSON_COMPACT);
		p[1] = text ? text : "[]";
		if (store_exec(conn, "INSERT INTO revocation_events "
		    "(policy_version, idx, directory_id, kind, principal_id, "
		    "detail) SELECT $1::bigint, r.ord - 1, "
		    "NULLIF((r.value->>'directory_id')::bigint, 0), "
		    "r.value->>'kind', (r.value->>'principal')::uuid, "
		    "r.value->'detail' FROM jsonb_array_elements($2::jsonb) "
		    "WITH ORDINALITY AS r(value, ord)", 2, p, NULL, err) == -1) {
			free(text);
			return (-1);
		}
		free(text);
	}

	/* Small batches ride in the notification; big ones are read back. */
	text = json_dumps(c->records, JSON_COMPACT);
	note = json_pack("{s:s, s:s, s:I}", "kind", "changes", "origin",
	    c->origin, "version", (json_int_t)v);
	if (note != NULL && text != NULL && strlen(text) < NOTIFY_INLINE_MAX)
		(void)json_object_set(note, "records", c->records);
	payload = note ? json_dumps(note, JSON_COMPACT) : NULL;
	json_decref(note);
	free(text);
	if (payload == NULL) {
		return (store_err_set(err, 500, "internal", "out of memory"));
	}
	p[0] = payload;
	if (store_exec(conn, "SELECT pg_notify('rollcall', $1)", 1, p, NULL,
	    err) == -1) {
		free(payload);
		return (-1);
	}
	free(payload);

	return (0);
}
