/*
 * activity_glue.h: the worker's activity counts (http_activity.c) for
 * the console's overview: SCIM requests and policy decisions, counted
 * in memory on the request path and flushed to PostgreSQL every
 * ACTIVITY_FLUSH_MS by each worker (src/core/activity.h).
 *
 * The counting functions cost one hash probe, never allocate, never
 * fail and never touch the answer: a lost count is only a lost count.
 */
#ifndef RC_ACTIVITY_GLUE_H
#define RC_ACTIVITY_GLUE_H

#include <kore/kore.h>
#include <kore/http.h>

#define ACTIVITY_FLUSH_MS	2000

/*
 * Worker configure: starts the flush timer and observes every response
 * (svc_respond_observe): a SCIM request of a directory-bound token is
 * counted; anything else is ignored.
 */
void	svc_activity_worker_init(void);

/*
 * One decision answered on req: allow, else a deny for reason (a
 * reason code such as "denied_by_rule"; NULL: "deny").  Counted under
 * the directory of the request's token; requests of global tokens are
 * not counted (no directory to show them in).
 */
void	svc_activity_decision(struct http_request *, int allow,
	    const char *reason);

#endif
