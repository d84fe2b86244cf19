/*
 * http_scim.c: /scim/v2/Users and /scim/v2/Groups (RFC 7644), in the
 * shape Microsoft Entra provisions (README, "SCIM 2.0 for Microsoft
 * Entra ID").
 *
 * The handlers only unpack requests: query parameters, bodies (normalised
 * by scim_schema before any database work, so a bad body never costs a
 * transaction), ids and preconditions.  The SQL is in scim_store, run as
 * a database job; the job also projects attributes/excludedAttributes so
 * the event loop never walks a thousand resources.  Writes that change a
 * decision reach every worker's policy index (svc_changes_publish) before
 * the client sees the answer.
 *
 * Choices: user PATCH answers 200 with the resource, group PATCH 204 (a
 * group's member list is not echoed) unless the client asks for the
 * resource with attributes= or excludedAttributes=.  Unknown query
 * parameters are ignored (Entra's feature flags may ride along).
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin.h"
#include "changes.h"
#include "policy_glue.h"
#include "scim_discovery.h"
#include "scim_error.h"
#include "scim_filter.h"
#include "scim_filter_sql.h"
#include "scim_schema.h"
#include "scim_store.h"
#include "svc.h"
#include "util.h"

#define SCIM_LIST_MAX		SCIM_DISCOVERY_MAX_RESULTS /* advertised */
#define SCIM_LIST_URN		\
	"urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define SCIM_PARAM_MAX	8192

int	page_scim_users(struct http_request *);
int	page_scim_user(struct http_request *);
int	page_scim_groups(struct http_request *);
int	page_scim_group(struct http_request *);

enum scim_op {
	SCIM_OP_LIST,
	SCIM_OP_GET,
	SCIM_OP_CREATE,
	SCIM_OP_REPLACE,
	SCIM_OP_PATCH,
	SCIM_OP_DELETE
};

struct scim_job {
	enum scim_resource	 type;
	enum scim_op		 op;
	char			 id[64];
	json_t			*body;
	char			*attributes;	/* malloc'd, or NULL */
	char			*excluded;
	int			 want_out;
	char			*if_match;
	char			*if_none_match;
	struct scim_sql		 where;
	int			 has_where;
	struct scim_attr_ref	 sort;
	int			 has_sort;
	int			 descending;
	long			 start;
	long			 count;
	struct store_actor	 actor;
	char			 actor_name[129];
	char			 request_id[40];
	char			 base[SETTINGS_STR_MAX + 16];
	struct store_changes	 changes;
	json_t			*result;
	long			 total;
	struct scim_err		 err;
};

struct scim_params {
	char	*filter;
	char	*start;
	char	*count;
	char	*sort_by;
	char	*sort_order;
	char	*attributes;
	char	*excluded;
};

static struct scim_job	*scim_job_new(struct http_request *,
			    enum scim_resource, enum scim_op);
static void		 scim_job_free(void *);
static int		 scim_job_run(PGconn *, void *, struct svc_db_err *);
static int		 scim_finish(struct http_request *,
			    struct scim_job *);
static int		 scim_collection(struct http_request *,
			    enum scim_resource);
static int		 scim_resource(struct http_request *,
			    enum scim_resource);
static int		 scim_fail(struct http_request *,
			    const struct scim_err *);
static int		 params_parse(struct http_request *,
			    struct scim_params *);
static void		 params_free(struct scim_params *);
static int		 list_prepare(struct http_request *,
			    struct scim_job *, struct scim_params *);
static int		 list_has(enum scim_resource, const char *,
			    const char *);
static int		 want_refs(const struct scim_job *);
static char		*url_decode(const char *, size_t);
static char		*dup_header(struct http_request *, const char *);
static json_t		*project(const struct scim_job *, const json_t *);
static int		 body_doc(struct http_request *, struct scim_job *);

static void
scim_job_free(void *arg)
{
	struct scim_job	*job = arg;

	json_decref(job->body);
	json_decref(job->result);
	free(job->attributes);
	free(job->excluded);
	free(job->if_match);
	free(job->if_none_match);
	scim_sql_clear(&job->where);
	store_changes_cleanup(&job->changes);
	kore_free(job);
}

