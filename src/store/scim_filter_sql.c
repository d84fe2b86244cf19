/*
 * scim_filter_sql: see scim_filter_sql.h.
 *
 * The compiler walks the AST that scim_filter_parse() built and checked,
 * and writes one expression for one table (users or groups, no alias)
 * with every client value bound as a $n text parameter; only column
 * names, fixed SQL and attribute keys from the static schema tables
 * (scim_schema.c) are ever written into the text.  Each rule mirrors
 * scim_filter_match() so a filter answers the same in memory and here.
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idkey.h"
#include "scim_error.h"
#include "scim_filter.h"
#include "scim_filter_sql.h"
#include "scim_schema.h"
#include "strbuf.h"

struct sqlgen {
	struct strbuf		 b;
	struct scim_sql		*out;
	enum scim_resource	 type;
	int			 next;
	struct scim_err		*err;
};

static int			 sql_node(struct sqlgen *,
				    const struct scim_filter *, const char *);
static int			 sql_param(struct sqlgen *, const char *,
				    size_t);

/* How a top-level attribute maps onto a real column. */
enum sql_colkind {
	COL_NONE,
	COL_UUID,
	COL_TEXT,
	COL_BOOL,
	COL_TIME,
	COL_KEY		/* a stored identity key (idkey.h) */
};

static const struct scim_attr uuid_text = {
	"id", SCIM_TYPE_STRING, 0, 0, SCIM_MUT_READONLY, SCIM_RET_ALWAYS,
	SCIM_UNIQ_SERVER, 0, NULL, 0
};

/* A stored key compares exactly with the key of the literal. */
static const struct scim_attr key_text = {
	"key", SCIM_TYPE_STRING, 0, 1, SCIM_MUT_READONLY, SCIM_RET_ALWAYS,
	SCIM_UNIQ_SERVER, 0, NULL, 0
};

/* Append a parameter; returns its $n, or -1 when out of memory. */
static int
sql_param(struct sqlgen *g, const char *s, size_t len)
{
	char		**np, *copy;
	size_t		  n;

	n = g->out->nparams;
	if ((np = realloc(g->out->params, (n + 1) * sizeof(*np))) == NULL)
		return (-1);
	g->out->params = np;
	if ((copy = strndup(s, len)) == NULL)
		return (-1);
	np[n] = copy;
	g->out->nparams = n + 1;
	return (g->next++);
}

static int
sql_oom(struct sqlgen *g)
{
	return (scim_err_set(g->err, 500, NULL,
	    "Out of memory compiling the filter."));
}

/* Text form of a literal, as a parameter; returns $n or -1. */
static int
sql_lit(struct sqlgen *g, const json_t *lit)
{
	char		*txt;
	int		 n;

	if (json_is_string(lit))
		return (sql_param(g, json_string_value(lit),
		    json_string_length(lit)));
	if (json_is_boolean(lit))
		return (sql_param(g, json_is_true(lit) ? "true" : "false",
		    json_is_true(lit) ? 4 : 5));
	if ((txt = json_dumps(lit, JSON_ENCODE_ANY)) == NULL)
		return (-1);
	n = sql_param(g, txt, strlen(txt));
	free(txt);
	return (n);
}

/*
 * A dateTime literal as a parameter, rewritten in UTC with an explicit
 * "Z": PostgreSQL would read a bare date or a timestamp without offset
 * in the session time zone, scim_filter_match() reads them as UTC.
 */
static int
sql_time(struct sqlgen *g, const json_t *lit)
{
	int64_t		 secs, days, y, doe, yoe, doy, mp, era, rem;
	long		 nsec;
	unsigned int	 d, m;
	char		 buf[64];
	int		 len;

	if (!json_is_string(lit) ||
	    scim_datetime_parse(json_string_value(lit), &secs, &nsec) == -1)
		return (sql_lit(g, lit));

	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* civil_from_days (H. Hinnant). */
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
	m = (unsigned int)(mp < 10 ? mp + 3 : mp - 9);
	if (m <= 2)
		y++;
	len = snprintf(buf, sizeof(buf),
	    "%04lld-%02u-%02uT%02u:%02u:%02u.%09ldZ", (long long)y, m, d,
	    (unsigned int)(rem / 3600), (unsigned int)(rem % 3600 / 60),
	    (unsigned int)(rem % 60), nsec);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return (sql_lit(g, lit));
	return (sql_param(g, buf, (size_t)len));
}

