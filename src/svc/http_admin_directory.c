/*
 * http_admin_directory.c: read-only admin views of what SCIM
 * provisions (SCIM owns the writes).
 *
 *   GET /admin/v1/users                 filter, sort, cursor
 *   GET /admin/v1/users/{id}            with groups and owned principals
 *   GET /admin/v1/users/{id}/groups     paginated
 *   GET /admin/v1/groups                with member counts
 *   GET /admin/v1/groups/{id}
 *   GET /admin/v1/groups/{id}/members   paginated, any size
 *
 * Lists answer {"<items>": [...], "next_cursor": "..."|null}; a cursor
 * is only valid for the same query (filters, sort, order, directory).
 * Everything is scoped to the token's directory (global tokens: all,
 * or one with ?directory=).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "directory_store.h"
#include "policy_glue.h"
#include "store.h"
#include "admin.h"
#include "policy.h"
#include "svc.h"
#include "util.h"

#define DIR_LIMIT_DEFAULT	100
#define DIR_VALUE_MAX		512	/* characters, as in 001_model.sql */

int	page_admin_users(struct http_request *);
int	page_admin_user(struct http_request *);
int	page_admin_user_groups(struct http_request *);
int	page_admin_groups(struct http_request *);
int	page_admin_group(struct http_request *);
int	page_admin_group_members(struct http_request *);

enum dir_kind {
	DIR_USERS,
	DIR_USER,
	DIR_USER_GROUPS,
	DIR_GROUPS,
	DIR_GROUP,
	DIR_GROUP_MEMBERS,
};

struct dir_job {
	enum dir_kind		 kind;
	int64_t			 token_dir;
	char			 id[64];
	char			 directory[64];
	char			 user_name[2049];
	char			 email[1025];
	char			 external_id[2049];
	char			 display_name[2049];
	char			 group[37];
	char			 cursor[CURSOR_TOKEN_MAX];
	int			 active;
	enum directory_sort	 sort;
	int			 descending;
	int			 limit;
	struct directory_query	 q;
	struct directory_page	 page;
	json_t			*result;
	char			 next[CURSOR_TOKEN_MAX];
	char			 param[32];
	struct store_err	 err;
};

static const char *const	users_params[] = { "userName", "email",
    "externalId", "active", "group", "directory", "sort", "order",
    "cursor", "limit", NULL };
static const char *const	groups_params[] = { "displayName",
    "externalId", "directory", "sort", "order", "cursor", "limit", NULL };
static const char *const	members_params[] = { "active", "cursor",
    "limit", NULL };
static const char *const	page_params[] = { "cursor", "limit", NULL };
static const char *const	no_params[] = { NULL };

static struct dir_job	*dir_job_new(struct http_request *, enum dir_kind);
static void		 dir_job_free(void *);
static int		 dir_parse(struct http_request *, struct dir_job *,
			    const char *const *);
static int		 dir_copy(struct http_request *, const char *,
			    const char *, char *, size_t);
static void		 dir_scope(const struct dir_job *, int64_t, char *,
			    size_t);
static int		 dir_job_fn(PGconn *, void *, struct svc_db_err *);
static int		 dir_handle(struct http_request *, enum dir_kind,
			    const char *const *, const char *, const char *);
static int		 dir_path_id(struct http_request *, const char *,
			    const char *, char *, size_t);

static void
dir_job_free(void *arg)
{
	struct dir_job	*job = arg;

	json_decref(job->page.rows);
	json_decref(job->result);
	kore_free(job);
}

static struct dir_job *
dir_job_new(struct http_request *req, enum dir_kind kind)
{
	struct svc_ctx	*ctx;
	struct dir_job	*job;

	ctx = svc_ctx(req);
	job = kore_calloc(1, sizeof(*job));
	job->kind = kind;
	job->token_dir = ctx->token.directory_id;
	job->active = -1;
	job->limit = DIR_LIMIT_DEFAULT;
	ctx->state = job;
	ctx->state_free = dir_job_free;

	return (job);
}

/*
 * Copies a string parameter, or answers 400 when it is longer than any
 * stored value can be (512 characters, as the schema allows).
 */
static int
dir_copy(struct http_request *req, const char *name, const char *v,
    char *dst, size_t size)
{
	size_t	i, chars;

	if (v == NULL)
		return (0);
	for (i = 0, chars = 0; v[i] != '\0'; i++)
		if (((unsigned char)v[i] & 0xc0) != 0x80)
			chars++;
	if (i >= size || chars > DIR_VALUE_MAX) {
		admin_param_error(req, name, "at most %d characters",
		    DIR_VALUE_MAX);
		return (-1);
	}
	rc_strlcpy(dst, v, size);

	return (0);
}