static struct scim_job *
scim_job_new(struct http_request *req, enum scim_resource type,
    enum scim_op op)
{
	struct svc_ctx	*ctx;
	struct scim_job	*job;
	size_t		 len;

	ctx = svc_ctx(req);
	job = kore_calloc(1, sizeof(*job));
	job->type = type;
	job->op = op;
	admin_actor(req, &job->actor, job->actor_name, sizeof(job->actor_name),
	    job->request_id, sizeof(job->request_id));
	(void)snprintf(job->base, sizeof(job->base), "%s",
	    svc.settings.public_url);
	len = strlen(job->base);
	while (len > 0 && job->base[len - 1] == '/')
		job->base[--len] = '\0';
	rc_strlcpy(job->base + len, "/scim/v2", sizeof(job->base) - len);
	job->start = 1;
	job->count = SCIM_LIST_MAX;
	store_changes_init(&job->changes, svc.instance);
	ctx->state = job;
	ctx->state_free = scim_job_free;

	return (job);
}

static json_t *
project(const struct scim_job *job, const json_t *r)
{
	return (scim_schema_project(job->type, r, job->attributes,
	    job->excluded));
}

/* One attempt of a job (store_txn_run); a rerun starts from nothing. */
static enum store_outcome
scim_job_attempt(PGconn *conn, void *arg)
{
	struct scim_job		*job = arg;
	struct scim_store_req	 rq;
	struct scim_store_query	 q;
	int			 rc;

	store_changes_reset(&job->changes);
	json_decref(job->result);
	job->result = NULL;
	memset(&rq, 0, sizeof(rq));
	rq.actor = &job->actor;
	rq.directory_id = job->actor.directory_id;
	rq.base = job->base;
	rq.changes = &job->changes;
	rq.if_match = job->if_match;
	scim_err_init(&job->err);

	rc = -1;
	switch (job->op) {
	case SCIM_OP_LIST:
		memset(&q, 0, sizeof(q));
		if (job->has_where) {
			q.where = job->where.text;
			q.params = (const char *const *)job->where.params;
			q.nparams = job->where.nparams;
		}
		q.sort = job->has_sort ? &job->sort : NULL;
		q.descending = job->descending;
		q.start = job->start;
		q.count = job->count;
		q.with_refs = want_refs(job);
		rc = scim_store_list(conn, &rq, job->type, &q,
		    &job->result, &job->total, &job->err);
		break;
	case SCIM_OP_GET:
		rc = scim_store_get(conn, &rq, job->type, job->id,
		    want_refs(job), &job->result, &job->err);
		break;
	case SCIM_OP_CREATE:
		rc = scim_store_create(conn, &rq, job->type,
		    job->body, &job->result, &job->err);
		break;
	case SCIM_OP_REPLACE:
		rc = scim_store_replace(conn, &rq, job->type, job->id,
		    job->body, &job->result, &job->err);
		break;
	case SCIM_OP_PATCH:
		rc = scim_store_patch(conn, &rq, job->type, job->id,
		    job->body, job->want_out, &job->result, &job->err);
		break;
	case SCIM_OP_DELETE:
		rc = scim_store_delete(conn, &rq, job->type, job->id,
		    &job->err);
		break;
	}
	if (rc == 0)
		return (STORE_OK);
	if (rq.retry)
		return (STORE_RETRY);
	return (job->err.status == 409 ? STORE_CONFLICT :
	    job->err.status == 400 ? STORE_INVALID : STORE_INTERNAL);
}

