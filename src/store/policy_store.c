/*
 * policy_store: see policy_store.h.
 *
 * The load runs in one REPEATABLE READ, READ ONLY transaction, so the
 * index is exactly the state at the policy version it reads first.  Big
 * tables are read through a cursor in batches to keep libpq's result
 * memory bounded at tier L (millions of memberships).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "policy_store.h"
#include "util.h"

#define FETCH_ROWS	"20000"

/*
 * A user's app role values (SCIM roles[].value; a bare string counts
 * too) as a JSON array, from the users row's doc.
 */
#define ROLES_JSON							\
	"(SELECT json_agg(coalesce(r->>'value', r#>>'{}'))::text FROM "	\
	"jsonb_array_elements(CASE WHEN jsonb_typeof(doc->'roles') = "	\
	"'array' THEN doc->'roles' ELSE '[]' END) r WHERE "		\
	"coalesce(r->>'value', CASE WHEN jsonb_typeof(r) = 'string' "	\
	"THEN r#>>'{}' END) IS NOT NULL)"

/*
 * Records are ordered by (version, seq): one commit's records share its
 * version and carry their position in the commit as seq, so a member
 * removed and added again in one PATCH ends present, as in PostgreSQL.
 */
struct lww_entry {
	uint64_t	version;
	int64_t		seq;
	char		key[];
};

struct policy_lww {
	struct hashmap	versions;	/* "kind:key" -> struct lww_entry */
};

typedef int	(*row_fn)(struct policy_index *, PGresult *, int,
		    struct policy_err *);

static int	load_query(PGconn *, struct policy_index *, const char *,
		    row_fn, struct store_err *);