/* A LIKE pattern for co/sw/ew with \, % and _ escaped; returns $n. */
static int
sql_like(struct sqlgen *g, enum scim_filter_op op, const json_t *lit)
{
	const char	*s;
	char		*pat;
	size_t		 i, o, len;
	int		 n;

	s = json_string_value(lit);
	len = json_string_length(lit);
	if ((pat = malloc(len * 2 + 3)) == NULL)
		return (-1);
	o = 0;
	if (op == SCIM_FOP_CO || op == SCIM_FOP_EW)
		pat[o++] = '%';
	for (i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '%' || s[i] == '_')
			pat[o++] = '\\';
		pat[o++] = s[i];
	}
	if (op == SCIM_FOP_CO || op == SCIM_FOP_SW)
		pat[o++] = '%';
	n = sql_param(g, pat, o);
	free(pat);
	return (n);
}

static const char *
sql_opword(enum scim_filter_op op)
{
	switch (op) {
	case SCIM_FOP_GT:
		return (">");
	case SCIM_FOP_GE:
		return (">=");
	case SCIM_FOP_LT:
		return ("<");
	case SCIM_FOP_LE:
		return ("<=");
	default:
		return ("=");
	}
}

/*
 * Compare text expression T (jsonb J) of type t with a non-null literal,
 * for eq, co, sw, ew, gt, ge, lt, le.
 */
static int
sql_cmp(struct sqlgen *g, enum scim_filter_op op, const json_t *lit,
    const struct scim_attr *t, const char *T, const char *J)
{
	enum scim_attr_type	 type;
	int			 n, ci;

	type = t != NULL ? t->type : SCIM_TYPE_STRING;
	ci = t != NULL ? !t->case_exact : 0;

	switch (type) {
	case SCIM_TYPE_BOOLEAN:
		if ((n = sql_lit(g, lit)) == -1)
			return (sql_oom(g));
		strbuf_printf(&g->b, "(%s = $%d::text)", T, n);
		return (0);
	case SCIM_TYPE_DATETIME:
		if ((n = sql_time(g, lit)) == -1)
			return (sql_oom(g));
		strbuf_printf(&g->b, "((%s)::timestamptz %s $%d::timestamptz)", T,
		    sql_opword(op), n);
		return (0);
	case SCIM_TYPE_INTEGER:
	case SCIM_TYPE_DECIMAL:
		if ((n = sql_lit(g, lit)) == -1)
			return (sql_oom(g));
		strbuf_printf(&g->b, "(CASE WHEN jsonb_typeof(%s) = 'number' THEN "
		    "(%s)::numeric END %s $%d::numeric)", J, T,
		    sql_opword(op), n);
		return (0);
	default:
		break;
	}

	if (!json_is_string(lit))
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "Cannot compare a string attribute with %s.",
		    json_is_boolean(lit) ? "a boolean" : "this value"));
	switch (op) {
	case SCIM_FOP_CO:
	case SCIM_FOP_SW:
	case SCIM_FOP_EW:
		if ((n = sql_like(g, op, lit)) == -1)
			return (sql_oom(g));
		if (ci)
			strbuf_printf(&g->b, "(lower(%s) LIKE lower($%d::text) "
			    "ESCAPE '\\')", T, n);
		else
			strbuf_printf(&g->b, "(%s LIKE $%d::text ESCAPE '\\')", T, n);
		return (0);
	case SCIM_FOP_EQ:
		if ((n = sql_lit(g, lit)) == -1)
			return (sql_oom(g));
		if (ci)
			strbuf_printf(&g->b, "(lower(%s) = lower($%d::text))", T, n);
		else
			strbuf_printf(&g->b, "(%s = $%d::text)", T, n);
		return (0);
	default:
		/* Byte order, as scim_filter_match() compares. */
		if ((n = sql_lit(g, lit)) == -1)
			return (sql_oom(g));
		if (ci)
			strbuf_printf(&g->b, "(lower(%s) COLLATE \"C\" %s "
			    "lower($%d::text))", T, sql_opword(op), n);
		else
			strbuf_printf(&g->b, "(%s COLLATE \"C\" %s $%d::text)", T,
			    sql_opword(op), n);
		return (0);
	}
}

