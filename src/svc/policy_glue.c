/*
 * policy_glue.c: the in-memory policy index each worker answers from,
 * and how it stays current.
 *
 * The parent loads the index from PostgreSQL before it forks, so every
 * worker starts with it (copy-on-write).  Committed changes travel as
 * records through the shared change ring: the worker that committed
 * appends them before it answers its client, and every worker applies
 * whatever it has not applied yet before it answers a decision (and on
 * a 100 ms timer, so an idle worker does not fall behind).  A disable
 * acknowledged by one worker is therefore a deny on all of them at once.
 *
 * A worker that falls more than the ring's capacity behind (or a
 * restarted worker whose ring history is gone) rebuilds its index from
 * the database on a task thread; until the new index is in place it
 * denies everything (fail closed).
 *
 * A record or row the index refuses quarantines the principal it
 * concerns (policy.h): denied as principal_unavailable until its own
 * record applies or a rebuild loads it cleanly.  Such events are logged
 * once per instance (by the parent at start, by worker 1 afterwards)
 * and counted in rollcall_policy_refused_total.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changering.h"
#include "changes.h"
#include "policy_glue.h"
#include "policy_store.h"
#include "svc.h"
#include "util.h"

#define RING_CHUNK	65536		/* records per ring entry, in bytes */
#define SYNC_MS		100

struct rebuild {
	uint64_t		 ring_start;
	struct policy_index	*idx;
	struct policy_dirs	 dirs;
	struct store_err	 err;
};

static struct policy_index	*index_cur;
static struct policy_dirs	 dirs_cur;
static struct policy_lww	*lww;
static uint64_t			 base_version;
static uint64_t			 ring_pos;
static int			 rebuilding;
static unsigned char		*readbuf;
static size_t			 readbuf_size;
static struct svc_policy_observer	*observers;
static uint64_t			 advanced_version;
static uint64_t			 ring_seen;

static void	sync_timer(void *, u_int64_t);
static void	rebuild_start(void);
static int	rebuild_job(PGconn *, void *, struct svc_db_err *);
static void	rebuild_done(void *, int, struct svc_db_err *);
static void	apply_entry(const unsigned char *, size_t);
static int	log_quarantined(void *, const char *, const char *,
		    const char *);

/* One process per instance reports refusals: the parent, then worker 1. */
static int
reporter(void)
{
	return (worker == NULL || worker->id == 1);
}

static int
log_quarantined(void *arg, const char *id, const char *dir, const char *why)
{
	(void)arg;
	svc_log(SVC_LOG_WARN, "policy: principal %s (directory %s) "
	    "quarantined: %s", id, dir != NULL ? dir : "?", why);
	return (0);
}

int
svc_policy_parent_load(PGconn *conn, struct svc_db_err *dberr)
{
	struct store_err	err;

	memset(&err, 0, sizeof(err));
	if (policy_store_load(conn, &index_cur, &dirs_cur, &err) == -1) {
		rc_strlcpy(dberr->msg, err.msg, sizeof(dberr->msg));
		return (-1);
	}
	policy_set_nest_depth(index_cur, svc.settings.group_nesting_depth);
	if ((lww = policy_lww_new()) == NULL) {
		rc_strlcpy(dberr->msg, "out of memory", sizeof(dberr->msg));
		return (-1);
	}
	base_version = policy_version(index_cur);
	ring_pos = changering_head(svc.ring);
	if (policy_quarantined(index_cur) > 0) {
		(void)policy_quarantine_each(index_cur, log_quarantined, NULL);
		metrics_add(svc.metrics, METRIC_POLICY_REFUSED,
		    policy_quarantined(index_cur));
	}

	return (0);
}

uint64_t
svc_policy_base_version(void)
{
	return (base_version);
}

void
svc_policy_worker_init(void)
{
	(void)kore_timer_add(sync_timer, SYNC_MS, NULL, 0);
	advanced_version = base_version;
}

void
svc_policy_observe(struct svc_policy_observer *o)
{
	struct svc_policy_observer	**p;

	/* Registration order is call order. */
	for (p = &observers; *p != NULL; p = &(*p)->next)
		;
	o->next = NULL;
	*p = o;
}

void
svc_policy_rebuild(void)
{
	rebuild_start();
}

