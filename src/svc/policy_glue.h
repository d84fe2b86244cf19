/*
 * policy_glue.h: the worker's in-memory policy index and how it stays
 * current (policy_glue.c).  Event loop only, unless a function says
 * otherwise.  The index and the directory table are owned by
 * policy_glue.c; callers borrow them until they return to the loop.
 */
#ifndef RC_POLICY_GLUE_H
#define RC_POLICY_GLUE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"

struct policy_index;
struct policy_dirs;
struct store_changes;

/*
 * The parent loads the index before the fork; svc_policy() returns the
 * worker's index brought up to date, or NULL while it is being rebuilt
 * (deny).
 */
int				 svc_policy_parent_load(PGconn *,
				    struct svc_db_err *);
void				 svc_policy_worker_init(void);
struct policy_index		*svc_policy(void);
const struct policy_dirs	*svc_policy_dirs(void);
uint64_t			 svc_policy_base_version(void);
void				 svc_policy_invalidate_all(void);
/* Rebuild this worker's index from the database (denies meanwhile). */
void				 svc_policy_rebuild(void);

/*
 * Currency, readable in every worker.  svc_policy_proof_age_ms: how
 * long ago the instance last proved it is current.  svc_policy_stale:
 * 1 when that is longer than policy_max_staleness_s, and decisions must
 * deny (policy_stale) rather than trust the index.  svc_policy_proved:
 * the listener records a proof taken at monotonic time at_ms.
 */
uint64_t			 svc_policy_proof_age_ms(void);
int				 svc_policy_stale(void);
void				 svc_policy_proved(uint64_t at_ms);

/*
 * Who follows this worker's index: every observer registers once per
 * worker, at configure (svc_policy_observe), and is never removed; the
 * struct is the observer's own (static storage).  Any callback may be
 * NULL.  All run on the event loop, in registration order:
 *
 *   seen(v)      a change record of version v was applied (each one);
 *   advanced(v)  the index now stands at v (once per catch-up that
 *                moved it, after the records' seen calls);
 *   rebuilt(v)   the index was rebuilt from the database at base v;
 *   appended()   this worker appended change records to the ring.
 *
 * Today: the listener (listener.c: seen, rebuilt) and the gateway feeds
 * (http_feeds.c: advanced, appended).
 */
struct svc_policy_observer {
	void				(*seen)(uint64_t);
	void				(*advanced)(uint64_t);
	void				(*rebuilt)(uint64_t);
	void				(*appended)(void);
	struct svc_policy_observer	*next;		/* policy_glue.c's */
};

void	svc_policy_observe(struct svc_policy_observer *);

/*
 * After COMMIT of a transaction that flushed a store_changes batch (see
 * src/store/changes.h): hands its records to every worker's policy index
 * (through shared memory) before the caller answers its client.  Call it
 * on the event loop (in the handler), never on a task thread.
 */
void	svc_changes_publish(const struct store_changes *);

/* Appends change records (a JSON array; borrowed) to the shared ring. */
void	svc_changes_append(json_t *records);

#endif
