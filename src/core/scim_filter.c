/*
 * scim_filter: RFC 7644 section 3.4.2.2 filter parser, plus the PATCH
 * path parser built on the same code and the canonical text of a filter.
 *
 * The parser works directly on the text (no token array) so that it can
 * be context-sensitive where real clients need it: "not" is a keyword
 * unless it can only be an attribute name (scimmy's "not eq pr"), and a
 * value that is neither a JSON literal nor quoted is read as a bare word
 * (Microsoft's suite sends userName sw O).  Every limit is checked before
 * the recursion it guards, so hostile input costs at most a few
 * kilobytes of stack.
 *
 * Evaluation is in scim_filter_match.c; the compiler into SQL for the
 * list endpoints lives with the store (src/store/scim_filter_sql.c): it
 * alone knows the tables.
 *
 * Why one file of about 1,300 lines: the lexer, the recursive descent,
 * the type-check, the PATCH path parser and the canonical text all share
 * the parser's internal state and limits; split, they would need a
 * private header exposing all of it.
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_filter.h"
#include "scim_schema.h"
#include "strbuf.h"

struct parser {
	const char			*text;
	const char			*p;
	enum scim_resource		 type;
	const struct scim_attr_ref	*ctx;	/* inside [ ]: the attribute */
	int				 depth;
	int				 terms;
	int				 failed;
	struct scim_err			*err;
};

static const struct {
	const char		*word;
	enum scim_filter_op	 op;
} ops[] = {
	{ "eq", SCIM_FOP_EQ }, { "ne", SCIM_FOP_NE }, { "co", SCIM_FOP_CO },
	{ "sw", SCIM_FOP_SW }, { "ew", SCIM_FOP_EW }, { "gt", SCIM_FOP_GT },
	{ "ge", SCIM_FOP_GE }, { "lt", SCIM_FOP_LT }, { "le", SCIM_FOP_LE },
	{ "pr", SCIM_FOP_PR },
};

static int			 perr(struct parser *, const char *,
				    const char *, ...)
				    __attribute__((format(printf, 3, 4)));
static int			 column(const struct parser *, const char *);
static void			 skip_ws(struct parser *);
static int			 is_delim(char);
static int			 is_namechar(char);
static int			 keyword_at(const char *, const char *);
static int			 op_at(const char *, enum scim_filter_op *);
static struct scim_filter	*node_new(enum scim_filter_op, int);
static struct scim_filter	*parse_or(struct parser *);
static struct scim_filter	*parse_and(struct parser *);
static struct scim_filter	*parse_not(struct parser *);
static struct scim_filter	*parse_primary(struct parser *);
static struct scim_filter	*parse_attrexp(struct parser *);
static struct scim_filter	*parse_oppart(struct parser *,
				    struct scim_filter_path *, int);
static json_t			*parse_value(struct parser *);
static json_t			*parse_string(struct parser *);
static int			 resolve_path(struct parser *, const char *,
				    size_t, int, struct scim_filter_path *);
static int			 typecheck(struct parser *,
				    struct scim_filter *);
static void			 path_free(struct scim_filter_path *);
static int			 run_parse(struct parser *,
				    struct scim_filter **);

static void			 to_string(struct strbuf *,
				    const struct scim_filter *);
static void			 path_string(struct strbuf *,
				    const struct scim_filter_path *);

int
scim_filter_parse(enum scim_resource type, const char *text,
    struct scim_filter **out, struct scim_err *err)
{
	struct parser	ps;

	memset(&ps, 0, sizeof(ps));
	ps.type = type;
	ps.text = text;
	ps.err = err;
	return (run_parse(&ps, out));
}

int
scim_filter_parse_value(enum scim_resource type,
    const struct scim_attr_ref *ref, const char *text,
    struct scim_filter **out, struct scim_err *err)
{
	struct parser	ps;

	memset(&ps, 0, sizeof(ps));
	ps.type = type;
	ps.text = text;
	ps.err = err;
	ps.ctx = ref;
	if (ref == NULL || (type != SCIM_RES_NONE && ref->attr == NULL)) {
		*out = NULL;
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_FILTER,
		    "A value filter needs the attribute it applies to."));
	}
	return (run_parse(&ps, out));
}

