/*
 * lifecycle.h: what the process lifecycle (lifecycle.c: Kore's parent
 * and worker hooks) calls in each module, one section per file.  Nothing
 * here is for handlers.  The parent's loaders run before the fork
 * (workers may be chrooted and sandboxed); a worker's must not fail
 * (Kore respawns a dying worker with no backoff).
 */
#ifndef RC_LIFECYCLE_H
#define RC_LIFECYCLE_H

#include <libpq-fe.h>

#include "db.h"

/*
 * admin_common.c: loads the cursor signing key in the parent.
 * 0, or -1 with the reason.
 */
int	svc_admin_load(PGconn *, struct svc_db_err *);

/* http_admin_policy.c: the grant expiry timer, per worker. */
void	admin_policy_worker_init(void);

/*
 * http_openapi.c: loads the OpenAPI document in the parent (path NULL:
 * conf/openapi.json).  0, or -1 after logging why.
 */
int	svc_openapi_load(const char *path);

/*
 * http_console.c: reads the admin console's files (conf/console/) in
 * the parent; a missing file only disables /console/.
 */
void	svc_console_load(void);

/*
 * http_feeds.c, per worker: the feeds' timers and message, and their
 * observer of the policy index (call after svc_policy_worker_init).
 */
void	feeds_worker_init(void);

/* listener.c, on worker 1: LISTEN for changes from other processes. */
void	svc_listener_start(void);

/* antientropy.c: every worker compares index digests. */
void	svc_antientropy_start(void);

/*
 * leakcheck.c, sanitizer builds: LeakSanitizer checks the process now,
 * from a teardown hook, and not at exit(): after these hooks Kore's
 * cleanup unmaps its pools under task threads still waiting on
 * condition variables inside them (LeakSanitizer's stop-the-world then
 * wakes them into a futex error that aborts the worker before any
 * report).  A no-op unless ASAN_OPTIONS has detect_leaks=1 (which needs
 * RC_TEST_SANDBOX=off in a worker); a leak makes the process exit 23.
 * held_requests: also report HTTP requests Kore still holds (a worker
 * exiting in the leak-checked variant).
 */
void	svc_leak_check(int held_requests);

#endif