/* Runs on a task thread: no Kore calls here. */
static int
scim_job_run(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct scim_job		*job = arg;
	json_t			*list, *p, *r;
	size_t			 i;

	(void)dberr;
	if (store_txn_run(conn, scim_job_attempt, job) != STORE_OK)
		return (job->err.status >= 500 ? -1 : 0);

	/*
	 * Projection here, off the event loop; also without attributes=,
	 * as it puts the keys back in schema order (jsonb sorted them).
	 */
	if (job->op == SCIM_OP_LIST) {
		if ((list = json_array()) == NULL)
			return (scim_err_set(&job->err, 500, NULL,
			    "Out of memory."));
		json_array_foreach(job->result, i, r) {
			if ((p = project(job, r)) == NULL ||
			    json_array_append_new(list, p) == -1) {
				json_decref(list);
				return (scim_err_set(&job->err, 500, NULL,
				    "Out of memory."));
			}
		}
		json_decref(job->result);
		job->result = list;
	} else if (job->result != NULL) {
		if ((p = project(job, job->result)) == NULL)
			return (scim_err_set(&job->err, 500, NULL,
			    "Out of memory."));
		json_decref(job->result);
		job->result = p;
	}
	return (0);
}

static int
scim_fail(struct http_request *req, const struct scim_err *err)
{
	if (err->status == 503)
		http_response_header(req, "retry-after", "1");
	svc_scim_error(req, err->status, err->scim_type, "%s", err->detail);
	return (KORE_RESULT_OK);
}

/* The handler's second half: the job is done, answer. */
static int
scim_finish(struct http_request *req, struct scim_job *job)
{
	struct svc_db_err	*dberr;
	json_t			*out, *meta;
	const char		*etag, *loc;
	int			 result, status;

	if (!svc_db_done(req, &result, &dberr))
		return (KORE_RESULT_RETRY);
	if (job->err.status == 0 && result == -1) {
		svc_log(SVC_LOG_ERROR, "scim: database: %s", dberr->msg);
		(void)scim_err_set(&job->err, 503, NULL, "The directory "
		    "database is unavailable; retry later.");
	}
	if (job->err.status != 0) {
		if (job->err.status >= 500)
			svc_log(SVC_LOG_ERROR, "scim: %d %s", job->err.status,
			    job->err.detail);
		return (scim_fail(req, &job->err));
	}

	/* Committed: every worker applies the change before we answer. */
	if (job->changes.version != 0)
		svc_changes_publish(&job->changes);

	meta = job->result ? json_object_get(job->result, "meta") : NULL;
	etag = json_string_value(json_object_get(meta, "version"));
	loc = json_string_value(json_object_get(meta, "location"));
	if (etag != NULL)
		http_response_header(req, "etag", etag);

	switch (job->op) {
	case SCIM_OP_LIST:
		out = json_pack("{s:[s], s:I, s:I, s:I, s:O}", "schemas",
		    SCIM_LIST_URN, "totalResults", (json_int_t)job->total,
		    "startIndex", (json_int_t)job->start, "itemsPerPage",
		    (json_int_t)json_array_size(job->result), "Resources",
		    job->result);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		return (KORE_RESULT_OK);
	case SCIM_OP_GET:
		/* RFC 7644 3.14: a matching If-None-Match gets 304. */
		if (etag != NULL && job->if_none_match != NULL &&
		    (strcmp(job->if_none_match, "*") == 0 ||
		    strstr(job->if_none_match, etag + 2) != NULL)) {
			svc_respond_raw(req, HTTP_STATUS_NOT_MODIFIED, NULL,
			    NULL, 0);
			return (KORE_RESULT_OK);
		}
		status = HTTP_STATUS_OK;
		break;
	case SCIM_OP_CREATE:
		if (loc != NULL)
			http_response_header(req, "location", loc);
		status = HTTP_STATUS_CREATED;
		break;
	case SCIM_OP_DELETE:
		svc_respond_raw(req, HTTP_STATUS_NO_CONTENT, NULL, NULL, 0);
		return (KORE_RESULT_OK);
	case SCIM_OP_PATCH:
		if (job->result == NULL) {
			svc_respond_raw(req, HTTP_STATUS_NO_CONTENT, NULL,
			    NULL, 0);
			return (KORE_RESULT_OK);
		}
		status = HTTP_STATUS_OK;
		break;
	default:
		status = HTTP_STATUS_OK;
		break;
	}
	svc_respond_json(req, status, job->result);
	return (KORE_RESULT_OK);
}