void
svc_policy_proved(uint64_t at_ms)
{
	uint64_t	cur;

	cur = __atomic_load_n(&svc.shared->policy_proof_ms, __ATOMIC_RELAXED);
	while (at_ms > cur && !__atomic_compare_exchange_n(
	    &svc.shared->policy_proof_ms, &cur, at_ms, 0, __ATOMIC_RELEASE,
	    __ATOMIC_RELAXED))
		;
}

uint64_t
svc_policy_proof_age_ms(void)
{
	uint64_t	now, at;

	now = rc_mono_us() / 1000;
	at = __atomic_load_n(&svc.shared->policy_proof_ms, __ATOMIC_ACQUIRE);

	return (now > at ? now - at : 0);
}

int
svc_policy_stale(void)
{
	return (svc_policy_proof_age_ms() >
	    (uint64_t)svc.settings.policy_max_staleness_s * 1000);
}

static void
sync_timer(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	(void)svc_policy();
}

static void
apply_entry(const unsigned char *buf, size_t len)
{
	struct policy_refusal		 ref;
	struct svc_policy_observer	*o;
	json_error_t	 jerr;
	json_t		*doc, *rec;
	json_int_t	 v;
	size_t		 i;

	if ((doc = json_loadb((const char *)buf, len, 0, &jerr)) == NULL) {
		svc_log(SVC_LOG_ERROR, "policy: unreadable change entry: %s",
		    jerr.text);
		return;
	}
	if (json_is_object(doc)) {
		rec = doc;
		doc = json_array();
		(void)json_array_append_new(doc, rec);
	}
	json_array_foreach(doc, i, rec) {
#ifdef RC_TESTHOOKS
		/* Test builds: corrupt the index on purpose (antientropy). */
		if (json_is_string(json_object_get(rec, "testhook_flip"))) {
			(void)policy_testhook_flip_revoked(index_cur,
			    json_string_value(json_object_get(rec,
			    "testhook_flip")));
			continue;
		}
#endif
		if (policy_store_apply(index_cur, &dirs_cur, lww, base_version,
		    rec, &ref) == -1 && reporter()) {
			metrics_add(svc.metrics, METRIC_POLICY_REFUSED, 1);
			if (ref.quarantined)
				svc_log(SVC_LOG_ERROR, "policy: change record "
				    "of kind '%s' refused (%s); quarantined: "
				    "%s", ref.kind, ref.msg, ref.principal);
			else
				svc_log(SVC_LOG_ERROR, "policy: change record "
				    "of kind '%s' refused (%s)",
				    ref.kind[0] != '\0' ? ref.kind : "?",
				    ref.msg);
		}
		v = json_integer_value(json_object_get(rec, "version"));
		if (v > 0) {
			for (o = observers; o != NULL; o = o->next)
				if (o->seen != NULL)
					o->seen((uint64_t)v);
		}
		if (v > 0 && (uint64_t)v > ring_seen)
			ring_seen = (uint64_t)v;
	}
	json_decref(doc);
}

/*
 * The worker's index, brought up to date with the ring; NULL while it
 * is being rebuilt (callers deny).
 */
struct policy_index *
svc_policy(void)
{
	struct svc_policy_observer	*o;
	enum changering_read	 r;
	size_t			 len;
	unsigned char		*p;

	if (rebuilding || index_cur == NULL)
		return (NULL);
	for (;;) {
		r = changering_read(svc.ring, &ring_pos, readbuf,
		    readbuf_size, &len);
		if (r == CHANGERING_EMPTY)
			break;
		if (r == CHANGERING_TOOBIG) {
			if ((p = realloc(readbuf, len)) == NULL) {
				rebuild_start();
				return (NULL);
			}
			readbuf = p;
			readbuf_size = len;
			continue;
		}
		if (r == CHANGERING_OVERRUN) {
			svc_log(SVC_LOG_WARN, "policy: fell behind the change "
			    "ring; rebuilding from the database");
			rebuild_start();
			return (NULL);
		}
		apply_entry(readbuf, len);
	}
	/* Sleeping long-polls and streams wait for the index to move. */
	if (policy_version(index_cur) > advanced_version ||
	    ring_seen > advanced_version) {
		advanced_version = policy_version(index_cur) > ring_seen ?
		    policy_version(index_cur) : ring_seen;
		for (o = observers; o != NULL; o = o->next)
			if (o->advanced != NULL)
				o->advanced(advanced_version);
	}
	/* For the version and ring lag gauges (ops_metrics.c). */
	if (worker != NULL) {
		__atomic_store_n(&svc.shared->policy_version[worker->id %
		    SVC_MAX_PROCS], policy_version(index_cur), __ATOMIC_RELAXED);
		__atomic_store_n(&svc.shared->ring_pos[worker->id %
		    SVC_MAX_PROCS], ring_pos, __ATOMIC_RELAXED);
	}

	return (index_cur);
}