static void
sql_present(struct sqlgen *g, const char *J)
{
	strbuf_printf(&g->b, "COALESCE(%s NOT IN ('null'::jsonb, '\"\"'::jsonb, "
	    "'[]'::jsonb, '{}'::jsonb), false)", J);
}

/*
 * A comparison or pr node on one jsonb value J / its text T.  ne is
 * written as the negation of eq, and null literals as (not) present,
 * mirroring scim_filter_match().
 */
static int
sql_leaf(struct sqlgen *g, const struct scim_filter *f,
    const struct scim_attr *t, const char *T, const char *J)
{
	enum scim_filter_op	op;
	int			r;

	if (f->op == SCIM_FOP_PR) {
		sql_present(g, J);
		return (0);
	}
	op = f->op == SCIM_FOP_NE ? SCIM_FOP_EQ : f->op;
	if (json_is_null(f->value)) {
		if (op != SCIM_FOP_EQ) {
			strbuf_printf(&g->b, "FALSE");
			return (0);
		}
		strbuf_printf(&g->b, f->op == SCIM_FOP_NE ? "(" : "(NOT ");
		sql_present(g, J);
		strbuf_printf(&g->b, ")");
		return (0);
	}
	if (f->op == SCIM_FOP_NE)
		strbuf_printf(&g->b, "(NOT COALESCE(");
	r = sql_cmp(g, op, f->value, t, T, J);
	if (f->op == SCIM_FOP_NE)
		strbuf_printf(&g->b, ", false))");
	return (r);
}

static int
is_uuid(const char *s)
{
	size_t		i, n;

	n = strlen(s);
	if (n == 36) {
		for (i = 0; i < n; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				if (s[i] != '-')
					return (0);
			} else if (!isxdigit((unsigned char)s[i]))
				return (0);
		}
		return (1);
	}
	if (n == 32) {
		for (i = 0; i < n; i++) {
			if (!isxdigit((unsigned char)s[i]))
				return (0);
		}
		return (1);
	}
	return (0);
}

/* Column for a top-level path, or NULL. */
static const char *
sql_column(enum scim_resource type, const struct scim_filter_path *path,
    enum sql_colkind *kind)
{
	const char	*n, *s;

	*kind = COL_NONE;
	if (path->relative || path->ref.schema == NULL ||
	    path->ref.schema->extension)
		return (NULL);
	n = path->ref.attr->name;
	s = path->ref.sub != NULL ? path->ref.sub->name : NULL;

	if (s == NULL && strcmp(n, "id") == 0) {
		*kind = COL_UUID;
		return ("id");
	}
	if (s == NULL && strcmp(n, "externalId") == 0) {
		*kind = COL_TEXT;
		return ("external_id");
	}
	if (s == NULL && strcmp(n, "displayName") == 0) {
		*kind = COL_TEXT;
		return ("display_name");
	}
	if (type == SCIM_RES_USER && s == NULL && strcmp(n, "userName") == 0) {
		*kind = COL_KEY;
		return ("user_name_key");
	}
	if (type == SCIM_RES_USER && s == NULL && strcmp(n, "active") == 0) {
		*kind = COL_BOOL;
		return ("active");
	}
	if (s != NULL && strcmp(n, "meta") == 0) {
		if (strcmp(s, "created") == 0) {
			*kind = COL_TIME;
			return ("created_at");
		}
		if (strcmp(s, "lastModified") == 0) {
			*kind = COL_TIME;
			return ("updated_at");
		}
	}
	return (NULL);
}

/*
 * *out: the identity key of f's string literal as a new JSON string, or
 * NULL for any other literal (left to the usual type checks).
 */
static int
sql_keylit(struct sqlgen *g, const struct scim_filter *f, json_t **out)
{
	char	*k;
	int	 rc;

	*out = NULL;
	if (!json_is_string(f->value))
		return (0);
	if ((k = idkey_dup(json_string_value(f->value), &rc)) == NULL) {
		if (rc == IDKEY_ENOMEM)
			return (sql_oom(g));
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "The value compared with '%s' %s.", f->path.name != NULL ?
		    f->path.name : "value", idkey_strerror(rc)));
	}
	*out = json_string(k);
	free(k);
	return (*out == NULL ? sql_oom(g) : 0);
}