/* %XX and '+' decoding of one query component; NULL on %00 or bad %. */
static char *
url_decode(const char *s, size_t len)
{
	char		*out, *o, hex[3];
	size_t		 i;
	unsigned long	 v;

	if ((out = malloc(len + 1)) == NULL)
		return (NULL);
	for (i = 0, o = out; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len) {
				free(out);
				return (NULL);
			}
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			if (!isxdigit((unsigned char)hex[0]) ||
			    !isxdigit((unsigned char)hex[1]) ||
			    (v = strtoul(hex, NULL, 16)) == 0) {
				free(out);
				return (NULL);
			}
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return (out);
}

static void
params_free(struct scim_params *p)
{
	free(p->filter);
	free(p->start);
	free(p->count);
	free(p->sort_by);
	free(p->sort_order);
	free(p->attributes);
	free(p->excluded);
	memset(p, 0, sizeof(*p));
}

/* Picks the SCIM parameters (names case-insensitive); -1 answered 400. */
static int
params_parse(struct http_request *req, struct scim_params *p)
{
	const char	*qs, *amp, *eq;
	char		**slot, *val;
	size_t		 nlen;

	memset(p, 0, sizeof(*p));
	if ((qs = req->query_string) == NULL)
		return (0);
	while (*qs != '\0') {
		amp = strchr(qs, '&');
		if (amp == NULL)
			amp = qs + strlen(qs);
		eq = memchr(qs, '=', (size_t)(amp - qs));
		nlen = eq ? (size_t)(eq - qs) : (size_t)(amp - qs);
		slot = NULL;
#define PARAM(n, f)	\
		if (nlen == strlen(n) && strncasecmp(qs, n, nlen) == 0) \
			slot = &p->f;
		PARAM("filter", filter)
		PARAM("startIndex", start)
		PARAM("count", count)
		PARAM("sortBy", sort_by)
		PARAM("sortOrder", sort_order)
		PARAM("attributes", attributes)
		PARAM("excludedAttributes", excluded)
#undef PARAM
		if (slot != NULL && eq != NULL) {
			if ((size_t)(amp - eq - 1) > SCIM_PARAM_MAX ||
			    (val = url_decode(eq + 1, (size_t)(amp - eq - 1)))
			    == NULL) {
				params_free(p);
				svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
				    SCIM_ERR_INVALID_VALUE, "query parameter "
				    "'%.*s' is not properly URL-encoded or is "
				    "too long", (int)nlen, qs);
				return (-1);
			}
			free(*slot);
			*slot = val;
		}
		qs = *amp ? amp + 1 : amp;
	}
	return (0);
}

/*
 * 1 when a comma-separated attributes list names attribute name of the
 * core schema (alone, URN-qualified, or with a sub-attribute/filter).
 */
static int
list_has(enum scim_resource type, const char *list, const char *name)
{
	const char	*s, *e, *t, *urn;
	size_t		 ulen, nlen, len;

	urn = scim_schema_core(type)->urn;
	ulen = strlen(urn);
	nlen = strlen(name);
	for (s = list; *s != '\0'; s = *e ? e + 1 : e) {
		if ((e = strchr(s, ',')) == NULL)
			e = s + strlen(s);
		while (s < e && *s == ' ')
			s++;
		if ((size_t)(e - s) > ulen && strncasecmp(s, urn, ulen) == 0 &&
		    s[ulen] == ':')
			s += ulen + 1;
		for (t = s; t < e && *t != '.' && *t != '[' && *t != ' '; t++)
			;
		len = (size_t)(t - s);
		if (len == nlen && strncasecmp(s, name, nlen) == 0)
			return (1);
	}
	return (0);
}

/* Whether the answer needs the member/group lists at all. */
static int
want_refs(const struct scim_job *job)
{
	const char	*name;

	name = job->type == SCIM_RES_USER ? "groups" : "members";
	if (job->attributes != NULL && job->attributes[0] != '\0')
		return (list_has(job->type, job->attributes, name));
	if (job->excluded != NULL && job->excluded[0] != '\0')
		return (!list_has(job->type, job->excluded, name));
	return (1);
}