static int
run_parse(struct parser *ps, struct scim_filter **out)
{
	struct scim_filter	*f;
	size_t			 len;

	*out = NULL;
	if (ps->text == NULL)
		return (scim_err_set(ps->err, 400, SCIM_ERR_INVALID_FILTER,
		    "The filter is empty."));
	len = strlen(ps->text);
	if (len > SCIM_FILTER_MAX_LEN)
		return (scim_err_set(ps->err, 400, SCIM_ERR_INVALID_FILTER,
		    "The filter is %zu bytes long; at most %d are accepted.",
		    len, SCIM_FILTER_MAX_LEN));
	ps->p = ps->text;
	skip_ws(ps);
	if (*ps->p == '\0')
		return (scim_err_set(ps->err, 400, SCIM_ERR_INVALID_FILTER,
		    "The filter is empty; send e.g. userName eq "
		    "\"alice@contoso.com\"."));

	if ((f = parse_or(ps)) == NULL)
		return (-1);
	skip_ws(ps);
	if (*ps->p != '\0') {
		scim_filter_free(f);
		if (*ps->p == ')')
			return (perr(ps, ps->p, "unbalanced ')' (no matching "
			    "'(' before it)"));
		if (*ps->p == ']')
			return (perr(ps, ps->p, "unbalanced ']'"));
		return (perr(ps, ps->p, "expected 'and', 'or' or the end of "
		    "the filter, found '%.30s'", ps->p));
	}
	*out = f;
	return (0);
}

static int
column(const struct parser *ps, const char *at)
{
	return ((int)(at - ps->text) + 1);
}

/* Record the first parse error (later ones are consequences). */
static int
perr(struct parser *ps, const char *at, const char *fmt, ...)
{
	char		msg[200];
	va_list		ap;

	if (ps->failed)
		return (-1);
	ps->failed = 1;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (scim_err_set(ps->err, 400, SCIM_ERR_INVALID_FILTER,
	    "Invalid filter at column %d: %s.", column(ps, at), msg));
}

static void
skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static int
is_delim(char c)
{
	return (c == '\0' || c == ' ' || c == '\t' || c == '(' || c == ')' ||
	    c == '[' || c == ']');
}

/* RFC 7644 ATTRNAME chars, '$' for $ref, ':' and '.' for URN paths. */
static int
is_namechar(char c)
{
	return (isalnum((unsigned char)c) || c == '-' || c == '_' ||
	    c == '$' || c == ':' || c == '.');
}

/* Is kw (lower case) at p, case-insensitively, followed by a delimiter? */
static int
keyword_at(const char *p, const char *kw)
{
	size_t		len = strlen(kw);

	return (strncasecmp(p, kw, len) == 0 && is_delim(p[len]));
}

static int
op_at(const char *p, enum scim_filter_op *op)
{
	size_t		i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (keyword_at(p, ops[i].word)) {
			*op = ops[i].op;
			return (1);
		}
	}
	return (0);
}

static struct scim_filter *
node_new(enum scim_filter_op op, int col)
{
	struct scim_filter	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return (NULL);
	f->op = op;
	f->column = col;
	return (f);
}

static struct scim_filter *
parse_or(struct parser *ps)
{
	struct scim_filter	*left, *right, *n;
	const char		*at;

	if ((left = parse_and(ps)) == NULL)
		return (NULL);
	for (;;) {
		skip_ws(ps);
		at = ps->p;
		if (!keyword_at(at, "or"))
			return (left);
		ps->p += 2;
		if ((right = parse_and(ps)) == NULL) {
			scim_filter_free(left);
			return (NULL);
		}
		if ((n = node_new(SCIM_FOP_OR, column(ps, at))) == NULL) {
			scim_filter_free(left);
			scim_filter_free(right);
			perr(ps, at, "out of memory");
			return (NULL);
		}
		n->left = left;
		n->right = right;
		left = n;
	}
}

static struct scim_filter *
parse_and(struct parser *ps)
{
	struct scim_filter	*left, *right, *n;
	const char		*at;

	if ((left = parse_not(ps)) == NULL)
		return (NULL);
	for (;;) {
		skip_ws(ps);
		at = ps->p;
		if (!keyword_at(at, "and"))
			return (left);
		ps->p += 3;
		if ((right = parse_not(ps)) == NULL) {
			scim_filter_free(left);
			return (NULL);
		}
		if ((n = node_new(SCIM_FOP_AND, column(ps, at))) == NULL) {
			scim_filter_free(left);
			scim_filter_free(right);
			perr(ps, at, "out of memory");
			return (NULL);
		}
		n->left = left;
		n->right = right;
		left = n;
	}
}

static struct scim_filter *
parse_not(struct parser *ps)
{
	struct scim_filter	*child, *n;
	struct scim_err		 first;
	const char		*at;
	int			 terms, depth;

	skip_ws(ps);
	at = ps->p;
	if (strncasecmp(at, "not", 3) != 0 || (!is_delim(at[3])) ||
	    at[3] == ')' || at[3] == ']' || at[3] == '[' || at[3] == '\0')
		return (parse_primary(ps));

	if (++ps->depth > SCIM_FILTER_MAX_DEPTH) {
		perr(ps, at, "nesting deeper than %d levels of not, ( ) and "
		    "[ ]", SCIM_FILTER_MAX_DEPTH);
		return (NULL);
	}
	terms = ps->terms;
	depth = ps->depth - 1;
	ps->p += 3;
	child = parse_not(ps);
	ps->depth--;
	if (child != NULL) {
		if ((n = node_new(SCIM_FOP_NOT, column(ps, at))) == NULL) {
			scim_filter_free(child);
			perr(ps, at, "out of memory");
			return (NULL);
		}
		n->left = child;
		return (n);
	}

	/*
	 * "not" may also be an attribute name ("not sw "A"" in scimmy's
	 * vectors); retry it as one, but report the keyword reading's error
	 * if that fails too, since it is the likelier intent.
	 */
	if (ps->err != NULL)
		first = *ps->err;
	else
		scim_err_init(&first);
	ps->failed = 0;
	ps->p = at;
	ps->terms = terms;
	ps->depth = depth;
	if ((child = parse_primary(ps)) != NULL)
		return (child);
	if (ps->err != NULL)
		*ps->err = first;
	ps->failed = 1;
	return (NULL);
}

