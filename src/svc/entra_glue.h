/*
 * entra_glue.h: Entra access tokens as subjects (entra_glue.c), for the
 * decision endpoints, and the workers' copy of the bindings and keys.
 *
 * Each worker holds every directory's binding (sql/005_entra.sql) and
 * its tenant's parsed keys, reloaded from PostgreSQL whenever the
 * shared generation (svc_shared.entra_gen) moves: on NOTIFY "entra"
 * (listener.c) and on an admin write on this instance.  A failed
 * reload keeps what the worker had.  Validated tokens are cached per
 * worker by hash until exp (token_cache.h): a hit costs no signature
 * check; the cache holds validity, never a decision.
 */
#ifndef RC_ENTRA_GLUE_H
#define RC_ENTRA_GLUE_H

#include <stdint.h>

#include <libpq-fe.h>

enum entra_check {
	ENTRA_CHECK_OK = 0,
	ENTRA_CHECK_REFUSED,	/* the token is not valid: reason says why */
	ENTRA_CHECK_UNBOUND,	/* the directory has no binding */
};

/* Who a valid token names. */
struct entra_who {
	char	directory[24];	/* the binding's directory id */
	char	oid[64];
	char	app_id[64];
	int	app_only;
	int	version;
	int64_t	exp;
};

/*
 * Validates token for directory_id (0, a global gateway token: the
 * directory bound to the token's tenant).  ENTRA_CHECK_OK with who
 * filled, else *reason is a reason code ("token_expired", ...,
 * "token_not_bound" when unbound) and *detail a sentence (static).
 */
enum entra_check	entra_check(int64_t directory_id, const char *token,
			    struct entra_who *who, const char **reason,
			    const char **detail);

/*
 * How many directories this worker's bindings bind to tenant tid.  More
 * than one makes "the directory of this token's tenant" ambiguous, so
 * whoever needs that answer (the admin sign-in) refuses.
 */
size_t	entra_tenant_bindings(const char *tid);

/* Bindings or keys changed: every worker of this instance reloads. */
void	entra_changed(void);

/* Per worker: the reload timer, the cache; on worker 1 the fetcher. */
void	entra_worker_init(void);

/*
 * In the parent, before the fork (workers may be chrooted): the CA
 * certificates the key fetch trusts (setting entra_ca_bundle, else the
 * system's bundle), and the bindings and keys, so workers decide from
 * their first request.  A worker forked after a change (a restart)
 * does not trust the parent's copy and waits for its own reload.
 * Never fails: without CAs, fetches fail and are counted; without the
 * bindings, workers load them.
 */
void	entra_parent_init(PGconn *);

#endif