static int
dir_parse(struct http_request *req, struct dir_job *job,
    const char *const *allowed)
{
	struct cursor_params	 qp;
	struct cursor_err	 cerr;
	const char		*v;
	long long		 n;

	if (cursor_params_parse(req->query_string, allowed, &qp, &cerr) == -1) {
		admin_param_error(req, cerr.param, "%s", cerr.msg);
		goto fail;
	}
	if ((v = cursor_params_get(&qp, "limit")) != NULL) {
		if (rc_parse_int(v, 1, DIRECTORY_STORE_LIMIT_MAX, &n) == -1) {
			admin_param_error(req, "limit", "must be a whole "
			    "number from 1 to %d", DIRECTORY_STORE_LIMIT_MAX);
			goto fail;
		}
		job->limit = (int)n;
	}
	if ((v = cursor_params_get(&qp, "order")) != NULL) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
			admin_param_error(req, "order", "must be asc or desc");
			goto fail;
		}
		job->descending = strcmp(v, "desc") == 0;
	}
	if ((v = cursor_params_get(&qp, "sort")) != NULL) {
		if (strcmp(v, "created") == 0)
			job->sort = DIRECTORY_SORT_CREATED;
		else if (strcmp(v, "displayName") == 0)
			job->sort = DIRECTORY_SORT_DISPLAYNAME;
		else if (strcmp(v, "userName") == 0 && job->kind == DIR_USERS)
			job->sort = DIRECTORY_SORT_USERNAME;
		else {
			admin_param_error(req, "sort", "must be one of "
			    "created, %sdisplayName", job->kind == DIR_USERS ?
			    "userName, " : "");
			goto fail;
		}
	}
	if ((v = cursor_params_get(&qp, "active")) != NULL) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			admin_param_error(req, "active", "must be true or "
			    "false");
			goto fail;
		}
		job->active = strcmp(v, "true") == 0;
	}
	if ((v = cursor_params_get(&qp, "group")) != NULL) {
		if (!rc_is_uuid(v)) {
			admin_param_error(req, "group", "must be a group id "
			    "(UUID)");
			goto fail;
		}
		rc_strlcpy(job->group, v, sizeof(job->group));
	}
	if (dir_copy(req, "userName", cursor_params_get(&qp, "userName"),
	    job->user_name, sizeof(job->user_name)) == -1 ||
	    dir_copy(req, "email", cursor_params_get(&qp, "email"),
	    job->email, sizeof(job->email)) == -1 ||
	    dir_copy(req, "externalId", cursor_params_get(&qp, "externalId"),
	    job->external_id, sizeof(job->external_id)) == -1 ||
	    dir_copy(req, "displayName", cursor_params_get(&qp,
	    "displayName"), job->display_name,
	    sizeof(job->display_name)) == -1 ||
	    dir_copy(req, "directory", cursor_params_get(&qp, "directory"),
	    job->directory, sizeof(job->directory)) == -1)
		goto fail;
	if ((v = cursor_params_get(&qp, "cursor")) != NULL &&
	    dir_copy(req, "cursor", v, job->cursor, sizeof(job->cursor)) == -1)
		goto fail;
	cursor_params_free(&qp);

	return (0);

fail:
	cursor_params_free(&qp);
	return (-1);
}

static void
dir_scope(const struct dir_job *job, int64_t dir, char *out, size_t size)
{
	(void)snprintf(out, size, "dir\x1f%d\x1f%s\x1f%lld\x1f%lld\x1f%d\x1f%d"
	    "\x1f%d\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", (int)job->kind, job->id,
	    (long long)job->token_dir, (long long)dir, (int)job->sort,
	    job->descending, job->active, job->group, job->user_name,
	    job->email, job->external_id, job->display_name);
}

static int
dir_job_fn(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct dir_job		*job = arg;
	struct cursor_err	 cerr;
	const unsigned char	*key;
	char			*scope, pos[64];
	int64_t			 dir;
	int			 rc;

	(void)dberr;
	if (admin_directory_scope(conn, job->token_dir, job->directory, &dir,
	    &job->err, job->param, sizeof(job->param)) == -1)
		return (-1);
	if (job->kind == DIR_USER)
		return (directory_store_user(conn, dir, job->id, &job->result,
		    &job->err));
	if (job->kind == DIR_GROUP)
		return (directory_store_group(conn, dir, job->id, &job->result,
		    &job->err));

	if (admin_cursor_key(conn, &key, &job->err) == -1)
		return (-1);
	if ((scope = malloc(8192)) == NULL) {
		job->err.status = 500;
		rc_strlcpy(job->err.code, "internal", sizeof(job->err.code));
		rc_strlcpy(job->err.msg, "out of memory", sizeof(job->err.msg));
		return (-1);
	}
	dir_scope(job, dir, scope, 8192);
	memset(&job->q, 0, sizeof(job->q));
	if (job->cursor[0] != '\0') {
		if (cursor_decode(key, scope, job->cursor, pos, sizeof(pos),
		    &cerr) == -1 || !rc_is_uuid(pos)) {
			free(scope);
			rc_strlcpy(job->param, "cursor", sizeof(job->param));
			rc_strlcpy(job->err.msg, cerr.msg,
			    sizeof(job->err.msg));
			return (-1);
		}
		job->q.after = pos;
	}
	job->q.directory_id = dir;
	job->q.user_name = job->user_name[0] ? job->user_name : NULL;
	job->q.email = job->email[0] ? job->email : NULL;
	job->q.external_id = job->external_id[0] ? job->external_id : NULL;
	job->q.display_name = job->display_name[0] ? job->display_name : NULL;
	job->q.group = job->group[0] ? job->group : NULL;
	job->q.active = job->active;
	job->q.sort = job->sort;
	job->q.descending = job->descending;
	job->q.limit = job->limit;

	switch (job->kind) {
	case DIR_USERS:
		rc = directory_store_users(conn, &job->q, &job->page,
		    &job->err);
		break;
	case DIR_USER_GROUPS:
		rc = directory_store_user_groups(conn, &job->q, job->id,
		    &job->page, &job->err);
		break;
	case DIR_GROUPS:
		rc = directory_store_groups(conn, &job->q, &job->page,
		    &job->err);
		break;
	default:
		rc = directory_store_group_members(conn, &job->q, job->id,
		    &job->page, &job->err);
		break;
	}
	job->q.after = NULL;
	if (rc == 0 && job->page.more && cursor_encode(key, scope,
	    job->page.last, job->next, sizeof(job->next)) == -1)
		job->next[0] = '\0';
	free(scope);

	return (rc);
}