static struct scim_filter *
parse_primary(struct parser *ps)
{
	struct scim_filter	*f;
	const char		*at;

	skip_ws(ps);
	at = ps->p;
	if (*at == '(') {
		if (++ps->depth > SCIM_FILTER_MAX_DEPTH) {
			perr(ps, at, "nesting deeper than %d levels of not, "
			    "( ) and [ ]", SCIM_FILTER_MAX_DEPTH);
			return (NULL);
		}
		ps->p++;
		if ((f = parse_or(ps)) == NULL)
			return (NULL);
		skip_ws(ps);
		if (*ps->p != ')') {
			scim_filter_free(f);
			if (*ps->p == '\0')
				perr(ps, at, "'(' is never closed");
			else
				perr(ps, ps->p, "expected ')', found '%.30s'",
				    ps->p);
			return (NULL);
		}
		ps->p++;
		ps->depth--;
		return (f);
	}
	if (*at == '\0') {
		perr(ps, at, "the filter ends where an attribute expression "
		    "was expected");
		return (NULL);
	}
	return (parse_attrexp(ps));
}

static struct scim_filter *
parse_attrexp(struct parser *ps)
{
	struct scim_filter_path	 path, rel;
	struct scim_filter	*vp, *inner;
	const struct scim_attr_ref *saved;
	const char		*at, *start, *save;
	enum scim_filter_op	 op;
	size_t			 len;

	at = ps->p;
	if (++ps->terms > SCIM_FILTER_MAX_TERMS) {
		perr(ps, at, "more than %d attribute expressions",
		    SCIM_FILTER_MAX_TERMS);
		return (NULL);
	}

	start = ps->p;
	while (is_namechar(*ps->p))
		ps->p++;
	len = (size_t)(ps->p - start);
	if (len == 0) {
		if ((unsigned char)*at < 0x20 || *at == 0x7f)
			perr(ps, at, "control character 0x%02x is not "
			    "allowed", (unsigned char)*at);
		else
			perr(ps, at, "expected an attribute name, found "
			    "'%.30s'", at);
		return (NULL);
	}

	memset(&path, 0, sizeof(path));
	if (*ps->p != '[') {
		if (resolve_path(ps, start, len, ps->ctx != NULL, &path) == -1)
			return (NULL);
		return (parse_oppart(ps, &path, column(ps, at)));
	}

	/* attr[valFilter] [.sub op value | op value] */
	if (ps->ctx != NULL) {
		perr(ps, ps->p, "a value filter cannot be nested inside "
		    "another one");
		return (NULL);
	}
	if (resolve_path(ps, start, len, 0, &path) == -1)
		return (NULL);
	if (path.sub != NULL || (path.ref.attr != NULL &&
	    path.ref.attr->type != SCIM_TYPE_COMPLEX)) {
		perr(ps, ps->p, "'[' must follow a multi-valued or complex "
		    "attribute such as emails, not '%.*s'", (int)len, start);
		path_free(&path);
		return (NULL);
	}
	if ((vp = node_new(SCIM_FOP_VALUEPATH, column(ps, at))) == NULL) {
		path_free(&path);
		perr(ps, at, "out of memory");
		return (NULL);
	}
	vp->path = path;

	if (++ps->depth > SCIM_FILTER_MAX_DEPTH) {
		scim_filter_free(vp);
		perr(ps, ps->p, "nesting deeper than %d levels of not, ( ) "
		    "and [ ]", SCIM_FILTER_MAX_DEPTH);
		return (NULL);
	}
	save = ps->p++;
	saved = ps->ctx;
	ps->ctx = &vp->path.ref;
	inner = parse_or(ps);
	ps->ctx = saved;
	if (inner == NULL) {
		scim_filter_free(vp);
		return (NULL);
	}
	vp->left = inner;
	skip_ws(ps);
	if (*ps->p != ']') {
		scim_filter_free(vp);
		if (*ps->p == '\0')
			perr(ps, save, "'[' is never closed");
		else
			perr(ps, ps->p, "expected ']', found '%.30s'", ps->p);
		return (NULL);
	}
	ps->p++;
	ps->depth--;

	saved = ps->ctx;
	ps->ctx = &vp->path.ref;
	memset(&rel, 0, sizeof(rel));
	if (*ps->p == '.') {
		start = ++ps->p;
		while (is_namechar(*ps->p))
			ps->p++;
		len = (size_t)(ps->p - start);
		if (len == 0 || *ps->p == '[') {
			ps->ctx = saved;
			scim_filter_free(vp);
			perr(ps, start, len == 0 ? "expected a sub-attribute "
			    "name after '].'" : "a value filter cannot follow "
			    "another one");
			return (NULL);
		}
		if (resolve_path(ps, start, len, 1, &rel) == -1) {
			ps->ctx = saved;
			scim_filter_free(vp);
			return (NULL);
		}
		vp->right = parse_oppart(ps, &rel, column(ps, start));
		ps->ctx = saved;
		if (vp->right == NULL) {
			scim_filter_free(vp);
			return (NULL);
		}
		return (vp);
	}

	/* "emails[type eq "work"] pr": an operator on the element itself. */
	save = ps->p;
	skip_ws(ps);
	if (op_at(ps->p, &op)) {
		rel.relative = 1;
		rel.ref = vp->path.ref;
		at = ps->p;
		ps->p = save;
		vp->right = parse_oppart(ps, &rel, column(ps, at));
		ps->ctx = saved;
		if (vp->right == NULL) {
			scim_filter_free(vp);
			return (NULL);
		}
		return (vp);
	}
	ps->ctx = saved;
	ps->p = save;
	return (vp);
}