const struct policy_dirs *
svc_policy_dirs(void)
{
	return (&dirs_cur);
}

/* Appends one JSON array of records to the ring. */
static void
ring_append_array(json_t *arr)
{
	char	*text;

	if (json_array_size(arr) == 0)
		return;
	if ((text = json_dumps(arr, JSON_COMPACT)) == NULL ||
	    changering_append(svc.ring, text, strlen(text)) == 0) {
		/* Cannot tell the other workers: make them all reload. */
		svc_log(SVC_LOG_ERROR, "policy: change batch too large for the "
		    "ring; workers will rebuild");
		svc_policy_invalidate_all();
	}
	free(text);
}

void
svc_changes_append(json_t *records)
{
	struct svc_policy_observer	*o;
	json_t	*chunk, *rec;
	size_t	 i, bytes;
	char	*text;

	chunk = json_array();
	bytes = 0;
	json_array_foreach(records, i, rec) {
		if ((text = json_dumps(rec, JSON_COMPACT)) == NULL)
			continue;
		bytes += strlen(text) + 1;
		free(text);
		(void)json_array_append(chunk, rec);
		if (bytes >= RING_CHUNK) {
			ring_append_array(chunk);
			json_array_clear(chunk);
			bytes = 0;
		}
	}
	ring_append_array(chunk);
	json_decref(chunk);
	for (o = observers; o != NULL; o = o->next)
		if (o->appended != NULL)
			o->appended();
}

void
svc_changes_publish(const struct store_changes *c)
{
	if (c->version == 0 || c->records == NULL)
		return;
	svc_changes_append(c->records);
	/* Our own worker applies at once, too. */
	(void)svc_policy();
}

/*
 * Pushes the ring head past any reader: every worker overruns and
 * rebuilds.  For the rare case a change cannot be carried in the ring.
 */
void
svc_policy_invalidate_all(void)
{
	changering_invalidate(svc.ring);
}

static void
rebuild_start(void)
{
	struct rebuild	*rb;

	if (rebuilding)
		return;
	rebuilding = 1;
	if ((rb = calloc(1, sizeof(*rb))) == NULL)
		fatal("rollcall: out of memory");
	rb->ring_start = changering_head(svc.ring);
	(void)svc_db_background(rebuild_job, rb, rebuild_done);
}

static int
rebuild_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct rebuild	*rb = arg;

	if (policy_store_load(conn, &rb->idx, &rb->dirs, &rb->err) == -1) {
		rc_strlcpy(dberr->msg, rb->err.msg, sizeof(dberr->msg));
		return (-1);
	}
	policy_set_nest_depth(rb->idx, svc.settings.group_nesting_depth);

	return (0);
}

static void
rebuild_done(void *arg, int result, struct svc_db_err *err)
{
	struct rebuild			*rb = arg;
	struct policy_lww		*fresh;
	struct svc_policy_observer	*o;

	rebuilding = 0;
	if (result == -1 || (fresh = policy_lww_new()) == NULL) {
		svc_log(SVC_LOG_ERROR, "policy: rebuild failed, retrying: %s",
		    err->msg);
		free(rb);
		/* Still behind: the next tick tries again (pos past head). */
		ring_pos = changering_head(svc.ring) + 8;
		return;
	}
	policy_free(index_cur);
	policy_dirs_cleanup(&dirs_cur);
	policy_lww_free(lww);
	index_cur = rb->idx;
	dirs_cur = rb->dirs;
	lww = fresh;
	base_version = policy_version(index_cur);
	ring_pos = rb->ring_start;
	free(rb);
	svc_log(SVC_LOG_INFO, "policy: index rebuilt at version %llu "
	    "(%zu principals quarantined)", (unsigned long long)base_version,
	    policy_quarantined(index_cur));
	for (o = observers; o != NULL; o = o->next)
		if (o->rebuilt != NULL)
			o->rebuilt(base_version);
	(void)svc_policy();
}