/* The {id} of a path prefix/{id}[suffix]; 404 when it is not a UUID. */
static int
dir_path_id(struct http_request *req, const char *prefix, const char *suffix,
    char *out, size_t size)
{
	const char	*p;
	size_t		 len;

	p = req->path + strlen(prefix);
	len = strcspn(p, "/");
	if (suffix != NULL && strcmp(p + len, suffix) != 0)
		len = 0;
	if (len == 0 || len >= size) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such resource: %.200s", req->path);
		return (-1);
	}
	memcpy(out, p, len);
	out[len] = '\0';
	if (!rc_is_uuid(out)) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no %s with id '%.64s' (ids are UUIDs)",
		    strncmp(prefix, "/admin/v1/users", 15) == 0 ? "user" :
		    "group", out);
		return (-1);
	}

	return (0);
}

static void
user_add_effective(json_t *user)
{
	struct policy_index	*idx;
	const char		*id;
	json_t			*tools;

	id = json_string_value(json_object_get(user, "id"));
	if (id == NULL || (idx = svc_policy()) == NULL)
		return;
	if ((tools = admin_effective_tools(idx, id, NULL, NULL, 0)) != NULL)
		(void)json_object_set_new(user, "effective_tools", tools);
}

/* The common shape of every handler here. */
static int
dir_handle(struct http_request *req, enum dir_kind kind,
    const char *const *allowed, const char *prefix, const char *suffix)
{
	static const char *const	items[] = { "users", NULL, "groups",
	    "groups", NULL, "members" };
	struct dir_job			*job;
	json_t				*out;

	if ((job = svc_ctx(req)->state) != NULL) {
		switch (admin_job_finish(req, &job->err, job->param)) {
		case 0:
			return (KORE_RESULT_RETRY);
		case 1:
			return (KORE_RESULT_OK);
		}
		if (kind == DIR_USER || kind == DIR_GROUP) {
			/*
			 * A user's effective tools come from this worker's
			 * policy index: what gateways are told right now.
			 */
			if (kind == DIR_USER)
				user_add_effective(job->result);
			svc_respond_json(req, HTTP_STATUS_OK, job->result);
			return (KORE_RESULT_OK);
		}
		out = json_pack("{s:O, s:s?}", items[kind], job->page.rows,
		    "next_cursor", job->next[0] ? job->next : NULL);
		svc_respond_json(req, HTTP_STATUS_OK, out);
		json_decref(out);
		return (KORE_RESULT_OK);
	}

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	job = dir_job_new(req, kind);
	if (prefix != NULL && dir_path_id(req, prefix, suffix, job->id,
	    sizeof(job->id)) == -1)
		return (KORE_RESULT_OK);
	if (dir_parse(req, job, allowed) == -1)
		return (KORE_RESULT_OK);

	return (svc_db_run(req, dir_job_fn, job));
}

int
page_admin_users(struct http_request *req)
{
	return (dir_handle(req, DIR_USERS, users_params, NULL, NULL));
}

int
page_admin_user(struct http_request *req)
{
	return (dir_handle(req, DIR_USER, no_params, "/admin/v1/users/",
	    ""));
}

int
page_admin_user_groups(struct http_request *req)
{
	return (dir_handle(req, DIR_USER_GROUPS, page_params,
	    "/admin/v1/users/", "/groups"));
}

int
page_admin_groups(struct http_request *req)
{
	return (dir_handle(req, DIR_GROUPS, groups_params, NULL, NULL));
}

int
page_admin_group(struct http_request *req)
{
	return (dir_handle(req, DIR_GROUP, no_params, "/admin/v1/groups/",
	    ""));
}

int
page_admin_group_members(struct http_request *req)
{
	return (dir_handle(req, DIR_GROUP_MEMBERS, members_params,
	    "/admin/v1/groups/", "/members"));
}