/* A leaf on an identity name: stored key T against the literal's key. */
static int
sql_keyleaf(struct sqlgen *g, const struct scim_filter *f, const char *T,
    const char *J)
{
	struct scim_filter	 kf;
	json_t			*k;
	int			 r;

	if (sql_keylit(g, f, &k) == -1)
		return (-1);
	kf = *f;
	if (k != NULL)
		kf.value = k;
	r = sql_leaf(g, &kf, &key_text, T, J);
	json_decref(k);
	return (r);
}

static int
sql_colnode(struct sqlgen *g, const struct scim_filter *f, const char *col,
    enum sql_colkind kind)
{
	json_t			*k;
	const struct scim_attr	*t;
	enum scim_filter_op	 op;
	char			 T[64];
	int			 n, r;

	t = scim_attr_ref_target(&f->path.ref);
	if (f->op == SCIM_FOP_PR) {
		if (kind == COL_TEXT)
			strbuf_printf(&g->b, "(%s IS NOT NULL AND %s <> '')", col, col);
		else
			strbuf_printf(&g->b, "(%s IS NOT NULL)", col);
		return (0);
	}
	op = f->op == SCIM_FOP_NE ? SCIM_FOP_EQ : f->op;
	if (json_is_null(f->value)) {
		if (op != SCIM_FOP_EQ)
			strbuf_printf(&g->b, "FALSE");
		else if (f->op == SCIM_FOP_NE)
			strbuf_printf(&g->b, "(%s IS NOT NULL)", col);
		else
			strbuf_printf(&g->b, "(%s IS NULL)", col);
		return (0);
	}

	if (f->op == SCIM_FOP_NE)
		strbuf_printf(&g->b, "(NOT COALESCE(");
	r = 0;
	switch (kind) {
	case COL_UUID:
		if (op == SCIM_FOP_EQ) {
			/* A malformed id can match nothing; never cast it. */
			if (!json_is_string(f->value) ||
			    !is_uuid(json_string_value(f->value))) {
				strbuf_printf(&g->b, "FALSE");
				break;
			}
			if ((n = sql_lit(g, f->value)) == -1)
				return (sql_oom(g));
			strbuf_printf(&g->b, "(%s = $%d::uuid)", col, n);
			break;
		}
		/* uuid text is lower case; compare the literal alike. */
		(void)snprintf(T, sizeof(T), "%s::text", col);
		r = sql_cmp(g, op, f->value, &uuid_text, T, "NULL");
		break;
	case COL_BOOL:
		if ((n = sql_lit(g, f->value)) == -1)
			return (sql_oom(g));
		strbuf_printf(&g->b, "(%s = $%d::boolean)", col, n);
		break;
	case COL_TIME:
		if ((n = sql_time(g, f->value)) == -1)
			return (sql_oom(g));
		strbuf_printf(&g->b, "(%s %s $%d::timestamptz)", col, sql_opword(op),
		    n);
		break;
	case COL_KEY:
		if (sql_keylit(g, f, &k) == -1)
			return (-1);
		r = sql_cmp(g, op, k != NULL ? k : f->value, &key_text, col,
		    "NULL");
		json_decref(k);
		break;
	default:
		r = sql_cmp(g, op, f->value, t, col, "NULL");
		break;
	}
	if (f->op == SCIM_FOP_NE)
		strbuf_printf(&g->b, ", false))");
	return (r);
}

/* jsonb expression of a top-level attribute inside doc. */
static void
sql_attr_json(const struct scim_filter_path *path, char *buf, size_t len)
{
	if (path->ref.schema != NULL && path->ref.schema->extension)
		(void)snprintf(buf, len, "doc->'%s'->'%s'",
		    path->ref.schema->urn, path->ref.attr->name);
	else
		(void)snprintf(buf, len, "doc->'%s'", path->ref.attr->name);
}

/*
 * A leaf relative to one element whose jsonb expression is base: the
 * element's sub-attribute, or its "value" when the path names the
 * element itself (or a simple multi-valued attribute's element).
 */