static int	row_directory(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_user(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_sp(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_group(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_member(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_nest(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_server(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_tool(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_rule(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_grant(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	row_epoch(struct policy_index *, PGresult *, int,
		    struct policy_err *);
static int	json_strings(const char *, const char **, size_t, json_t **);

static struct policy_dirs	*loading_dirs;

static const char *
val(PGresult *res, int row, int col)
{
	return (PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col));
}

static long long
num(PGresult *res, int row, int col)
{
	long long	v;

	if (PQgetisnull(res, row, col) ||
	    rc_parse_int(PQgetvalue(res, row, col), INT64_MIN, INT64_MAX,
	    &v) == -1)
		return (0);
	return (v);
}

/* Parses a JSON array of strings into ptrs (borrowed from *doc). */
static int
json_strings(const char *text, const char **ptrs, size_t max, json_t **doc)
{
	json_t	*v;
	size_t	 i, n;

	*doc = NULL;
	if (text == NULL)
		return (0);
	if ((*doc = json_loads(text, 0, NULL)) == NULL || !json_is_array(*doc))
		return (0);
	n = 0;
	json_array_foreach(*doc, i, v) {
		if (n < max && json_is_string(v))
			ptrs[n++] = json_string_value(v);
	}

	return ((int)n);
}

/*
 * A row the index refused: its principal is denied (principal_unavailable)
 * instead of the whole load failing, so one bad row stops one principal,
 * not the service.  The reason names the row's kind.
 */
static int
quarantine(struct policy_index *idx, const char *id, const char *dir,
    struct policy_err *err, int until_rebuild)
{
	char	why[POLICY_WHY_MAX];

	(void)snprintf(why, sizeof(why), "%s", err->msg);
	if (policy_principal_quarantine(idx, id, dir, why,
	    until_rebuild) == -1)
		return (-1);
	memset(err, 0, sizeof(*err));
	return (0);
}

/*
 * A refused rule may be a deny the index now lacks: everyone it could
 * concern is quarantined (the principal it names; a group's members;
 * everyone in its directory).
 */
static int
rule_refused(struct policy_index *idx, enum policy_subject_kind kind,
    const char *subject, const char *dir, struct policy_err *err)
{
	char	why[POLICY_WHY_MAX];

	(void)snprintf(why, sizeof(why), "rule refused: %.100s", err->msg);
	if ((kind == POLICY_SUBJECT_USER || kind == POLICY_SUBJECT_SP) &&
	    subject != NULL)
		return (policy_principal_quarantine(idx, subject, dir, why,
		    1));
	if (policy_quarantine_subjects(idx, kind == POLICY_SUBJECT_GROUP ?
	    subject : NULL, dir, why) == -1)
		return (-1);
	return (0);
}

static int
row_directory(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	char	lower[128];
	size_t	k;

	(void)idx;
	(void)err;
	rc_strlcpy(lower, PQgetvalue(res, i, 1), sizeof(lower));
	for (k = 0; lower[k] != '\0'; k++)
		if (lower[k] >= 'A' && lower[k] <= 'Z')
			lower[k] = (char)(lower[k] - 'A' + 'a');
	(void)json_object_set_new(loading_dirs->by_name, lower,
	    json_string(PQgetvalue(res, i, 0)));
	return (0);
}

static int
row_user(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	struct policy_user	 u;
	const char		*emails[POLICY_LIST_MAX];
	const char		*roles[POLICY_LIST_MAX];
	json_t			*doc, *rdoc;
	int			 rc, nr;

	memset(&u, 0, sizeof(u));
	u.id = PQgetvalue(res, i, 0);
	u.directory = PQgetvalue(res, i, 1);
	u.user_name = PQgetvalue(res, i, 2);
	u.external_id = val(res, i, 3);
	u.nemails = (size_t)json_strings(val(res, i, 4), emails,
	    POLICY_LIST_MAX, &doc);
	u.emails = emails;
	u.active = strcmp(PQgetvalue(res, i, 5), "t") == 0;
	u.deleted = strcmp(PQgetvalue(res, i, 6), "t") == 0;
	nr = json_strings(val(res, i, 8), roles, POLICY_LIST_MAX, &rdoc);
	u.roles = roles;
	u.nroles = nr < 0 ? 0 : (size_t)nr;
	/* More roles than the index holds: refused, so quarantined. */
	if (json_array_size(rdoc) > POLICY_LIST_MAX)
		u.nroles = POLICY_LIST_MAX + 1;
	rc = policy_user_upsert(idx, &u, err);
	json_decref(doc);
	json_decref(rdoc);
	if (rc == -1)
		return (quarantine(idx, u.id, u.directory, err, 0));
	if (strcmp(PQgetvalue(res, i, 7), "t") == 0)
		rc = policy_principal_set_revoked(idx, u.id, 1) == 0 ? 0 : -1;

	return (rc);
}

static int
row_sp(struct policy_index *idx, PGresult *res, int i, struct policy_err *err)
{
	struct policy_sp	sp;
	int			rc;

	memset(&sp, 0, sizeof(sp));
	sp.id = PQgetvalue(res, i, 0);
	sp.directory = PQgetvalue(res, i, 1);
	sp.app_id = val(res, i, 2);
	sp.owner_id = val(res, i, 3);
	sp.active = strcmp(PQgetvalue(res, i, 4), "t") == 0;
	if ((rc = policy_sp_upsert(idx, &sp, err)) == -1)
		return (quarantine(idx, sp.id, sp.directory, err, 0));
	if (strcmp(PQgetvalue(res, i, 5), "t") == 0)
		rc = policy_principal_set_revoked(idx, sp.id, 1) == 0 ? 0 : -1;

	return (rc);
}

static int
row_group(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	return (policy_group_upsert(idx, PQgetvalue(res, i, 0),
	    PQgetvalue(res, i, 1), err));
}

static int
row_member(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	if (policy_membership_add(idx, PQgetvalue(res, i, 1),
	    PQgetvalue(res, i, 0), err) == 0)
		return (0);
	/* Without this membership the user's answers may be wrong. */
	return (quarantine(idx, PQgetvalue(res, i, 1), NULL, err, 1));
}

/* Group member_group_id nested in group group_id. */
static int
row_nest(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	char	why[POLICY_WHY_MAX];

	if (policy_nest_add(idx, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0),
	    err) == 0)
		return (0);
	/* Without it the nested group's members may miss a deny. */
	(void)snprintf(why, sizeof(why), "nesting refused: %.100s", err->msg);
	if (policy_quarantine_subjects(idx, PQgetvalue(res, i, 1), NULL,
	    why) == -1)
		return (-1);
	memset(err, 0, sizeof(*err));
	return (0);
}

static int
row_server(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	return (policy_server_upsert(idx, PQgetvalue(res, i, 0), err));
}

static int
row_tool(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	struct policy_tool	 t;
	const char		*labels[POLICY_LIST_MAX];
	json_t			*doc;
	int			 rc;

	memset(&t, 0, sizeof(t));
	t.server = PQgetvalue(res, i, 0);
	t.name = PQgetvalue(res, i, 1);
	t.risk = val(res, i, 2);
	t.nlabels = (size_t)json_strings(val(res, i, 3), labels,
	    POLICY_LIST_MAX, &doc);
	t.labels = labels;
	rc = policy_tool_upsert(idx, &t, err);
	json_decref(doc);

	return (rc);
}

static int
row_rule(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	struct policy_rule	r;

	memset(&r, 0, sizeof(r));
	r.id = PQgetvalue(res, i, 0);
	r.directory = PQgetvalue(res, i, 7);
	r.subject_kind = policy_subject_kind_parse(PQgetvalue(res, i, 1));
	r.subject_id = val(res, i, 2);
	r.server = PQgetvalue(res, i, 3);
	r.tool = PQgetvalue(res, i, 4);
	r.effect = policy_effect_parse(PQgetvalue(res, i, 5));
	r.max_grant_ms = num(res, i, 6) * 1000;

	if (policy_rule_upsert(idx, &r, err) == 0)
		return (0);
	return (rule_refused(idx, r.subject_kind, r.subject_id, r.directory,
	    err));
}

static int
row_grant(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	struct policy_grant	g;

	memset(&g, 0, sizeof(g));
	g.id = PQgetvalue(res, i, 0);
	g.principal_id = PQgetvalue(res, i, 1);
	g.server = PQgetvalue(res, i, 2);
	g.tool = PQgetvalue(res, i, 3);
	g.not_before = num(res, i, 4);
	g.expires_at = num(res, i, 5);
	g.approved = 1;

	return (policy_grant_upsert(idx, &g, err));
}

static int
row_epoch(struct policy_index *idx, PGresult *res, int i,
    struct policy_err *err)
{
	(void)err;
	/* Epochs of principals that are gone are of no use. */
	(void)policy_principal_set_epoch(idx, PQgetvalue(res, i, 0),
	    (uint64_t)num(res, i, 1));
	return (0);
}

/* Runs sql through a cursor, calling fn for each row. */
static int
load_query(PGconn *conn, struct policy_index *idx, const char *sql,
    row_fn fn, struct store_err *err)
{
	struct policy_err	 perr;
	PGresult		*res;
	char			*decl;
	int			 i, n;

	if (asprintf(&decl, "DECLARE load_cursor NO SCROLL CURSOR FOR %s",
	    sql) == -1) {
		err->status = 500;
		rc_strlcpy(err->msg, "out of memory", sizeof(err->msg));
		return (-1);
	}
	i = store_exec(conn, decl, 0, NULL, NULL, err);
	free(decl);
	if (i == -1)
		return (-1);
	for (;;) {
		if (store_exec(conn, "FETCH " FETCH_ROWS " FROM load_cursor",
		    0, NULL, &res, err) == -1)
			return (-1);
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			memset(&perr, 0, sizeof(perr));
			if (fn(idx, res, i, &perr) == -1) {
				err->status = 500;
				(void)snprintf(err->msg, sizeof(err->msg),
				    "loading policy: %s", perr.msg);
				PQclear(res);
				return (-1);
			}
		}
		PQclear(res);
		if (n == 0)
			break;
	}

	return (store_exec(conn, "CLOSE load_cursor", 0, NULL, NULL, err));
}

int
policy_store_load(PGconn *conn, struct policy_index **out,
    struct policy_dirs *dirs, struct store_err *err)
{
	static const struct {
		const char	*sql;
		row_fn		 fn;
	} steps[] = {
		{ "SELECT id::text, name FROM directories", row_directory },
		/*
		 * Emails as their stored keys (idkey.h: the index keys them
		 * again, which changes nothing); emails_lc only for a row
		 * written by hand that has no keys yet.
		 */
		{ "SELECT id, directory_id::text, user_name, external_id, "
		  "array_to_json(CASE WHEN emails_key IS NULL THEN emails_lc "
		  "ELSE array_remove(emails_key, NULL) END)::text, active, "
		  "deleted_at IS NOT NULL, revoked_all_at IS NOT NULL, "
		  ROLES_JSON " FROM users", row_user },
		{ "SELECT id, directory_id::text, app_id, owner_user_id, "
		  "active AND deleted_at IS NULL, revoked_all_at IS NOT NULL "
		  "FROM service_principals WHERE deleted_at IS NULL", row_sp },
		{ "SELECT id, directory_id::text FROM groups "
		  "WHERE deleted_at IS NULL", row_group },
		{ "SELECT m.group_id, m.user_id FROM memberships m "
		  "JOIN groups g ON g.id = m.group_id AND g.deleted_at IS NULL",
		  row_member },
		{ "SELECT n.group_id, n.member_group_id FROM group_nestings n "
		  "JOIN groups g ON g.id = n.group_id AND g.deleted_at IS NULL "
		  "JOIN groups c ON c.id = n.member_group_id AND "
		  "c.deleted_at IS NULL", row_nest },
		{ "SELECT slug FROM mcp_servers", row_server },
		{ "SELECT s.slug, t.name, t.risk, array_to_json(t.labels)::text "
		  "FROM tools t JOIN mcp_servers s ON s.id = t.server_id",
		  row_tool },
		{ "SELECT id, subject_kind, coalesce(subject_id::text, "
		  "subject_role), server_slug, tool_selector, effect, "
		  "max_grant_s, directory_id::text FROM rules", row_rule },
		{ "SELECT id, principal_id, server_slug, tool_selector, "
		  "(extract(epoch FROM not_before) * 1000)::bigint, "
		  "(extract(epoch FROM expires_at) * 1000)::bigint "
		  "FROM jit_grants WHERE state = 'approved' AND "
		  "expires_at > now()", row_grant },
		{ "SELECT principal_id, max(policy_version) FROM "
		  "revocation_events WHERE principal_id IS NOT NULL "
		  "GROUP BY principal_id", row_epoch },
	};
	struct policy_index	*idx;
	PGresult		*res;
	long long		 version, users, groups;
	size_t			 i;

	*out = NULL;
	dirs->by_name = json_object();
	if ((idx = policy_new()) == NULL) {
		err->status = 500;
		rc_strlcpy(err->msg, "out of memory", sizeof(err->msg));
		return (-1);
	}
	if (store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	    0, NULL, NULL, err) == -1)
		goto fail;
	if (store_exec(conn, "SELECT (SELECT version FROM policy_state), "
	    "(SELECT count(*) FROM users), (SELECT count(*) FROM groups)",
	    0, NULL, &res, err) == -1)
		goto fail;
	version = num(res, 0, 0);
	users = num(res, 0, 1);
	groups = num(res, 0, 2);
	PQclear(res);
	(void)policy_reserve(idx, (size_t)users, (size_t)groups);
	policy_set_version(idx, (uint64_t)version);

	loading_dirs = dirs;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (load_query(conn, idx, steps[i].sql, steps[i].fn,
		    err) == -1) {
			loading_dirs = NULL;
			goto fail;
		}
	}
	loading_dirs = NULL;
	if (store_commit(conn, err) == -1)
		goto fail;
	*out = idx;

	return (0);

fail:
	store_rollback(conn);
	policy_free(idx);
	policy_dirs_cleanup(dirs);
	return (-1);
}

void
policy_dirs_cleanup(struct policy_dirs *dirs)
{
	json_decref(dirs->by_name);
	dirs->by_name = NULL;
}

const char *
policy_dirs_resolve(const struct policy_dirs *dirs, const char *name)
{
	const char	*key;
	json_t		*v;
	char		 lower[128];
	size_t		 k;

	if (name == NULL || dirs->by_name == NULL)
		return (NULL);
	rc_strlcpy(lower, name, sizeof(lower));
	for (k = 0; lower[k] != '\0'; k++)
		if (lower[k] >= 'A' && lower[k] <= 'Z')
			lower[k] = (char)(lower[k] - 'A' + 'a');
	if ((v = json_object_get(dirs->by_name, lower)) != NULL)
		return (json_string_value(v));
	/* Named by id: return the stored string if that id exists. */
	json_object_foreach(dirs->by_name, key, v) {
		if (strcmp(json_string_value(v), name) == 0)
			return (json_string_value(v));
	}

	return (NULL);
}

struct policy_lww *
policy_lww_new(void)
{
	struct policy_lww	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	hashmap_init(&l->versions);

	return (l);
}

void
policy_lww_free(struct policy_lww *l)
{
	const char	*key;
	void		*v;
	size_t		 iter;

	if (l == NULL)
		return;
	iter = 0;
	while (hashmap_next(&l->versions, &iter, &key, &v))
		free(v);
	hashmap_cleanup(&l->versions);
	free(l);
}

/*
 * The entity a record changes, for undoing the bookkeeping when the
 * index refuses the record (it may succeed when replayed later).
 */
static struct lww_entry	*lww_last;
static uint64_t		 lww_prev;
static int64_t		 lww_prev_seq;
static int64_t		 lww_seq;	/* seq of the record being applied */

/*
 * 1 when (kind, a, b) at (version, lww_seq) is newer than anything
 * applied to it.  Records without a seq (written by an older rollcall)
 * count as seq 0.
 */
static int
lww_newer(struct policy_lww *l, const char *kind, const char *a,
    const char *b, uint64_t version)
{
	struct lww_entry	*e;
	char			 key[600];
	size_t			 len;

	lww_last = NULL;
	(void)snprintf(key, sizeof(key), "%s:%s:%s", kind, a ? a : "",
	    b ? b : "");
	if ((e = hashmap_get(&l->versions, key)) != NULL) {
		if (e->version > version ||
		    (e->version == version && e->seq >= lww_seq))
			return (0);
		lww_prev = e->version;
		lww_prev_seq = e->seq;
		e->version = version;
		e->seq = lww_seq;
		lww_last = e;
		return (1);
	}
	len = strlen(key) + 1;
	if ((e = malloc(sizeof(*e) + len)) == NULL)
		return (1);	/* applying is safer than dropping */
	e->version = version;
	e->seq = lww_seq;
	memcpy(e->key, key, len);
	if (hashmap_put(&l->versions, e->key, e) == -1) {
		free(e);
		return (1);
	}
	lww_prev = 0;
	lww_prev_seq = 0;
	lww_last = e;

	return (1);
}

static const char *
str(const json_t *rec, const char *key)
{
	return (json_string_value(json_object_get(rec, key)));
}

static int
flag(const json_t *rec, const char *key)
{
	return (json_is_true(json_object_get(rec, key)));
}

/* The directory_id member as the index's directory string. */
static const char *
dir_of(const json_t *rec, char *buf, size_t size)
{
	json_t	*v;

	v = json_object_get(rec, "directory_id");
	if (json_is_integer(v)) {
		(void)snprintf(buf, size, "%lld",
		    (long long)json_integer_value(v));
		return (buf);
	}
	if (json_is_string(v))
		return (json_string_value(v));
	return (NULL);
}

static size_t
str_list(const json_t *arr, const char **out, size_t max)
{
	json_t	*v;
	size_t	 i, n;

	n = 0;
	json_array_foreach(arr, i, v) {
		if (n < max && json_is_string(v))
			out[n++] = json_string_value(v);
	}

	return (n);
}

/*
 * The principal a refused record leaves in doubt, and whether only a
 * rebuild can settle it; NULL when the record concerns no principal (a
 * refused tool, server or grant only ever takes access away).
 */
static const char *
refused_principal(const char *kind, const json_t *rec, int *until_rebuild)
{
	const char	*sk;

	*until_rebuild = 0;
	if (strcmp(kind, "user") == 0 || strcmp(kind, "sp") == 0)
		return (str(rec, "id"));
	*until_rebuild = 1;
	if (strcmp(kind, "member") == 0)
		return (str(rec, "user"));
	if (strcmp(kind, "revoked_all") == 0)
		return (str(rec, "principal"));
	if (strcmp(kind, "rule") == 0 && (sk = str(rec, "subject_kind")) !=
	    NULL && (strcmp(sk, "user") == 0 ||
	    strcmp(sk, "service_principal") == 0))
		return (str(rec, "subject_id"));
	return (NULL);
}

/* Quarantines what a refused record leaves in doubt; always -1. */
static int
refused(struct policy_index *idx, const json_t *rec, const char *kind,
    const struct policy_err *err, struct policy_refusal *ref)
{
	const char	*who;
	char		 dirbuf[32], why[POLICY_WHY_MAX];
	long		 n;
	int		 until_rebuild;

	who = refused_principal(kind, rec, &until_rebuild);
	if (ref != NULL) {
		rc_strlcpy(ref->kind, kind, sizeof(ref->kind));
		rc_strlcpy(ref->msg, err->msg, sizeof(ref->msg));
	}
	if (strcmp(kind, "nest") == 0) {
		/* Everyone under the nested group may now miss a deny. */
		(void)snprintf(why, sizeof(why), "nesting refused: %.100s",
		    err->msg);
		n = str(rec, "member") == NULL ? 0 :
		    policy_quarantine_subjects(idx, str(rec, "member"), NULL,
		    why);
		if (ref != NULL) {
			ref->quarantined = n > 0;
			ref->subjects = n > 0 ? n : 0;
		}
		return (-1);
	}
	if (who == NULL && strcmp(kind, "rule") == 0 &&
	    !flag(rec, "deleted")) {
		/* A group's or everyone's rule: all it could concern. */
		(void)snprintf(why, sizeof(why), "rule refused: %.100s",
		    err->msg);
		n = policy_quarantine_subjects(idx, str(rec, "subject_id"),
		    dir_of(rec, dirbuf, sizeof(dirbuf)), why);
		if (n > 0 && ref != NULL)
			(void)snprintf(ref->principal, sizeof(ref->principal),
			    "%ld principal(s) of rule %.64s",
			    n, str(rec, "id") ? str(rec, "id") : "?");
		if (ref != NULL) {
			ref->quarantined = n > 0;
			ref->subjects = n > 0 ? n : 0;
		}
		return (-1);
	}
	if (who == NULL)
		return (-1);
	(void)snprintf(why, sizeof(why), "%.16s record refused: %.90s",
	    kind, err->msg);
	if (policy_principal_quarantine(idx, who,
	    dir_of(rec, dirbuf, sizeof(dirbuf)), why, until_rebuild) == 0 &&
	    ref != NULL) {
		rc_strlcpy(ref->principal, who, sizeof(ref->principal));
		ref->quarantined = 1;
	}
	return (-1);
}

int
policy_store_apply(struct policy_index *idx, struct policy_dirs *dirs,
    struct policy_lww *lww, uint64_t base, const json_t *rec,
    struct policy_refusal *ref)
{
	struct policy_err	 err;
	struct policy_user	 u;
	struct policy_sp	 sp;
	struct policy_tool	 t;
	struct policy_rule	 r;
	struct policy_grant	 g;
	const char		*kind, *id, *list[POLICY_LIST_MAX], *state;
	const char		*roles[POLICY_LIST_MAX];
	const char		*dir;
	char			 dirbuf[32];
	json_int_t		 version;
	int			 rc;

	if (ref != NULL)
		memset(ref, 0, sizeof(*ref));
	kind = str(rec, "kind");
	version = json_integer_value(json_object_get(rec, "version"));
	lww_seq = json_integer_value(json_object_get(rec, "seq"));
	if (kind == NULL || version <= 0) {
		if (ref != NULL)
			rc_strlcpy(ref->msg, "malformed record",
			    sizeof(ref->msg));
		return (-1);
	}
	if ((uint64_t)version <= base)
		return (0);
	memset(&err, 0, sizeof(err));
	rc = 0;

	if (strcmp(kind, "user") == 0) {
		if ((id = str(rec, "id")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		memset(&u, 0, sizeof(u));
		u.id = id;
		u.directory = dir_of(rec, dirbuf, sizeof(dirbuf));
		u.user_name = str(rec, "userName");
		u.external_id = str(rec, "externalId");
		u.nemails = str_list(json_object_get(rec, "emails"), list,
		    POLICY_LIST_MAX);
		u.emails = list;
		u.nroles = str_list(json_object_get(rec, "roles"), roles,
		    POLICY_LIST_MAX);
		u.roles = roles;
		/* More roles than the index holds: refuse, so quarantine. */
		if (json_array_size(json_object_get(rec, "roles")) >
		    POLICY_LIST_MAX)
			u.nroles = POLICY_LIST_MAX + 1;
		u.active = flag(rec, "active");
		u.deleted = flag(rec, "deleted");
		rc = policy_user_upsert(idx, &u, &err);
	} else if (strcmp(kind, "group") == 0) {
		if ((id = str(rec, "id")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		if (flag(rec, "deleted"))
			(void)policy_group_remove(idx, id);
		else
			rc = policy_group_upsert(idx, id,
			    dir_of(rec, dirbuf, sizeof(dirbuf)), &err);
	} else if (strcmp(kind, "member") == 0) {
		if (str(rec, "group") == NULL || str(rec, "user") == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, str(rec, "group"), str(rec, "user"),
		    (uint64_t)version))
			goto done;
		if (flag(rec, "present"))
			rc = policy_membership_add(idx, str(rec, "user"),
			    str(rec, "group"), &err);
		else
			(void)policy_membership_remove(idx, str(rec, "user"),
			    str(rec, "group"));
	} else if (strcmp(kind, "nest") == 0) {
		/* Group "member" nested in group "group". */
		if (str(rec, "group") == NULL || str(rec, "member") == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, str(rec, "group"), str(rec, "member"),
		    (uint64_t)version))
			goto done;
		if (flag(rec, "present"))
			rc = policy_nest_add(idx, str(rec, "member"),
			    str(rec, "group"), &err);
		else
			(void)policy_nest_remove(idx, str(rec, "member"),
			    str(rec, "group"));
	} else if (strcmp(kind, "sp") == 0) {
		if ((id = str(rec, "id")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		if (flag(rec, "deleted")) {
			(void)policy_principal_remove(idx, id);
		} else {
			memset(&sp, 0, sizeof(sp));
			sp.id = id;
			sp.directory = dir_of(rec, dirbuf, sizeof(dirbuf));
			sp.app_id = str(rec, "appId");
			sp.owner_id = str(rec, "owner");
			sp.active = flag(rec, "active");
			rc = policy_sp_upsert(idx, &sp, &err);
		}
	} else if (strcmp(kind, "server") == 0) {
		if ((id = str(rec, "slug")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		if (flag(rec, "deleted"))
			(void)policy_server_remove(idx, id);
		else
			rc = policy_server_upsert(idx, id, &err);
	} else if (strcmp(kind, "tool") == 0) {
		if (str(rec, "server") == NULL || str(rec, "name") == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, str(rec, "server"), str(rec, "name"),
		    (uint64_t)version))
			goto done;
		if (flag(rec, "deleted")) {
			(void)policy_tool_remove(idx, str(rec, "server"),
			    str(rec, "name"));
		} else {
			memset(&t, 0, sizeof(t));
			t.server = str(rec, "server");
			t.name = str(rec, "name");
			t.risk = str(rec, "risk");
			t.nlabels = str_list(json_object_get(rec, "labels"),
			    list, POLICY_LIST_MAX);
			t.labels = list;
			rc = policy_tool_upsert(idx, &t, &err);
		}
	} else if (strcmp(kind, "rule") == 0) {
		if ((id = str(rec, "id")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		if (flag(rec, "deleted")) {
			(void)policy_rule_remove(idx, id);
		} else {
			memset(&r, 0, sizeof(r));
			r.id = id;
			r.directory = dir_of(rec, dirbuf, sizeof(dirbuf));
			r.subject_kind = policy_subject_kind_parse(str(rec, "subject_kind"));
			r.subject_id = str(rec, "subject_id");
			r.server = str(rec, "server");
			r.tool = str(rec, "selector");
			r.effect = policy_effect_parse(str(rec, "effect"));
			r.max_grant_ms = (int64_t)json_integer_value(
			    json_object_get(rec, "max_grant_s")) * 1000;
			rc = policy_rule_upsert(idx, &r, &err);
		}
	} else if (strcmp(kind, "grant") == 0) {
		if ((id = str(rec, "id")) == NULL)
			goto malformed;
		if (!lww_newer(lww, kind, id, NULL, (uint64_t)version))
			goto done;
		state = str(rec, "state");
		if (state == NULL || strcmp(state, "approved") != 0) {
			(void)policy_grant_remove(idx, id);
		} else {
			memset(&g, 0, sizeof(g));
			g.id = id;
			g.principal_id = str(rec, "principal");
			g.server = str(rec, "server");
			g.tool = str(rec, "selector");
			g.not_before = (int64_t)json_integer_value(
			    json_object_get(rec, "not_before_ms"));
			g.expires_at = (int64_t)json_integer_value(
			    json_object_get(rec, "expires_at_ms"));
			g.approved = 1;
			rc = policy_grant_upsert(idx, &g, &err);
		}
	} else if (strcmp(kind, "revoked_all") == 0) {
		if ((id = str(rec, "principal")) == NULL)
			goto malformed;
		if (lww_newer(lww, kind, id, NULL, (uint64_t)version))
			(void)policy_principal_set_revoked(idx, id,
			    flag(rec, "revoked"));
	} else if (strcmp(kind, "epoch") == 0) {
		if ((id = str(rec, "principal")) == NULL)
			goto malformed;
		if (lww_newer(lww, kind, id, NULL, (uint64_t)version))
			(void)policy_principal_set_epoch(idx, id,
			    (uint64_t)version);
	} else if (strcmp(kind, "directory") == 0) {
		/* dir_of() fills dirbuf only for a numeric directory_id. */
		if (str(rec, "name") == NULL ||
		    (dir = dir_of(rec, dirbuf, sizeof(dirbuf))) == NULL)
			goto malformed;
		if (lww_newer(lww, kind, dir, NULL, (uint64_t)version)) {
			char	lower[128];
			size_t	k;

			rc_strlcpy(lower, str(rec, "name"), sizeof(lower));
			for (k = 0; lower[k] != '\0'; k++)
				if (lower[k] >= 'A' && lower[k] <= 'Z')
					lower[k] = (char)(lower[k] - 'A' + 'a');
			(void)json_object_set_new(dirs->by_name, lower,
			    json_string(dir));
		}
	} else if (strcmp(kind, "version") != 0) {
		/* A kind from a newer rollcall: nothing to apply here. */
		return (0);
	}

done:
	if (rc != 0) {
		/*
		 * Refused (e.g. a tool before its server): it may come again.
		 * A principal's own record stays the newest applied, though:
		 * an older one arriving late must not lift its quarantine.
		 */
		if (lww_last != NULL && strcmp(kind, "user") != 0 &&
		    strcmp(kind, "sp") != 0) {
			lww_last->version = lww_prev;
			lww_last->seq = lww_prev_seq;
		}
		lww_last = NULL;
		return (refused(idx, rec, kind, &err, ref));
	}
	if ((uint64_t)version > policy_version(idx))
		policy_set_version(idx, (uint64_t)version);

	return (0);

malformed:
	memset(&err, 0, sizeof(err));
	rc_strlcpy(err.msg, "malformed record", sizeof(err.msg));
	return (refused(idx, rec, kind, &err, ref));
}
