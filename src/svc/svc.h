/*
 * svc.h: the service layer's process state (settings, shared-memory
 * tables), defined in svc.c and filled by lifecycle.c, and the three
 * headers every glue file needs:
 *
 *   ctx.h       the per-request context
 *   logout.h    where log lines go, buffered per worker (logout.c)
 *   respond.h   responses, errors and logging (respond.c)
 *   db.h        database jobs on Kore task threads (db.c)
 *
 * The other glue headers each belong to one module and are included
 * only where that module is used: auth.h (http_auth.c), policy_glue.h
 * (the worker's policy index), lifecycle.h (what lifecycle.c starts in
 * each module), ops_metrics.h, admin.h (the admin API's shared helpers)
 * and gateway.h (the gateway endpoints).
 */
#ifndef RC_SVC_H
#define RC_SVC_H

#include <sys/types.h>

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/tasks.h>

#include "metrics.h"
#include "ratelimit.h"
#include "settings.h"
#include "tokentab.h"

#define SVC_SCHEMA_VERSION	7	/* highest sql/NNN_*.sql we need */

/*
 * A bearer token the shared table does not know may have been created a
 * moment ago by rollcallctl (its NOTIFY still on the way): it is looked
 * up in the database, at most this many times a second per instance
 * (with this burst), so unknown tokens cannot flood PostgreSQL.
 */
#define SVC_TOKEN_LOOKUPS_S	20
#define SVC_TOKEN_LOOKUPS_BURST	40

#define SVC_MAX_PROCS		65	/* parent + the most workers */

/* Our Kore message ids (Kore leaves 201-255 to us): all of them here. */
#define SVC_MSG_FEEDS_NUDGE	231	/* http_feeds.c: apply the ring now */

/*
 * Shared by all processes; mapped by the parent before fork
 * (lifecycle.c).  Each field names the module that writes it; any
 * process reads.
 */
struct svc_shared {
	uint64_t	started_ms;
	uint32_t	ready;			/* initial state loaded */
	uint32_t	db_ok;			/* last database contact worked */
	uint64_t	db_checked_ms;
	/* Database look-ups for tokens not (yet) in the table (http_auth.c). */
	struct ratelimit token_lookups;
	/* For process_* metrics (ops_metrics.c): [0] parent, [id] worker. */
	uint32_t	parent_pid;
	uint32_t	open_fds[SVC_MAX_PROCS];
	/*
	 * Currency (listener.c): the monotonic time (ms) at which this
	 * instance last proved its index held every committed change, and
	 * whether the listener is connected and caught up now.
	 */
	uint64_t	policy_proof_ms;
	uint32_t	policy_current;
	/*
	 * Each worker's own ([worker id]), for /metrics (ops_metrics.c):
	 * the version of its policy index and its read position in the
	 * change ring (policy_glue.c), its open SSE streams and waiting
	 * long-polls (http_feeds.c).  Written only by that worker.
	 */
	uint64_t	policy_version[SVC_MAX_PROCS];
	uint64_t	ring_pos[SVC_MAX_PROCS];
	uint32_t	streams_open[SVC_MAX_PROCS];
	uint32_t	polls_open[SVC_MAX_PROCS];
	/*
	 * Entra bindings and keys (entra_glue.c): bumped on every change
	 * (NOTIFY "entra", an admin write), so each worker reloads; a
	 * key refresh asked for (time, ms), and the last one allowed.
	 */
	uint64_t	entra_gen;
	uint64_t	entra_refresh_asked_ms;
	uint64_t	entra_kid_refresh_ms;
};

struct changering;

/*
 * The process's service state, filled by the parent before the fork
 * (lifecycle.c) and read-only afterwards, except through the shared tables
 * it points to (which have their own rules: tokentab.h, metrics.h,
 * changering.h).
 */
struct svc {
	struct settings		 settings;
	struct svc_shared	*shared;
	struct tokentab		*tokens;
	struct metrics		*metrics;
	struct changering	*ring;
	size_t			 ring_capacity;
	char			 instance[64];
};

extern struct svc	svc;

/* Route labels for metrics (handler names without "page_"; http_ops.c). */
extern const char *const	svc_routes[];
extern const size_t		svc_nroutes;

#include "ctx.h"
#include "logout.h"
#include "respond.h"
#include "db.h"

#endif