static int
sql_relleaf(struct sqlgen *g, const struct scim_filter *f,
    const struct scim_attr *attr, const char *sub, const char *base)
{
	const struct scim_attr	*t;
	char			 J[512], T[512];

	if (attr->type != SCIM_TYPE_COMPLEX) {
		(void)snprintf(J, sizeof(J), "%s", base);
		(void)snprintf(T, sizeof(T), "(%s #>> '{}')", base);
		return (sql_leaf(g, f, attr, T, J));
	}
	if (sub == NULL && f->op == SCIM_FOP_PR) {
		sql_present(g, base);
		return (0);
	}
	t = scim_attr_sub(attr, sub != NULL ? sub : "value");
	if (t == NULL)
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "'%s' has no value to compare; name a sub-attribute.",
		    attr->name));
	(void)snprintf(J, sizeof(J), "%s->'%s'", base, t->name);
	(void)snprintf(T, sizeof(T), "%s->>'%s'", base, t->name);
	/* An email address compares by the stored key of its element. */
	if (g->type == SCIM_RES_USER && strcmp(attr->name, "emails") == 0 &&
	    strcmp(t->name, "value") == 0 && strcmp(base, "e.v") == 0)
		return (sql_keyleaf(g, f, "emails_key[e.o::int]", J));
	return (sql_leaf(g, f, t, T, J));
}

static void
sql_elements(struct sqlgen *g, const char *J)
{
	/* The ordinal finds an email's key in users.emails_key. */
	strbuf_printf(&g->b, "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN "
	    "jsonb_typeof(%s) = 'array' THEN %s ELSE '[]'::jsonb END) WITH "
	    "ORDINALITY AS e(v, o) WHERE ", J, J);
}

/* Literal of an "eq" on members.value / groups.value, or NULL. */
static const json_t *
sql_member_eq(const struct scim_filter *f)
{
	const struct scim_filter	*l;

	if (f->op == SCIM_FOP_EQ && !f->path.relative &&
	    (f->path.sub == NULL || strcmp(f->path.sub, "value") == 0))
		return (json_is_string(f->value) ? f->value : NULL);
	if (f->op == SCIM_FOP_VALUEPATH && (f->right == NULL ||
	    f->right->op == SCIM_FOP_PR)) {
		l = f->left;
		if (l->op == SCIM_FOP_EQ && l->path.name != NULL &&
		    strcmp(l->path.name, "value") == 0 &&
		    json_is_string(l->value))
			return (l->value);
	}
	return (NULL);
}

/*
 * members (groups) and groups (users) are not in doc: they come from
 * the memberships table.  Only "who is in it" questions are answered.
 */
static int
sql_membership(struct sqlgen *g, const struct scim_filter *f)
{
	const json_t	*lit;
	const char	*self, *other, *table;
	int		 n, neg;

	table = g->type == SCIM_RES_GROUP ? "groups" : "users";
	self = g->type == SCIM_RES_GROUP ? "group_id" : "user_id";
	other = g->type == SCIM_RES_GROUP ? "user_id" : "group_id";

	if (f->op == SCIM_FOP_PR && !f->path.relative) {
		strbuf_printf(&g->b, "EXISTS (SELECT 1 FROM memberships m WHERE "
		    "m.%s = %s.id)", self, table);
		return (0);
	}
	neg = 0;
	if (f->op == SCIM_FOP_NE && (f->path.sub == NULL ||
	    strcmp(f->path.sub, "value") == 0) && json_is_string(f->value))
		neg = 1;
	lit = neg ? f->value : sql_member_eq(f);
	if (lit == NULL)
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "Only '%s.value eq \"<id>\"', '%s[value eq \"<id>\"]' and "
		    "'%s pr' can be used to filter on %s.", f->path.name,
		    f->path.name, f->path.name, f->path.name));
	if (!is_uuid(json_string_value(lit))) {
		strbuf_printf(&g->b, neg ? "TRUE" : "FALSE");
		return (0);
	}
	if ((n = sql_param(g, json_string_value(lit),
	    json_string_length(lit))) == -1)
		return (sql_oom(g));
	strbuf_printf(&g->b, "%sEXISTS (SELECT 1 FROM memberships m WHERE m.%s = "
	    "%s.id AND m.%s = $%d::uuid)", neg ? "NOT " : "", self, table,
	    other, n);
	return (0);
}