/* Parse "op [value]" after path (which it takes over, even on error). */
static struct scim_filter *
parse_oppart(struct parser *ps, struct scim_filter_path *path, int col)
{
	struct scim_filter	*f;
	enum scim_filter_op	 op;
	const char		*at;

	at = ps->p;
	skip_ws(ps);
	if (ps->p == at && *at != '\0') {
		perr(ps, at, "expected a space after the attribute name, "
		    "found '%.30s'", at);
		path_free(path);
		return (NULL);
	}
	at = ps->p;
	if (!op_at(at, &op)) {
		if (*at == '\0')
			perr(ps, at, "the filter ends after an attribute; "
			    "expected an operator (eq, ne, co, sw, ew, gt, ge, "
			    "lt, le, pr)");
		else
			perr(ps, at, "expected an operator (eq, ne, co, sw, "
			    "ew, gt, ge, lt, le, pr), found '%.30s'", at);
		path_free(path);
		return (NULL);
	}
	ps->p += 2;

	if ((f = node_new(op, col)) == NULL) {
		path_free(path);
		perr(ps, at, "out of memory");
		return (NULL);
	}
	f->path = *path;
	memset(path, 0, sizeof(*path));

	if (op != SCIM_FOP_PR) {
		if (*ps->p != ' ' && *ps->p != '\t') {
			perr(ps, ps->p, *ps->p == '\0' ? "the filter ends "
			    "where a value was expected after '%.2s'" :
			    "expected a space after '%.2s'", at);
			scim_filter_free(f);
			return (NULL);
		}
		skip_ws(ps);
		if ((f->value = parse_value(ps)) == NULL) {
			scim_filter_free(f);
			return (NULL);
		}
	}
	if (typecheck(ps, f) == -1) {
		scim_filter_free(f);
		return (NULL);
	}
	return (f);
}

