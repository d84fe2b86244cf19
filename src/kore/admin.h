/*
 * admin.h: what the admin API's glue files share.
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include "store.h"
#include "svc.h"

struct policy_index;

/* The cursor signing key (loaded by the parent; once per process else). */
int	admin_cursor_key(PGconn *, const unsigned char **,
	    struct store_err *);

/* 400 naming the query parameter. */
void	admin_param_error(struct http_request *, const char *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));

/* Maps a finished job's error to a response: 0 running, 1 answered, -1 ok. */
int	admin_job_finish(struct http_request *, struct store_err *,
	    const char *);

/* The directory a request may see (token's, or one a global token names). */
int	admin_directory_scope(PGconn *, int64_t, const char *, int64_t *,
	    struct store_err *, char *, size_t);

/*
 * The tools a principal may call now, from the worker's index, as a
 * JSON array of {server, tool, reason_code, rule_id, group_id,
 * grant_id} (new reference); server may be NULL for all.  With all set,
 * denied tools are listed too, with their reasons.
 */
json_t	*admin_effective_tools(struct policy_index *, const char *id,
	    const char *directory, const char *server, int all);

#endif