/* filter, startIndex, count, sortBy, sortOrder; -1 answered 400. */
static int
list_prepare(struct http_request *req, struct scim_job *job,
    struct scim_params *p)
{
	struct scim_filter	*f;
	struct scim_err		 err;
	long long		 v;

	scim_err_init(&err);
	if (p->filter != NULL && p->filter[0] != '\0') {
		if (scim_filter_parse(job->type, p->filter, &f, &err) == -1)
			return (scim_fail(req, &err), -1);
		if (scim_filter_to_sql(f, job->type, &job->where, 2,
		    &err) == -1) {
			scim_filter_free(f);
			return (scim_fail(req, &err), -1);
		}
		scim_filter_free(f);
		job->has_where = 1;
	}
	if (p->start != NULL && p->start[0] != '\0') {
		if (rc_parse_int(p->start, -(1LL << 62), 1LL << 62, &v) == -1) {
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    SCIM_ERR_INVALID_VALUE, "startIndex must be a "
			    "whole number (1 is the first result)");
			return (-1);
		}
		/* RFC 7644 3.4.2.4: less than 1 means 1. */
		job->start = v < 1 ? 1 : (v > (1LL << 40) ? (1LL << 40) : v);
	}
	if (p->count != NULL && p->count[0] != '\0') {
		if (rc_parse_int(p->count, -(1LL << 62), 1LL << 62, &v) == -1) {
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    SCIM_ERR_INVALID_VALUE, "count must be a whole "
			    "number from 0 to %d", SCIM_LIST_MAX);
			return (-1);
		}
		/* Negative means 0; above the advertised maximum, capped. */
		job->count = v < 0 ? 0 : (v > SCIM_LIST_MAX ? SCIM_LIST_MAX :
		    v);
	}
	if (p->sort_by != NULL && p->sort_by[0] != '\0') {
		if (scim_schema_lookup(job->type, p->sort_by,
		    &job->sort) == -1) {
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    SCIM_ERR_INVALID_VALUE, "sortBy '%.128s' names no "
			    "attribute of this resource type", p->sort_by);
			return (-1);
		}
		job->has_sort = 1;
	}
	if (p->sort_order != NULL && p->sort_order[0] != '\0') {
		if (strcasecmp(p->sort_order, "descending") == 0) {
			job->descending = 1;
		} else if (strcasecmp(p->sort_order, "ascending") != 0) {
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    SCIM_ERR_INVALID_VALUE, "sortOrder must be "
			    "'ascending' or 'descending'");
			return (-1);
		}
	}
	return (0);
}

static char *
dup_header(struct http_request *req, const char *name)
{
	const char	*v;

	if (!http_request_header(req, name, &v) || v[0] == '\0')
		return (NULL);
	return (strdup(v));
}

/* Reads and normalises a POST/PUT body into job->body; -1 answered. */
static int
body_doc(struct http_request *req, struct scim_job *job)
{
	struct scim_err	 err;
	json_t		*body;

	if ((body = svc_body_json(req)) == NULL)
		return (-1);
	scim_err_init(&err);
	if (scim_schema_normalize(job->type, body, &err) == -1) {
		json_decref(body);
		return (scim_fail(req, &err), -1);
	}
	job->body = body;
	return (0);
}

