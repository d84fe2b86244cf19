/*
 * audit_store: see audit_store.h.  Listing is one parameterised
 * statement per order, where an absent filter is a NULL parameter
 * (libpq's unnamed statements are planned with the actual values, so
 * "$n IS NULL OR ..." folds away and the indexes of 003_audit.sql are
 * used).  Verification reads the chain in batches inside one REPEATABLE
 * READ transaction, so rows and head come from the same snapshot while
 * writers carry on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_store.h"
#include "cursor.h"
#include "util.h"

#define VERIFY_BATCH		20000
#define VERIFY_BATCH_SQL	"20000"		/* the same, for the query */
#define VERIFY_PROBLEMS_MAX	20
#define GENESIS_HEX		"0000000000000000000000000000000000000000" \
				"000000000000000000000000"

static json_t	*audit_row_json(PGresult *, int);
static void	 problem_add(json_t *, long long *, const char *, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

static const char	audit_cols[] = "SELECT a.id, to_char(a.at AT TIME ZONE "
    "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), d.name, a.actor_kind, "
    "a.actor, a.action, a.resource_type, a.resource_id, a.request_id, "
    "a.summary::text, encode(a.prev_hash, 'hex'), encode(a.hash, 'hex') "
    "FROM audit_log a LEFT JOIN directories d ON d.id = a.directory_id "
    "WHERE ($1::bigint IS NULL OR a.directory_id = $1) "
    "AND ($2::timestamptz IS NULL OR a.at >= $2) "
    "AND ($3::timestamptz IS NULL OR a.at < $3) "
    "AND ($4::text IS NULL OR a.actor = $4) "
    "AND ($5::text IS NULL OR a.resource_id = $5) "
    "AND ($6::text IS NULL OR a.action = $6) "
    "AND ($7::text IS NULL OR a.action LIKE $7) "
    "AND ($9::bigint IS NULL OR a.id <= $9) ";

static json_t *
audit_row_json(PGresult *res, int i)
{
	json_t		*row, *summary;
	long long	 id;

	(void)rc_parse_int(PQgetvalue(res, i, 0), 0, INT64_MAX, &id);
	summary = json_loads(PQgetvalue(res, i, 9), JSON_DECODE_ANY, NULL);
	if (summary == NULL)
		summary = json_object();
	row = json_pack("{s:I, s:s, s:s?, s:s, s:s, s:s, s:s?, s:s?, s:s?, "
	    "s:o, s:s, s:s}", "id", (json_int_t)id,
	    "at", PQgetvalue(res, i, 1),
	    "directory", PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
	    "actor_kind", PQgetvalue(res, i, 3),
	    "actor", PQgetvalue(res, i, 4),
	    "type", PQgetvalue(res, i, 5),
	    "subject_type", PQgetisnull(res, i, 6) ? NULL :
	    PQgetvalue(res, i, 6),
	    "subject", PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
	    "request_id", PQgetisnull(res, i, 8) ? NULL :
	    PQgetvalue(res, i, 8),
	    "summary", summary,
	    "prev_hash", PQgetvalue(res, i, 10),
	    "hash", PQgetvalue(res, i, 11));

	return (row);
}

int
audit_store_list(PGconn *conn, const struct audit_query *q, json_t **rows,
    int *more, struct store_err *err)
{
	PGresult	*res;
	const char	*p[10];
	char		 dir[24], after[24], maxid[24], lim[16], like[160];
	char		 sql[2048];
	json_t		*row;
	size_t		 i, o;
	int		 n;

	*rows = NULL;
	*more = 0;
	if (q->limit < 1 || q->limit > AUDIT_STORE_LIMIT_MAX) {
		store_err_set(err, 400, "invalid_limit", "limit must be 1-%d",
		    AUDIT_STORE_LIMIT_MAX);
		return (-1);
	}
	(void)snprintf(dir, sizeof(dir), "%lld", (long long)q->directory_id);
	(void)snprintf(after, sizeof(after), "%lld", (long long)q->after_id);
	(void)snprintf(maxid, sizeof(maxid), "%lld", (long long)q->max_id);
	(void)snprintf(lim, sizeof(lim), "%d", q->limit + 1);
	p[0] = q->directory_id ? dir : NULL;
	p[1] = q->from;
	p[2] = q->to;
	p[3] = q->actor;
	p[4] = q->subject;
	p[5] = NULL;
	p[6] = NULL;
	if (q->type != NULL && (n = (int)strlen(q->type)) > 0 &&
	    q->type[n - 1] == '*') {
		/* Prefix: escape LIKE's own wildcards in the rest. */
		for (i = 0, o = 0; i + 1 < (size_t)n && o + 3 < sizeof(like);
		    i++) {
			if (q->type[i] == '_' || q->type[i] == '%' ||
			    q->type[i] == '\\')
				like[o++] = '\\';
			like[o++] = q->type[i];
		}
		like[o++] = '%';
		like[o] = '\0';
		p[6] = like;
	} else {
		p[5] = q->type;
	}
	p[7] = q->after_id ? after : NULL;
	p[8] = q->max_id ? maxid : NULL;
	p[9] = lim;
	(void)snprintf(sql, sizeof(sql), "%s AND ($8::bigint IS NULL OR "
	    "a.id %s $8) ORDER BY a.id %s LIMIT $10", audit_cols,
	    q->ascending ? ">" : "<", q->ascending ? "ASC" : "DESC");
	if (store_exec(conn, sql, 10, p, &res, err) == -1) {
		if (err->status == 400)
			store_err_set(err, 400, "invalid_time", "from/to are "
			    "not valid timestamps");
		return (-1);
	}
	*rows = json_array();
	for (n = 0; n < PQntuples(res); n++) {
		if (n == q->limit) {
			*more = 1;
			break;
		}
		if ((row = audit_row_json(res, n)) == NULL ||
		    json_array_append_new(*rows, row) == -1) {
			PQclear(res);
			json_decref(*rows);
			*rows = NULL;
			store_err_set(err, 500, "internal", "out of memory");
			return (-1);
		}
	}
	PQclear(res);

	return (0);
}

int
audit_store_last_id(PGconn *conn, int64_t *id, struct store_err *err)
{
	PGresult	*res;
	long long	 v;

	if (store_exec(conn, "SELECT coalesce(max(id), 0) FROM audit_log", 0,
	    NULL, &res, err) == -1)
		return (-1);
	(void)rc_parse_int(PQgetvalue(res, 0, 0), 0, INT64_MAX, &v);
	*id = v;
	PQclear(res);

	return (0);
}

static void
problem_add(json_t *list, long long *count, const char *id, const char *kind,
    const char *fmt, ...)
{
	va_list		ap;
	char		msg[256];
	long long	v;

	(*count)++;
	if (json_array_size(list) >= VERIFY_PROBLEMS_MAX)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)rc_parse_int(id, 0, INT64_MAX, &v);
	(void)json_array_append_new(list, json_pack("{s:I, s:s, s:s}", "id",
	    (json_int_t)v, "kind", kind, "message", msg));
}