/* Literal of an indexable email equality, or NULL. */
static const json_t *
sql_email_eq(const struct scim_filter *f)
{
	const struct scim_filter	*r;

	if (f->op == SCIM_FOP_EQ && !f->path.relative &&
	    (f->path.sub == NULL || strcmp(f->path.sub, "value") == 0))
		return (json_is_string(f->value) ? f->value : NULL);
	if (f->op == SCIM_FOP_VALUEPATH && (r = f->right) != NULL &&
	    r->op == SCIM_FOP_EQ && r->path.name != NULL &&
	    strcmp(r->path.name, "value") == 0 && json_is_string(r->value))
		return (r->value);
	return (NULL);
}

static int
sql_node(struct sqlgen *g, const struct scim_filter *f, const char *base)
{
	const struct scim_attr	*attr;
	struct scim_filter	 pos;
	const json_t		*lit;
	json_t			*key;
	const char		*col;
	enum sql_colkind	 kind;
	char			 J[512];
	int			 n, neg;

	switch (f->op) {
	case SCIM_FOP_AND:
	case SCIM_FOP_OR:
		strbuf_printf(&g->b, "(");
		if (sql_node(g, f->left, base) == -1)
			return (-1);
		strbuf_printf(&g->b, f->op == SCIM_FOP_AND ? " AND " : " OR ");
		if (sql_node(g, f->right, base) == -1)
			return (-1);
		strbuf_printf(&g->b, ")");
		return (0);
	case SCIM_FOP_NOT:
		strbuf_printf(&g->b, "(NOT COALESCE(");
		if (sql_node(g, f->left, base) == -1)
			return (-1);
		strbuf_printf(&g->b, ", false))");
		return (0);
	default:
		break;
	}

	if (f->path.relative) {
		/* Inside a value filter: base is the element. */
		return (sql_relleaf(g, f, f->path.ref.attr, f->path.name, base));
	}

	attr = f->path.ref.attr;
	if (attr->returned == SCIM_RET_NEVER)
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "'%s' cannot be used in a filter.", attr->name));
	if ((g->type == SCIM_RES_GROUP && strcmp(attr->name, "members") == 0) ||
	    (g->type == SCIM_RES_USER && strcmp(attr->name, "groups") == 0))
		return (sql_membership(g, f));

	if (strcmp(attr->name, "meta") == 0) {
		if ((col = sql_column(g->type, &f->path, &kind)) != NULL)
			return (sql_colnode(g, f, col, kind));
		if (f->path.sub == NULL && f->op == SCIM_FOP_PR) {
			strbuf_printf(&g->b, "TRUE");
			return (0);
		}
		if (f->path.sub != NULL &&
		    strcmp(f->path.sub, "resourceType") == 0)
			return (sql_leaf(g, f, f->path.ref.sub,
			    g->type == SCIM_RES_GROUP ? "'Group'::text" :
			    "'User'::text", g->type == SCIM_RES_GROUP ?
			    "'\"Group\"'::jsonb" : "'\"User\"'::jsonb"));
		return (scim_err_set(g->err, 400, SCIM_ERR_INVALID_FILTER,
		    "meta.%s cannot be used in a filter; use meta.created or "
		    "meta.lastModified.", f->path.sub != NULL ? f->path.sub :
		    "*"));
	}
	if (f->op != SCIM_FOP_VALUEPATH &&
	    (col = sql_column(g->type, &f->path, &kind)) != NULL)
		return (sql_colnode(g, f, col, kind));

	sql_attr_json(&f->path, J, sizeof(J));

	/*
	 * emails: the GIN-indexed keys; with a value filter, the key of
	 * the very element the filter matched.
	 */
	if (g->type == SCIM_RES_USER && strcmp(attr->name, "emails") == 0 &&
	    (lit = sql_email_eq(f)) != NULL) {
		pos = *f;
		pos.value = (json_t *)(uintptr_t)lit;
		if (sql_keylit(g, &pos, &key) == -1)
			return (-1);
		n = sql_param(g, json_string_value(key),
		    json_string_length(key));
		json_decref(key);
		if (n == -1)
			return (sql_oom(g));
		if (f->op != SCIM_FOP_VALUEPATH) {
			strbuf_printf(&g->b, "(emails_key @> ARRAY[$%d::text])", n);
			return (0);
		}
		strbuf_printf(&g->b, "(emails_key @> ARRAY[$%d::text] AND ", n);
		sql_elements(g, J);
		strbuf_printf(&g->b, "(");
		if (sql_node(g, f->left, "e.v") == -1)
			return (-1);
		strbuf_printf(&g->b, ") AND emails_key[e.o::int] = $%d::text))", n);
		return (0);
	}

	if (f->op == SCIM_FOP_VALUEPATH) {
		if (attr->multi_valued)
			sql_elements(g, J);
		else
			strbuf_printf(&g->b, "(jsonb_typeof(%s) = 'object' AND ", J);
		strbuf_printf(&g->b, "(");
		if (sql_node(g, f->left, attr->multi_valued ? "e.v" : J) == -1)
			return (-1);
		strbuf_printf(&g->b, ")");
		if (f->right != NULL) {
			strbuf_printf(&g->b, " AND (");
			if (sql_node(g, f->right, attr->multi_valued ? "e.v" :
			    J) == -1)
				return (-1);
			strbuf_printf(&g->b, ")");
		}
		strbuf_printf(&g->b, ")");
		return (0);
	}

	if (!attr->multi_valued) {
		if (attr->type == SCIM_TYPE_COMPLEX && f->path.sub == NULL &&
		    f->op == SCIM_FOP_PR) {
			sql_present(g, J);
			return (0);
		}
		if (attr->type == SCIM_TYPE_COMPLEX)
			return (sql_relleaf(g, f, attr, f->path.sub, J));
		return (sql_relleaf(g, f, attr, NULL, J));
	}

	/*
	 * Multi-valued: "any element matches".  ne and eq null are the
	 * negation of the positive test over all elements, as in
	 * scim_filter_match().
	 */
	if (f->op == SCIM_FOP_PR && f->path.sub == NULL) {
		sql_elements(g, J);
		sql_present(g, "e.v");
		strbuf_printf(&g->b, ")");
		return (0);
	}
	if (f->op == SCIM_FOP_NE || json_is_null(f->value)) {
		pos = *f;
		pos.op = json_is_null(f->value) ? SCIM_FOP_PR : SCIM_FOP_EQ;
		neg = (f->op == SCIM_FOP_NE) != json_is_null(f->value);
		if (json_is_null(f->value) && f->op != SCIM_FOP_EQ &&
		    f->op != SCIM_FOP_NE) {
			strbuf_printf(&g->b, "FALSE");
			return (0);
		}
		strbuf_printf(&g->b, neg ? "(NOT " : "(");
		sql_elements(g, J);
		if (sql_relleaf(g, &pos, attr, f->path.sub, "e.v") == -1)
			return (-1);
		strbuf_printf(&g->b, "))");
		return (0);
	}
	sql_elements(g, J);
	if (sql_relleaf(g, f, attr, f->path.sub, "e.v") == -1)
		return (-1);
	strbuf_printf(&g->b, ")");
	return (0);
}

int
scim_filter_to_sql(const struct scim_filter *f, enum scim_resource type,
    struct scim_sql *out, int first_param, struct scim_err *err)
{
	struct sqlgen	g;

	memset(out, 0, sizeof(*out));
	if (f == NULL || (type != SCIM_RES_USER && type != SCIM_RES_GROUP))
		return (scim_err_set(err, 500, NULL,
		    "internal: no filter or no table to compile it for"));
	memset(&g, 0, sizeof(g));
	g.out = out;
	g.type = type;
	g.next = first_param;
	g.err = err;

	if (sql_node(&g, f, NULL) == -1 || g.b.oom) {
		if (g.b.oom)
			(void)sql_oom(&g);
		free(g.b.s);
		scim_sql_clear(out);
		return (-1);
	}
	out->text = g.b.s;
	return (0);
}

void
scim_sql_clear(struct scim_sql *sql)
{
	size_t		i;

	if (sql == NULL)
		return;
	for (i = 0; i < sql->nparams; i++)
		free(sql->params[i]);
	free(sql->params);
	free(sql->text);
	memset(sql, 0, sizeof(*sql));
}