static int
scim_collection(struct http_request *req, enum scim_resource type)
{
	struct svc_ctx		*ctx;
	struct scim_job		*job;
	struct scim_params	 p;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL)
		return (scim_finish(req, job));
	if (!svc_method_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_POST))
		return (KORE_RESULT_OK);
	if (ctx->token.directory_id == 0) {
		svc_scim_error(req, HTTP_STATUS_FORBIDDEN, NULL, "this token "
		    "belongs to no directory");
		return (KORE_RESULT_OK);
	}
	if (params_parse(req, &p) == -1)
		return (KORE_RESULT_OK);

	job = scim_job_new(req, type, req->method == HTTP_METHOD_POST ?
	    SCIM_OP_CREATE : SCIM_OP_LIST);
	job->attributes = p.attributes;
	job->excluded = p.excluded;
	p.attributes = p.excluded = NULL;
	if (job->op == SCIM_OP_LIST) {
		if (list_prepare(req, job, &p) == -1) {
			params_free(&p);
			return (KORE_RESULT_OK);
		}
	} else if (body_doc(req, job) == -1) {
		params_free(&p);
		return (KORE_RESULT_OK);
	}
	params_free(&p);

	return (svc_db_run(req, scim_job_run, job));
}

static int
scim_resource(struct http_request *req, enum scim_resource type)
{
	struct svc_ctx		*ctx;
	struct scim_job		*job;
	struct scim_params	 p;
	enum scim_op		 op;
	const char		*s, *e;
	char			 id[64];
	size_t			 len;

	ctx = svc_ctx(req);
	if ((job = ctx->state) != NULL)
		return (scim_finish(req, job));
	if (!svc_method_allowed(req, HTTP_METHOD_GET | HTTP_METHOD_PUT |
	    HTTP_METHOD_PATCH | HTTP_METHOD_DELETE))
		return (KORE_RESULT_OK);
	if (ctx->token.directory_id == 0) {
		svc_scim_error(req, HTTP_STATUS_FORBIDDEN, NULL, "this token "
		    "belongs to no directory");
		return (KORE_RESULT_OK);
	}

	/* The last path segment, trailing slashes ignored. */
	e = req->path + strlen(req->path);
	while (e > req->path && e[-1] == '/')
		e--;
	for (s = e; s > req->path && s[-1] != '/'; s--)
		;
	len = (size_t)(e - s);
	(void)snprintf(id, sizeof(id), "%.*s", (int)(len < sizeof(id) ?
	    len : sizeof(id) - 1), s);
	if (len >= sizeof(id) || !rc_is_uuid(id)) {
		svc_scim_error(req, HTTP_STATUS_NOT_FOUND, NULL, "No %s with "
		    "id '%.64s' in this directory.", type == SCIM_RES_USER ?
		    "user" : "group", id);
		return (KORE_RESULT_OK);
	}
	if (params_parse(req, &p) == -1)
		return (KORE_RESULT_OK);

	switch (req->method) {
	case HTTP_METHOD_PUT:
		op = SCIM_OP_REPLACE;
		break;
	case HTTP_METHOD_PATCH:
		op = SCIM_OP_PATCH;
		break;
	case HTTP_METHOD_DELETE:
		op = SCIM_OP_DELETE;
		break;
	default:
		op = SCIM_OP_GET;
		break;
	}
	job = scim_job_new(req, type, op);
	rc_strlcpy(job->id, id, sizeof(job->id));
	job->attributes = p.attributes;
	job->excluded = p.excluded;
	p.attributes = p.excluded = NULL;
	params_free(&p);
	job->if_match = dup_header(req, "if-match");
	job->if_none_match = dup_header(req, "if-none-match");

	switch (op) {
	case SCIM_OP_REPLACE:
		if (body_doc(req, job) == -1)
			return (KORE_RESULT_OK);
		break;
	case SCIM_OP_PATCH:
		if ((job->body = svc_body_json(req)) == NULL)
			return (KORE_RESULT_OK);
		job->want_out = type == SCIM_RES_USER ||
		    job->attributes != NULL || job->excluded != NULL;
		break;
	default:
		break;
	}

	return (svc_db_run(req, scim_job_run, job));
}

int
page_scim_users(struct http_request *req)
{
	return (scim_collection(req, SCIM_RES_USER));
}

int
page_scim_user(struct http_request *req)
{
	return (scim_resource(req, SCIM_RES_USER));
}

int
page_scim_groups(struct http_request *req)
{
	return (scim_collection(req, SCIM_RES_GROUP));
}

int
page_scim_group(struct http_request *req)
{
	return (scim_resource(req, SCIM_RES_GROUP));
}