int
audit_store_verify(PGconn *conn, json_t **report, struct store_err *err)
{
	PGresult	*res, *head;
	const char	*p[1];
	char		 after[24], prev[65], prev_id[24];
	json_t		*problems;
	long long	 records, nproblems, v;
	int		 i, n;

	*report = NULL;
	if (store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL, NULL, err) == -1)
		return (-1);
	if (store_exec(conn, "SELECT last_id, encode(last_hash, 'hex'), "
	    "n_rows FROM audit_chain", 0, NULL, &head, err) == -1)
		goto fail;
	if (PQntuples(head) != 1) {
		PQclear(head);
		store_err_set(err, 500, "internal", "audit_chain has no head "
		    "row: run 'rollcallctl migrate'");
		goto fail;
	}
	if ((problems = json_array()) == NULL) {
		PQclear(head);
		store_err_set(err, 500, "internal", "out of memory");
		goto fail;
	}

	rc_strlcpy(prev, GENESIS_HEX, sizeof(prev));
	rc_strlcpy(prev_id, "0", sizeof(prev_id));
	records = nproblems = 0;
	for (;;) {
		rc_strlcpy(after, prev_id, sizeof(after));
		p[0] = after;
		if (store_exec(conn, "SELECT a.id, encode(a.prev_hash, 'hex'), "
		    "encode(a.hash, 'hex'), a.hash = audit_log_digest("
		    "a.prev_hash, a) FROM audit_log a WHERE a.id > $1 "
		    "ORDER BY a.id LIMIT " VERIFY_BATCH_SQL, 1, p, &res,
		    err) == -1) {
			PQclear(head);
			json_decref(problems);
			goto fail;
		}
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			if (strcmp(PQgetvalue(res, i, 1), prev) != 0) {
				if (strcmp(prev_id, "0") == 0)
					problem_add(problems, &nproblems,
					    PQgetvalue(res, i, 0),
					    "broken_link", "the first record "
					    "does not start the chain: records "
					    "before it are missing");
				else
					problem_add(problems, &nproblems,
					    PQgetvalue(res, i, 0),
					    "broken_link", "does not follow "
					    "record %s: records between them "
					    "are missing, or one was rewritten",
					    prev_id);
			}
			if (strcmp(PQgetvalue(res, i, 3), "t") != 0)
				problem_add(problems, &nproblems,
				    PQgetvalue(res, i, 0), "altered",
				    "content does not match its hash: the "
				    "record was edited");
			rc_strlcpy(prev, PQgetvalue(res, i, 2), sizeof(prev));
			rc_strlcpy(prev_id, PQgetvalue(res, i, 0),
			    sizeof(prev_id));
			records++;
		}
		PQclear(res);
		if (n < VERIFY_BATCH)
			break;
	}

	(void)rc_parse_int(PQgetvalue(head, 0, 2), 0, INT64_MAX, &v);
	if (strcmp(PQgetvalue(head, 0, 1), prev) != 0 ||
	    strcmp(PQgetvalue(head, 0, 0), prev_id) != 0 || v != records)
		problem_add(problems, &nproblems, prev_id, "head_mismatch",
		    "the chain's head is record %s (%lld records), but the "
		    "last record is %s (%lld records): records after it are "
		    "missing, or the head was changed", PQgetvalue(head, 0, 0),
		    v, prev_id, records);
	(void)rc_parse_int(prev_id, 0, INT64_MAX, &v);
	*report = json_pack("{s:b, s:I, s:{s:I, s:s}, s:I, s:o}",
	    "ok", nproblems == 0, "records", (json_int_t)records,
	    "head", "id", (json_int_t)v, "hash", prev,
	    "problem_count", (json_int_t)nproblems, "problems", problems);
	PQclear(head);
	store_rollback(conn);
	if (*report == NULL) {
		store_err_set(err, 500, "internal", "out of memory");
		return (-1);
	}

	return (0);

