/*
 * idkey_store: see idkey_store.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idkey.h"
#include "idkey_store.h"
#include "util.h"

#define BACKFILL_ROWS	"1000"

int
idkey_store_user_keys(const json_t *doc, char **name_key, char **emails_key,
    char *what, size_t whatsz, const char **why)
{
	const json_t	*name, *e, *v;
	json_t		*keys;
	char		*k;
	size_t		 i;
	int		 rc;

	*name_key = *emails_key = NULL;
	*why = NULL;
	if ((keys = json_array()) == NULL)
		goto nomem;
	name = json_object_get(doc, "userName");
	if (json_is_string(name)) {
		if ((*name_key = idkey_dup(json_string_value(name), &rc)) ==
		    NULL) {
			(void)snprintf(what, whatsz, "userName");
			goto fail;
		}
	}
	json_array_foreach(json_object_get(doc, "emails"), i, e) {
		v = json_object_get(e, "value");
		if (!json_is_string(v)) {
			if (json_array_append_new(keys, json_null()) == -1)
				goto nomem;
			continue;
		}
		if ((k = idkey_dup(json_string_value(v), &rc)) == NULL) {
			(void)snprintf(what, whatsz, "emails[%zu].value", i);
			goto fail;
		}
		if (json_array_append_new(keys, json_string(k)) == -1) {
			free(k);
			goto nomem;
		}
		free(k);
	}
	if ((*emails_key = json_dumps(keys, JSON_COMPACT)) == NULL)
		goto nomem;
	json_decref(keys);
	return (0);

nomem:
	rc = IDKEY_ENOMEM;
	(void)snprintf(what, whatsz, "user");
fail:
	*why = idkey_strerror(rc);
	json_decref(keys);
	free(*name_key);
	*name_key = NULL;
	return (-1);
}

/* UPDATE one batch; a key collision names the key (PostgreSQL's detail). */
static int
backfill_update(PGconn *conn, const char *batch, struct store_err *err)
{
	PGresult	*res;
	const char	*p[1], *state, *detail;
	int		 rc;

	p[0] = batch;
	res = PQexecParams(conn, "UPDATE users u SET user_name_key = x.k, "
	    "emails_key = ARRAY(SELECT t.v FROM jsonb_array_elements_text(x.e) "
	    "WITH ORDINALITY AS t(v, o) ORDER BY t.o) "
	    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, k text, e jsonb) "
	    "WHERE u.id = x.id", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return (0);
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	if (state != NULL && strcmp(state, "23505") == 0)
		rc = store_err_set(err, 409, "conflict", "two live users now "
		    "share one userName key (Unicode NFC + case folding): %s; "
		    "rename or delete one of them and run migrate again",
		    detail ? detail : "");
	else
		rc = store_err_set(err, 500, "internal", "keying users: %s",
		    PQresultErrorMessage(res));
	PQclear(res);
	return (rc);
}

int
idkey_store_backfill(PGconn *conn, long *n, struct store_err *err)
{
	PGresult	*res;
	json_t		*batch, *doc, *row, *ekeys;
	char		*nk, *ek, *text, what[64];
	const char	*why;
	int		 i, rows;

	*n = 0;
	/*
	 * One pass with a cursor: its snapshot does not see the versions
	 * this loop writes, so every row is read once, without a sort or a
	 * re-scan per batch.  Rows written by hand may carry emails only
	 * in emails_lc: those are keyed too (they are what the index loads).
	 */
	if (store_exec(conn, "DECLARE unkeyed NO SCROLL CURSOR FOR SELECT "
	    "id::text, jsonb_build_object('userName', user_name, 'emails', "
	    "CASE WHEN jsonb_typeof(doc->'emails') = 'array' THEN "
	    "doc->'emails' ELSE (SELECT coalesce(jsonb_agg("
	    "jsonb_build_object('value', e)), '[]') FROM unnest(emails_lc) e) "
	    "END)::text FROM users WHERE user_name_key IS NULL OR emails_key "
	    "IS NULL FOR UPDATE", 0, NULL, NULL, err) == -1)
		return (-1);
	for (;;) {
		if (store_exec(conn, "FETCH " BACKFILL_ROWS " FROM unkeyed", 0,
		    NULL, &res, err) == -1)
			return (-1);
		if ((rows = PQntuples(res)) == 0) {
			PQclear(res);
			return (store_exec(conn, "CLOSE unkeyed", 0, NULL, NULL,
			    err));
		}
		if ((batch = json_array()) == NULL) {
			PQclear(res);
			return (store_err_set(err, 500, "internal", "out of "
			    "memory"));
		}
		for (i = 0; i < rows; i++) {
			if ((doc = json_loads(PQgetvalue(res, i, 1), 0,
			    NULL)) == NULL) {
				json_decref(batch);
				PQclear(res);
				return (store_err_set(err, 500, "internal",
				    "user %s: cannot read its row",
				    PQgetvalue(res, i, 0)));
			}
			if (idkey_store_user_keys(doc, &nk, &ek, what,
			    sizeof(what), &why) == -1) {
				(void)store_err_set(err, 400, "invalid", "user "
				    "%s: %s %s", PQgetvalue(res, i, 0), what,
				    why);
				json_decref(doc);
				json_decref(batch);
				PQclear(res);
				return (-1);
			}
			json_decref(doc);
			ekeys = json_loads(ek, 0, NULL);
			row = json_pack("{s:s, s:s?, s:o?}", "id",
			    PQgetvalue(res, i, 0), "k", nk, "e", ekeys);
			free(nk);
			free(ek);
			if (row == NULL || json_array_append_new(batch,
			    row) == -1) {
				json_decref(batch);
				PQclear(res);
				return (store_err_set(err, 500, "internal",
				    "out of memory"));
			}
		}
		PQclear(res);
		text = json_dumps(batch, JSON_COMPACT);
		json_decref(batch);
		if (text == NULL)
			return (store_err_set(err, 500, "internal", "out of "
			    "memory"));
		if (backfill_update(conn, text, err) == -1) {
			free(text);
			return (-1);
		}
		free(text);
		*n += rows;
	}
}
