/*
 * antientropy.c: every worker now and then proves that its policy index
 * agrees with PostgreSQL, and rebuilds it when it does not.
 *
 * Every antientropy_s seconds (staggered across workers) a task thread
 * computes the per-directory digest in PostgreSQL (digest_store.h) of
 * every principal, or of one slice of them in a large index, with
 * the policy version it was taken at; back on the event loop the worker
 * digests its own index (digest.h) if, and only if, the index is at
 * that same version, so a change in flight is never a mismatch (a
 * version skew is counted as skipped and retried shortly).  A mismatch
 * is confirmed by a second check a moment later, then logged once per
 * directory, counted (rollcall_antientropy_mismatches_total) and
 * repaired by the same rebuild that follows a ring overrun: the worker
 * denies while it reloads.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "digest_store.h"
#include "lifecycle.h"
#include "policy.h"
#include "policy_glue.h"
#include "svc.h"
#include "util.h"

#define RETRY_MS	1000
#define RETRIES		3
#define WHOLE_MAX	16384	/* principals checked in one go; more: slices */

struct ae_check {
	int			bucket;
	uint64_t		version;
	uint64_t		db_us;		/* the query, on the task thread */
	struct digest		db;
	struct store_err	err;
};

static int	running;
static int	retries;
static int	suspect;
static int	bucket = DIGEST_ALL;	/* what the current round covers */
static int	next_bucket;

static void	new_round(void);
static void	ae_timer(void *, u_int64_t);
static void	ae_first(void *, u_int64_t);
static void	ae_run(void);
static int	ae_job(PGconn *, void *, struct svc_db_err *);
static void	ae_done(void *, int, struct svc_db_err *);

void
svc_antientropy_start(void)
{
	uint64_t	period, first;

	if (svc.settings.antientropy_s <= 0)
		return;
	period = (uint64_t)svc.settings.antientropy_s * 1000;
	/* Spread the workers' checks over the period. */
	first = period * worker->id / ((uint64_t)svc.settings.workers + 1);
	(void)kore_timer_add(ae_first, first > 0 ? first : 1, NULL,
	    KORE_TIMER_ONESHOT);
}

static void
ae_first(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	(void)kore_timer_add(ae_timer,
	    (uint64_t)svc.settings.antientropy_s * 1000, NULL, 0);
	new_round();
	ae_run();
}

/*
 * A new round: a small index is checked whole; a large one (tier L:
 * 150,000 users, 3,000,000 memberships) one sixteenth at a time, in
 * turn, so each check stays cheap and every principal is covered every
 * DIGEST_BUCKETS rounds.
 */
static void
new_round(void)
{
	struct policy_index	*idx;
	struct policy_stats	 st;

	retries = 0;
	suspect = 0;
	bucket = DIGEST_ALL;
	if ((idx = svc_policy()) != NULL) {
		policy_stats(idx, &st);
		if (st.principals > WHOLE_MAX) {
			bucket = next_bucket;
			next_bucket = (next_bucket + 1) % DIGEST_BUCKETS;
		}
	}
}

static void
ae_timer(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	if (running)
		return;
	/* A suspected mismatch is confirmed on the same slice. */
	if (suspect)
		retries = 0;
	else
		new_round();
	ae_run();
}

static void
ae_retry(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	ae_run();
}

static void
ae_run(void)
{
	struct ae_check	*c;

	if (running)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	digest_init(&c->db);
	c->bucket = bucket;
	running = 1;
	if (svc_db_background(ae_job, c, ae_done) == -1) {
		running = 0;
		digest_cleanup(&c->db);
		free(c);
	}
}

static int
ae_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct ae_check	*c = arg;
	uint64_t	 t0;

	t0 = rc_mono_us();
	if (digest_store_compute(conn, c->bucket, &c->version, &c->db,
	    &c->err) == -1) {
		rc_strlcpy(dberr->msg, c->err.msg, sizeof(dberr->msg));
		return (-1);
	}
	c->db_us = rc_mono_us() - t0;

	return (0);
}

static void
ae_mismatch(void *arg, const char *dir)
{
	struct ae_check	*c = arg;

	metrics_add(svc.metrics, METRIC_ANTIENTROPY_MISMATCHES, 1);
	svc_log(SVC_LOG_WARN, "antientropy: worker %u's policy index differs "
	    "from the database in directory %s at version %llu (slice %d); "
	    "rebuilding it", worker->id, dir, (unsigned long long)c->version,
	    c->bucket);
}

/*
 * Quarantined principals differ from their rows by design (the index
 * could not apply them, and denies them), so a directory holding one is
 * left out of the comparison rather than rebuilt every check.  An
 * unknown directory (a row refused before it named one) leaves out all.
 */
struct ae_skip {
	struct digest	*mine;
	struct digest	*db;
	int		 all;
};

static int
ae_skip_dir(void *arg, const char *id, const char *dir, const char *why)
{
	struct ae_skip	*sk = arg;

	(void)id;
	(void)why;
	if (dir == NULL) {
		sk->all = 1;
		return (1);
	}
	digest_forget(sk->mine, dir);
	digest_forget(sk->db, dir);
	return (0);
}

static void
ae_done(void *arg, int result, struct svc_db_err *err)
{
	struct ae_check		*c = arg;
	struct policy_index	*idx;
	struct digest		 mine;
	struct ae_skip		 sk;
	uint64_t		 t0;
	int			 skew;

	running = 0;
	digest_init(&mine);
	if (result == -1) {
		svc_log(SVC_LOG_DEBUG, "antientropy: cannot read the digest: %s",
		    err->msg);
		goto out;
	}
	idx = svc_policy();
	skew = idx == NULL || policy_version(idx) != c->version;
	if (skew) {
		/* In flight, or rebuilding: try again soon, not a mismatch. */
		metrics_add(svc.metrics, METRIC_ANTIENTROPY_SKIPPED, 1);
		if (retries++ < RETRIES)
			(void)kore_timer_add(ae_retry, RETRY_MS, NULL,
			    KORE_TIMER_ONESHOT);
		goto out;
	}
	t0 = rc_mono_us();
	if (digest_index(idx, c->bucket, &mine) == -1) {
		svc_log(SVC_LOG_WARN, "antientropy: out of memory");
		goto out;
	}
	sk.mine = &mine;
	sk.db = &c->db;
	sk.all = 0;
	if (policy_quarantine_each(idx, ae_skip_dir, &sk) == -1 || sk.all) {
		metrics_add(svc.metrics, METRIC_ANTIENTROPY_SKIPPED, 1);
		goto out;
	}
	metrics_add(svc.metrics, METRIC_ANTIENTROPY_CHECKS, 1);
	if (digest_compare(&mine, &c->db, NULL, NULL) == 0) {
		suspect = 0;
		svc_log(SVC_LOG_DEBUG, "antientropy: worker %u agrees at "
		    "version %llu, slice %d (database %llu us, index %llu us)",
		    worker->id, (unsigned long long)c->version, c->bucket,
		    (unsigned long long)c->db_us,
		    (unsigned long long)(rc_mono_us() - t0));
		goto out;
	}
	if (!suspect) {
		/* Confirm once, so a record applied late is not a repair. */
		suspect = 1;
		(void)kore_timer_add(ae_retry, RETRY_MS, NULL,
		    KORE_TIMER_ONESHOT);
		goto out;
	}
	suspect = 0;
	(void)digest_compare(&mine, &c->db, ae_mismatch, c);
	svc_policy_rebuild();

out:
	digest_cleanup(&mine);
	digest_cleanup(&c->db);
	free(c);
}
