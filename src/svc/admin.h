/*
 * admin.h: what the admin API's glue files share.  Defined in
 * admin_common.c, except admin_effective_tools (http_admin_principal.c,
 * next to the endpoint that shows it).
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include "store.h"
#include "svc.h"

struct policy_index;

/*
 * The cursor signing key: loaded by the parent (svc_admin_load in
 * lifecycle.h), else once per process by the first job that needs it.
 * *key points to the process's copy (cursor.h owns it); any thread.
 */
int	admin_cursor_key(PGconn *, const unsigned char **key,
	    struct store_err *);

/*
 * Answers 400 invalid_parameter naming the query parameter param
 * (empty: "query"), with the formatted detail.
 */
void	admin_param_error(struct http_request *, const char *param,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * After a job run with svc_db_run whose fn fills err (and param, the
 * query parameter at fault, if any): 0 while it runs, 1 when an error
 * answer was sent, -1 when it succeeded and the caller answers.
 */
int	admin_job_finish(struct http_request *, struct store_err *err,
	    const char *param);

/*
 * On a task thread: the directory a request may see, into *dir: the
 * token's own (token_dir), or for a global token (0) all (0) or the one
 * named.  A bound token naming another directory gets 403 in err; an
 * unknown name 404 with "directory" copied to param (size bytes).
 */
int	admin_directory_scope(PGconn *, int64_t token_dir, const char *name,
	    int64_t *dir, struct store_err *err, char *param, size_t size);

/*
 * The tools a principal may call now, from the worker's index, as a
 * JSON array of {server, tool, reason_code, rule_id, group_id,
 * grant_id} (new reference); server may be NULL for all.  With all set,
 * denied tools are listed too, with their reasons.
 */
json_t	*admin_effective_tools(struct policy_index *, const char *id,
	    const char *directory, const char *server, int all);

/*
 * The audit actor of req's token: its name and the request id are
 * copied into the caller's name and rid buffers (job storage), which
 * *actor then borrows for the job's life.
 */
void	admin_actor(struct http_request *, struct store_actor *actor,
	    char *name, size_t namesz, char *rid, size_t ridsz);

#endif