static json_t *
parse_value(struct parser *ps)
{
	const char	*at, *q, *end;
	json_t		*v;
	char		 numbuf[64], *ep;
	long long	 ll;
	double		 d;
	size_t		 len;
	int		 isint;

	at = ps->p;
	if (*at == '"')
		return (parse_string(ps));
	if (keyword_at(at, "true")) {
		ps->p += 4;
		return (json_true());
	}
	if (keyword_at(at, "false")) {
		ps->p += 5;
		return (json_false());
	}
	if (keyword_at(at, "null")) {
		ps->p += 4;
		return (json_null());
	}

	/* JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
	q = at;
	isint = 1;
	if (*q == '-')
		q++;
	if (*q == '0')
		q++;
	else if (isdigit((unsigned char)*q)) {
		while (isdigit((unsigned char)*q))
			q++;
	} else
		goto bare;
	if (*q == '.') {
		if (!isdigit((unsigned char)q[1]))
			goto bare;
		q++;
		while (isdigit((unsigned char)*q))
			q++;
		isint = 0;
	}
	if (*q == 'e' || *q == 'E') {
		end = q + 1;
		if (*end == '+' || *end == '-')
			end++;
		if (!isdigit((unsigned char)*end))
			goto bare;
		while (isdigit((unsigned char)*end))
			end++;
		q = end;
		isint = 0;
	}
	if (!is_delim(*q))
		goto bare;
	len = (size_t)(q - at);
	if (len >= sizeof(numbuf)) {
		perr(ps, at, "number too long");
		return (NULL);
	}
	memcpy(numbuf, at, len);
	numbuf[len] = '\0';
	ps->p = q;
	errno = 0;
	if (isint) {
		ll = strtoll(numbuf, &ep, 10);
		if (errno == 0 && *ep == '\0')
			return (json_integer((json_int_t)ll));
	}
	errno = 0;
	d = strtod(numbuf, &ep);
	if (errno != 0 || *ep != '\0' || !isfinite(d)) {
		perr(ps, at, "number '%s' is out of range", numbuf);
		return (NULL);
	}
	return (json_real(d));

bare:
	/*
	 * Not RFC: an unquoted word is read as a string.  Microsoft's test
	 * suite and some admins' tools send userName sw O.
	 */
	for (q = at; !is_delim(*q) && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f) {
			perr(ps, q, "control character 0x%02x is not allowed",
			    (unsigned char)*q);
			return (NULL);
		}
	}
	if (q == at) {
		if (*at == '\0')
			perr(ps, at, "the filter ends where a value was "
			    "expected");
		else
			perr(ps, at, "expected a value (a \"quoted string\", "
			    "number, true, false or null), found '%.30s'", at);
		return (NULL);
	}
	if (*q == '"') {
		perr(ps, q, "unexpected '\"' inside an unquoted value; quote "
		    "the whole value");
		return (NULL);
	}
	ps->p = q;
	if ((v = json_stringn(at, (size_t)(q - at))) == NULL)
		perr(ps, at, "value is not valid UTF-8");
	return (v);
}

static int
hex4(const char *p, unsigned int *out)
{
	unsigned int	v;
	int		i;

	for (i = 0, v = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= (unsigned int)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= (unsigned int)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= (unsigned int)(p[i] - 'A' + 10);
		else
			return (-1);
	}
	*out = v;
	return (0);
}