fail:
	store_rollback(conn);
	return (-1);
}

int
audit_store_cursor_key(PGconn *conn, unsigned char *key,
    struct store_err *err)
{
	PGresult	*res;
	unsigned char	 fresh[CURSOR_KEY_LEN];
	char		 hex[2 * CURSOR_KEY_LEN + 1];
	const char	*p[1], *v;
	size_t		 i;
	unsigned int	 b;

	if (rc_random_bytes(fresh, sizeof(fresh)) == -1) {
		store_err_set(err, 500, "internal", "no randomness available");
		return (-1);
	}
	rc_hex_encode(fresh, sizeof(fresh), hex);
	explicit_bzero(fresh, sizeof(fresh));
	p[0] = hex;
	/* First instance to ask creates it; everyone reads the winner. */
	if (store_exec(conn, "INSERT INTO server_keys (name, key) VALUES "
	    "('cursor', decode($1, 'hex')) ON CONFLICT (name) DO NOTHING", 1,
	    p, NULL, err) == -1 ||
	    store_exec(conn, "SELECT encode(key, 'hex') FROM server_keys "
	    "WHERE name = 'cursor'", 0, NULL, &res, err) == -1) {
		explicit_bzero(hex, sizeof(hex));
		return (-1);
	}
	explicit_bzero(hex, sizeof(hex));
	if (PQntuples(res) != 1 ||
	    strlen(v = PQgetvalue(res, 0, 0)) < 2 * CURSOR_KEY_LEN) {
		PQclear(res);
		store_err_set(err, 500, "internal", "cursor key unreadable");
		return (-1);
	}
	for (i = 0; i < CURSOR_KEY_LEN; i++) {
		if (sscanf(v + 2 * i, "%2x", &b) != 1) {
			PQclear(res);
			store_err_set(err, 500, "internal", "cursor key "
			    "unreadable");
			return (-1);
		}
		key[i] = (unsigned char)b;
	}
	PQclear(res);

	return (0);
}