/* A JSON string literal (RFC 8259 section 7), at ps->p == '"'. */
static json_t *
parse_string(struct parser *ps)
{
	const char	*at, *q;
	char		*buf;
	size_t		 o;
	unsigned int	 cp, lo;
	json_t		*v;

	at = ps->p;
	/* Decoded text is never longer than the literal. */
	if ((buf = malloc(strlen(at) + 1)) == NULL) {
		perr(ps, at, "out of memory");
		return (NULL);
	}
	o = 0;
	for (q = at + 1; *q != '"'; q++) {
		if (*q == '\0') {
			perr(ps, at, "unterminated string (missing closing "
			    "'\"')");
			goto fail;
		}
		if ((unsigned char)*q < 0x20) {
			perr(ps, q, "control character 0x%02x inside a string; "
			    "escape it", (unsigned char)*q);
			goto fail;
		}
		if (*q != '\\') {
			buf[o++] = *q;
			continue;
		}
		q++;
		switch (*q) {
		case '"':
		case '\\':
		case '/':
			buf[o++] = *q;
			break;
		case 'b':
			buf[o++] = '\b';
			break;
		case 'f':
			buf[o++] = '\f';
			break;
		case 'n':
			buf[o++] = '\n';
			break;
		case 'r':
			buf[o++] = '\r';
			break;
		case 't':
			buf[o++] = '\t';
			break;
		case 'u':
			if (hex4(q + 1, &cp) == -1) {
				perr(ps, q - 1, "\\u must be followed by four "
				    "hex digits");
				goto fail;
			}
			q += 4;
			if (cp == 0) {
				perr(ps, q - 5, "\\u0000 is not allowed in a "
				    "value");
				goto fail;
			}
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				perr(ps, q - 5, "unpaired surrogate \\u%04x", cp);
				goto fail;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (q[1] != '\\' || q[2] != 'u' ||
				    hex4(q + 3, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff) {
					perr(ps, q - 5, "unpaired surrogate "
					    "\\u%04x", cp);
					goto fail;
				}
				q += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			/* 6 escape bytes always cover the <= 4 UTF-8 bytes. */
			if (cp < 0x80) {
				buf[o++] = (char)cp;
			} else if (cp < 0x800) {
				buf[o++] = (char)(0xc0 | (cp >> 6));
				buf[o++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				buf[o++] = (char)(0xe0 | (cp >> 12));
				buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[o++] = (char)(0x80 | (cp & 0x3f));
			} else {
				buf[o++] = (char)(0xf0 | (cp >> 18));
				buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[o++] = (char)(0x80 | (cp & 0x3f));
			}
			break;
		default:
			if (*q == '\0')
				perr(ps, at, "unterminated string (missing "
				    "closing '\"')");
			else
				perr(ps, q - 1, "invalid escape '\\%c' in a "
				    "string", isprint((unsigned char)*q) ?
				    *q : '?');
			goto fail;
		}
	}
	ps->p = q + 1;
	if ((v = json_stringn(buf, o)) == NULL)
		perr(ps, at, "string is not valid UTF-8");
	free(buf);
	return (v);

fail:
	free(buf);
	return (NULL);
}

/*
 * Turn the name token [start, start+len) into a path.  relative: it
 * names a sub-attribute of ps->ctx (an element of a value filter).
 */
static int
resolve_path(struct parser *ps, const char *start, size_t len, int relative,
    struct scim_filter_path *out)
{
	char			*tok, *name, *dot, *colon;
	const struct scim_attr	*sub;
	char			 where[160];

	memset(out, 0, sizeof(*out));
	if ((tok = strndup(start, len)) == NULL)
		return (perr(ps, start, "out of memory"));
	out->relative = relative;

	if (relative) {
		if (strchr(tok, '.') != NULL || strchr(tok, ':') != NULL) {
			perr(ps, start, "inside [ ] name a sub-attribute "
			    "directly (e.g. type), not '%s'", tok);
			goto fail;
		}
		if (ps->type == SCIM_RES_NONE || ps->ctx == NULL ||
		    ps->ctx->attr == NULL) {
			out->name = tok;
			if (ps->ctx != NULL)
				out->ref = *ps->ctx;
			return (0);
		}
		if ((sub = scim_attr_sub(ps->ctx->attr, tok)) == NULL) {
			perr(ps, start, "'%s' is not a sub-attribute of '%s'",
			    tok, scim_attr_ref_name(ps->ctx, where,
			    sizeof(where)));
			goto fail;
		}
		out->ref = *ps->ctx;
		out->ref.sub = sub;
		free(tok);
		if ((out->name = strdup(sub->name)) == NULL)
			return (perr(ps, start, "out of memory"));
		return (0);
	}

	if (ps->type != SCIM_RES_NONE) {
		if (scim_schema_lookup(ps->type, tok, &out->ref) == -1) {
			perr(ps, start, "unknown attribute '%s'%s", tok,
			    strncasecmp(tok, "urn:", 4) == 0 &&
			    strchr(tok, '.') != NULL ?
			    " (extension attributes are written "
			    "URN:attribute, with a colon)" : "");
			goto fail;
		}
		free(tok);
		out->name = strdup(out->ref.attr->name);
		if (out->ref.sub != NULL)
			out->sub = strdup(out->ref.sub->name);
		if (out->name == NULL ||
		    (out->ref.sub != NULL && out->sub == NULL)) {
			path_free(out);
			return (perr(ps, start, "out of memory"));
		}
		return (0);
	}

	/* Schema-less: drop any URN prefix, then split attr.sub. */
	name = tok;
	if (strncasecmp(tok, "urn:", 4) == 0 &&
	    (colon = strrchr(tok, ':')) != NULL)
		name = colon + 1;
	dot = strchr(name, '.');
	if (dot != NULL) {
		*dot = '\0';
		if (strchr(dot + 1, '.') != NULL || dot[1] == '\0') {
			perr(ps, start, "bad attribute path '%.*s'", (int)len,
			    start);
			goto fail;
		}
	}
	if (*name == '\0') {
		perr(ps, start, "bad attribute path '%.*s'", (int)len, start);
		goto fail;
	}
	out->name = strdup(name);
	if (dot != NULL)
		out->sub = strdup(dot + 1);
	free(tok);
	if (out->name == NULL || (dot != NULL && out->sub == NULL)) {
		path_free(out);
		return (perr(ps, start, "out of memory"));
	}
	return (0);

fail:
	free(tok);
	path_free(out);
	return (-1);
}

const struct scim_attr *
scim_filter_path_target(const struct scim_filter_path *path)
{
	if (path->relative) {
		if (path->name == NULL)
			return (path->ref.attr);
		return (path->ref.sub);
	}
	return (scim_attr_ref_target(&path->ref));
}

/*
 * Check an operator and literal against the attribute's type, coercing
 * what Entra sends ("True" for booleans, numbers for strings).
 */
static int
typecheck(struct parser *ps, struct scim_filter *f)
{
	const struct scim_attr	*t;
	const char		*at, *s, *pn;
	char			*txt;
	json_t			*nv;
	int64_t			 secs;
	long			 nsec;
	int			 ordering, substr;

	if (ps->type == SCIM_RES_NONE || (t = scim_filter_path_target(&f->path)) == NULL)
		return (0);
	at = ps->text + f->column - 1;
	pn = f->path.name != NULL ? f->path.name : t->name;
	ordering = (f->op == SCIM_FOP_GT || f->op == SCIM_FOP_GE ||
	    f->op == SCIM_FOP_LT || f->op == SCIM_FOP_LE);
	substr = (f->op == SCIM_FOP_CO || f->op == SCIM_FOP_SW ||
	    f->op == SCIM_FOP_EW);

	if (f->path.ref.attr->returned == SCIM_RET_NEVER)
		return (perr(ps, at, "'%s' is never returned and cannot be "
		    "used in a filter", pn));
	if (t->type == SCIM_TYPE_COMPLEX) {
		if (f->op == SCIM_FOP_PR)
			return (0);
		if (ordering)
			return (perr(ps, at, "'%s' is complex; gt, ge, lt and "
			    "le need a sub-attribute (e.g. %s.%s)", pn, pn,
			    t->subs[0].name));
		if ((t = scim_attr_sub(t, "value")) == NULL)
			return (perr(ps, at, "'%s' is complex; compare one of "
			    "its sub-attributes (e.g. %s.%s)", pn, pn,
			    scim_filter_path_target(&f->path)->subs[0].name));
	}
	if (f->op == SCIM_FOP_PR || json_is_null(f->value))
		return (0);

	switch (t->type) {
	case SCIM_TYPE_BOOLEAN:
		if (ordering || substr)
			return (perr(ps, at, "'%s' is a boolean; only eq, ne "
			    "and pr apply", pn));
		if (json_is_string(f->value)) {
			s = json_string_value(f->value);
			if (strcasecmp(s, "true") == 0)
				nv = json_true();
			else if (strcasecmp(s, "false") == 0)
				nv = json_false();
			else
				return (perr(ps, at, "'%s' is a boolean; compare "
				    "it with true or false", pn));
			json_decref(f->value);
			f->value = nv;
		} else if (!json_is_boolean(f->value))
			return (perr(ps, at, "'%s' is a boolean; compare it "
			    "with true or false", pn));
		break;
	case SCIM_TYPE_DATETIME:
		if (substr)
			return (perr(ps, at, "'%s' is a dateTime; use eq, ne, "
			    "gt, ge, lt or le", pn));
		if (!json_is_string(f->value) ||
		    scim_datetime_parse(json_string_value(f->value), &secs,
		    &nsec) == -1)
			return (perr(ps, at, "'%s' is a dateTime; compare it "
			    "with a timestamp like \"2011-05-13T04:42:34Z\"",
			    pn));
		break;
	case SCIM_TYPE_INTEGER:
	case SCIM_TYPE_DECIMAL:
		if (substr)
			return (perr(ps, at, "'%s' is a number; co, sw and ew "
			    "do not apply", pn));
		if (!json_is_number(f->value))
			return (perr(ps, at, "'%s' is a number; compare it "
			    "with a number", pn));
		break;
	default:
		if (json_is_boolean(f->value))
			return (perr(ps, at, "'%s' is a string; quote the "
			    "value", pn));
		if (json_is_number(f->value)) {
			/* employeeNumber eq 1234: read as the string. */
			if ((txt = json_dumps(f->value, JSON_ENCODE_ANY)) ==
			    NULL || (nv = json_string(txt)) == NULL) {
				free(txt);
				return (perr(ps, at, "out of memory"));
			}
			free(txt);
			json_decref(f->value);
			f->value = nv;
		}
		break;
	}
	return (0);
}

static void
path_free(struct scim_filter_path *path)
{
	free(path->name);
	free(path->sub);
	path->name = NULL;
	path->sub = NULL;
}

void
scim_filter_free(struct scim_filter *f)
{
	if (f == NULL)
		return;
	scim_filter_free(f->left);
	scim_filter_free(f->right);
	path_free(&f->path);
	json_decref(f->value);
	free(f);
}

/* ---------------------------------------------------------------- */
/* Text output.                                                      */

static void
path_string(struct strbuf *b, const struct scim_filter_path *path)
{
	if (!path->relative && path->ref.schema != NULL &&
	    path->ref.schema->extension)
		strbuf_printf(b, "%s:", path->ref.schema->urn);
	if (path->name != NULL)
		strbuf_printf(b, "%s", path->name);
	if (path->sub != NULL)
		strbuf_printf(b, ".%s", path->sub);
}

static void
to_string(struct strbuf *b, const struct scim_filter *f)
{
	char		*lit;
	const char	*word;
	size_t		 i;

	switch (f->op) {
	case SCIM_FOP_AND:
	case SCIM_FOP_OR:
		strbuf_printf(b, "(");
		to_string(b, f->left);
		strbuf_printf(b, f->op == SCIM_FOP_AND ? " and " : " or ");
		to_string(b, f->right);
		strbuf_printf(b, ")");
		return;
	case SCIM_FOP_NOT:
		strbuf_printf(b, "not (");
		to_string(b, f->left);
		strbuf_printf(b, ")");
		return;
	case SCIM_FOP_VALUEPATH:
		path_string(b, &f->path);
		strbuf_printf(b, "[");
		to_string(b, f->left);
		strbuf_printf(b, "]");
		if (f->right != NULL) {
			if (f->right->path.name != NULL)
				strbuf_printf(b, ".");
			else
				strbuf_printf(b, " ");
			to_string(b, f->right);
		}
		return;
	default:
		break;
	}

	word = "?";
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (ops[i].op == f->op)
			word = ops[i].word;
	}
	if (f->path.name != NULL) {
		path_string(b, &f->path);
		strbuf_printf(b, " ");
	}
	strbuf_printf(b, "%s", word);
	if (f->value != NULL) {
		if ((lit = json_dumps(f->value, JSON_ENCODE_ANY)) == NULL) {
			b->oom = 1;
			return;
		}
		strbuf_printf(b, " %s", lit);
		free(lit);
	}
}

char *
scim_filter_to_string(const struct scim_filter *f)
{
	struct strbuf	b;

	if (f == NULL)
		return (strdup(""));
	memset(&b, 0, sizeof(b));
	to_string(&b, f);
	if (b.oom || b.s == NULL) {
		free(b.s);
		return (NULL);
	}
	return (b.s);
}

/* ---------------------------------------------------------------- */
/* PATCH paths.                                                      */

int
scim_path_parse(enum scim_resource type, const char *text,
    struct scim_path *out, struct scim_err *err)
{
	struct scim_filter	*f;
	struct scim_attr_ref	 pref;
	const char		*br, *close, *p;
	char			*name, *inner, *full;
	size_t			 len;
	int			 depth, inq;

	memset(out, 0, sizeof(*out));
	if (text == NULL || *text == '\0')
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "The PATCH path is empty."));
	if ((len = strlen(text)) > SCIM_FILTER_MAX_LEN)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "The PATCH path is %zu bytes long; at most %d are "
		    "accepted.", len, SCIM_FILTER_MAX_LEN));

	/* Find the '[' of a value filter, and its matching ']'. */
	br = NULL;
	for (p = text; *p != '\0'; p++) {
		if (*p == '[') {
			br = p;
			break;
		}
		if (!is_namechar(*p))
			return (scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
			    "Invalid PATCH path '%.80s': unexpected '%c' at "
			    "column %d.", text, isprint((unsigned char)*p) ?
			    *p : '?', (int)(p - text) + 1));
	}

	if (br == NULL) {
		if (scim_schema_lookup(type, text, &out->ref) == -1)
			return (scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
			    "Unknown attribute path '%.120s'%s.", text,
			    strncasecmp(text, "urn:", 4) == 0 ? " (write "
			    "extension attributes as URN:attribute)" : ""));
		return (0);
	}

	close = NULL;
	depth = 0;
	inq = 0;
	for (p = br; *p != '\0'; p++) {
		if (inq) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				inq = 0;
			continue;
		}
		if (*p == '"')
			inq = 1;
		else if (*p == '[')
			depth++;
		else if (*p == ']' && --depth == 0) {
			close = p;
			break;
		}
	}
	if (close == NULL)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "Invalid PATCH path '%.120s': '[' is never closed.", text));

	if ((name = strndup(text, (size_t)(br - text))) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	if (scim_schema_lookup(type, name, &out->ref) == -1 ||
	    out->ref.sub != NULL || out->ref.attr->type != SCIM_TYPE_COMPLEX) {
		(void)scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    out->ref.attr == NULL ? "Unknown attribute '%.120s' in "
		    "PATCH path." : "'%.120s' cannot take a [filter]; only "
		    "multi-valued or complex attributes can.", name);
		free(name);
		memset(out, 0, sizeof(*out));
		return (-1);
	}
	free(name);

	p = close + 1;
	if (*p == '.') {
		if ((out->ref.sub = scim_attr_sub(out->ref.attr, p + 1)) ==
		    NULL) {
			(void)scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
			    "'%.60s' is not a sub-attribute of '%s' in PATCH "
			    "path '%.80s'.", p + 1, out->ref.attr->name, text);
			memset(out, 0, sizeof(*out));
			return (-1);
		}
	} else if (*p != '\0') {
		(void)scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "Invalid PATCH path '%.120s': unexpected text after ']'.",
		    text);
		memset(out, 0, sizeof(*out));
		return (-1);
	}

	if ((inner = strndup(br + 1, (size_t)(close - br - 1))) == NULL) {
		memset(out, 0, sizeof(*out));
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	pref = out->ref;
	pref.sub = NULL;
	if (scim_filter_parse_value(type, &pref, inner, &f, err) == -1) {
		/* Columns are relative to the brackets: name the path. */
		if (err != NULL && asprintf(&full, "In PATCH path '%.60s': %s",
		    text, err->detail) != -1) {
			(void)snprintf(err->detail, sizeof(err->detail), "%s",
			    full);
			free(full);
		}
		free(inner);
		memset(out, 0, sizeof(*out));
		return (-1);
	}
	free(inner);
	out->filter = f;
	return (0);
}

void
scim_path_clear(struct scim_path *path)
{
	if (path == NULL)
		return;
	scim_filter_free(path->filter);
	memset(path, 0, sizeof(*path));
}
