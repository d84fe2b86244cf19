/*
 * entra_glue.c: see entra_glue.h.  Also the key fetcher, on worker 1:
 * on a schedule (entra_refresh_s) and when a worker meets an unknown
 * kid (at most once per entra_unknown_kid_s per instance, counted), a
 * database job fetches each OpenID-bound tenant's configuration and
 * key set over HTTPS (entra_fetch.c) on its task thread and stores a
 * usable, changed set; the NOTIFY that write sends reloads every
 * worker of every instance.  A failed fetch stores nothing: the last
 * good set stays.
 */
#include <sys/types.h>

#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_fetch.h"
#include "entra_glue.h"
#include "entra_store.h"
#include "entra_token.h"
#include "svc.h"
#include "token_cache.h"
#include "util.h"

#define RELOAD_TICK_MS		100
#define FETCH_TICK_MS		250

struct ebinding {
	int64_t			 dir;
	char			 dir_s[24];
	char			 tenant[40];
	char			*auds[ENTRA_AUDIENCES_MAX];
	size_t			 naud;
	int			 v1, v2, skew;
	int			 openid;
	char			*openid_url;
	struct entra_jwks	*keys;		/* NULL: none stored yet */
};

struct estate {
	struct ebinding	*b;
	size_t		 n;
};

static struct estate		 cur;
static uint64_t			 cur_gen;	/* the cache's binding_gen */
static uint64_t			 loaded_gen;	/* shared gen at last load */
static int			 loaded, loading;
static struct token_cache	*cache;

static void
estate_free(struct estate *s)
{
	size_t	i, j;

	for (i = 0; i < s->n; i++) {
		for (j = 0; j < s->b[i].naud; j++)
			free(s->b[i].auds[j]);
		free(s->b[i].openid_url);
		entra_jwks_free(s->b[i].keys);
	}
	free(s->b);
	s->b = NULL;
	s->n = 0;
}

/* The bindings store_entra_load gave; -1 when out of memory. */
static int
estate_build(const json_t *rows, struct estate *s)
{
	struct ebinding	*e;
	const json_t	*row, *a;
	const char	*jwks, *url;
	char		 why[160];
	size_t		 i, j;

	memset(s, 0, sizeof(*s));
	if ((s->b = calloc(json_array_size(rows) + 1, sizeof(*s->b))) == NULL)
		return (-1);
	json_array_foreach(rows, i, row) {
		e = &s->b[s->n++];
		e->dir = json_integer_value(json_object_get(row,
		    "directory_id"));
		(void)snprintf(e->dir_s, sizeof(e->dir_s), "%lld",
		    (long long)e->dir);
		rc_strlcpy(e->tenant, json_string_value(json_object_get(row,
		    "tenant_id")), sizeof(e->tenant));
		json_array_foreach(json_object_get(row, "audiences"), j, a) {
			if (e->naud < ENTRA_AUDIENCES_MAX &&
			    json_is_string(a) &&
			    (e->auds[e->naud] = strdup(json_string_value(a)))
			    != NULL)
				e->naud++;
		}
		e->v1 = json_is_true(json_object_get(row, "accept_v1"));
		e->v2 = json_is_true(json_object_get(row, "accept_v2"));
		e->skew = (int)json_integer_value(json_object_get(row,
		    "skew_s"));
		url = json_string_value(json_object_get(row,
		    "openid_configuration"));
		e->openid = url != NULL;
		if (url != NULL)
			e->openid_url = strdup(url);
		jwks = json_string_value(json_object_get(row, "jwks"));
		if (jwks != NULL && (e->keys = entra_jwks_parse(jwks,
		    strlen(jwks), why, sizeof(why))) == NULL)
			svc_log(SVC_LOG_WARN, "entra: the stored keys of tenant "
			    "%s are unusable: %s", e->tenant, why);
	}
	return (0);
}

void
entra_changed(void)
{
	(void)__atomic_add_fetch(&svc.shared->entra_gen, 1, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ */
/* Reloading, per worker */

struct load_job {
	uint64_t	 gen;
	json_t		*rows;
	struct store_err err;
};

static int
load_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct load_job	*j = arg;

	if (store_entra_load(conn, &j->rows, &j->err) == -1) {
		rc_strlcpy(dberr->msg, j->err.msg, sizeof(dberr->msg));
		return (-1);
	}
	return (0);
}

static void
load_done(void *arg, int result, struct svc_db_err *err)
{
	struct load_job	*j = arg;
	struct estate	 next;

	loading = 0;
	if (result == 0 && estate_build(j->rows, &next) == 0) {
		estate_free(&cur);
		cur = next;
		cur_gen++;
		loaded_gen = j->gen;
		loaded = 1;
	} else {
		/* The old set stays; the next tick tries again. */
		svc_log(SVC_LOG_DEBUG, "entra: reload failed: %s",
		    result == 0 ? "out of memory" : err->msg);
	}
	json_decref(j->rows);
	free(j);
}

static void
reload_tick(void *arg, u_int64_t now)
{
	struct load_job	*j;
	uint64_t	 gen;

	(void)arg;
	(void)now;
	gen = __atomic_load_n(&svc.shared->entra_gen, __ATOMIC_SEQ_CST);
	if (loading || (loaded && gen == loaded_gen))
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->gen = gen;
	loading = 1;
	if (svc_db_background(load_job, j, load_done) == -1) {
		loading = 0;
		free(j);
	}
}

/* ------------------------------------------------------------------ */
/* Validation */

static const struct ebinding *
binding_for(int64_t dir, const char *tid)
{
	size_t	i;

	for (i = 0; i < cur.n; i++) {
		if (dir != 0 && cur.b[i].dir == dir)
			return (&cur.b[i]);
		if (dir == 0 && tid != NULL && strcmp(cur.b[i].tenant,
		    tid) == 0)
			return (&cur.b[i]);
	}
	return (NULL);
}

size_t
entra_tenant_bindings(const char *tid)
{
	size_t	i, n;

	for (i = 0, n = 0; i < cur.n; i++)
		if (strcmp(cur.b[i].tenant, tid) == 0)
			n++;
	return (n);
}

/* An unknown kid: ask worker 1 for a refresh, at most so often. */
static void
ask_refresh(const struct ebinding *b)
{
	uint64_t	now, last;

	if (!b->openid)
		return;
	now = rc_now_ms();
	last = __atomic_load_n(&svc.shared->entra_kid_refresh_ms,
	    __ATOMIC_SEQ_CST);
	if ((last != 0 && now - last < (uint64_t)
	    svc.settings.entra_unknown_kid_s * 1000) ||
	    !__atomic_compare_exchange_n(&svc.shared->entra_kid_refresh_ms,
	    &last, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		metrics_add(svc.metrics, METRIC_ENTRA_KID_LIMITED, 1);
		return;
	}
	metrics_add(svc.metrics, METRIC_ENTRA_KID_REFRESHES, 1);
	__atomic_store_n(&svc.shared->entra_refresh_asked_ms, now,
	    __ATOMIC_SEQ_CST);
}

static enum entra_check
refuse(enum entra_token_status st, const char **reason, const char **detail)
{
	metrics_add(svc.metrics, METRIC_ENTRA_REFUSED, 1);
	*reason = entra_token_status_str(st);
	*detail = "the access token is not valid for this directory";
	return (ENTRA_CHECK_REFUSED);
}

enum entra_check
entra_check(int64_t dir, const char *token, struct entra_who *who,
    const char **reason, const char **detail)
{
	const struct ebinding		*b = NULL;
	struct entra_binding		 eb;
	struct entra_claims		 c;
	struct token_cache_entry	 e;
	enum entra_token_status		 st;
	unsigned char			 hash[TOKEN_CACHE_HASH_LEN];
	char				 tid[64];
	int64_t				 now;

	memset(who, 0, sizeof(*who));
	/*
	 * The token's tid is read (a decode and a parse) only when needed:
	 * to find the binding of a global gateway token, or on a miss.
	 */
	tid[0] = '\0';
	if ((dir == 0 || (b = binding_for(dir, NULL)) == NULL) &&
	    entra_token_peek_tid(token, tid, sizeof(tid)) == -1)
		tid[0] = '\0';
	if (dir == 0)
		b = binding_for(0, tid[0] != '\0' ? tid : NULL);
	if (!loaded) {
		/* A restarted worker before its first load: fail closed. */
		*reason = "internal_error";
		*detail = "the Entra bindings are not loaded yet";
		return (ENTRA_CHECK_REFUSED);
	}
	if (b == NULL) {
		if (dir == 0 && tid[0] != '\0')
			return (refuse(ENTRA_TOKEN_WRONG_TENANT, reason,
			    detail));
		metrics_add(svc.metrics, METRIC_ENTRA_UNBOUND, 1);
		*reason = "token_not_bound";
		*detail = "this directory is not bound to an Entra tenant: "
		    "bind it (PUT /admin/v1/directories/{name}/entra or "
		    "'rollcallctl entra bind') to accept access tokens";
		return (ENTRA_CHECK_UNBOUND);
	}
	now = (int64_t)(rc_now_ms() / 1000);
	SHA256((const unsigned char *)token, strlen(token), hash);
	if (cache != NULL && token_cache_get(cache, hash, now, cur_gen, &e) &&
	    strcmp(e.directory, b->dir_s) == 0) {
		metrics_add(svc.metrics, METRIC_ENTRA_CACHE_HITS, 1);
		rc_strlcpy(who->directory, e.directory, sizeof(who->directory));
		rc_strlcpy(who->oid, e.oid, sizeof(who->oid));
		rc_strlcpy(who->app_id, e.app_id, sizeof(who->app_id));
		who->app_only = e.app_only;
		who->version = e.version;
		who->exp = e.exp_s;
		return (ENTRA_CHECK_OK);
	}
	/* Another tenant's token: refused before any key is looked for. */
	if (tid[0] == '\0' && entra_token_peek_tid(token, tid,
	    sizeof(tid)) == -1)
		tid[0] = '\0';
	if (tid[0] != '\0' && strcmp(tid, b->tenant) != 0)
		return (refuse(ENTRA_TOKEN_WRONG_TENANT, reason, detail));

	memset(&eb, 0, sizeof(eb));
	eb.tenant_id = b->tenant;
	eb.audiences = (const char *const *)b->auds;
	eb.naudiences = b->naud;
	eb.accept_v1 = b->v1;
	eb.accept_v2 = b->v2;
	eb.skew_s = b->skew;
	st = entra_token_verify(token, &eb, b->keys, now, &c);
	if (st == ENTRA_TOKEN_UNKNOWN_KEY)
		ask_refresh(b);
	if (st != ENTRA_TOKEN_OK)
		return (refuse(st, reason, detail));
	if (c.oid == NULL || strlen(c.oid) >= sizeof(who->oid) ||
	    (c.app_id != NULL && strlen(c.app_id) >= sizeof(who->app_id))) {
		entra_claims_clear(&c);
		return (refuse(ENTRA_TOKEN_MALFORMED, reason, detail));
	}
	metrics_add(svc.metrics, METRIC_ENTRA_VERIFIED, 1);
	rc_strlcpy(who->directory, b->dir_s, sizeof(who->directory));
	rc_strlcpy(who->oid, c.oid, sizeof(who->oid));
	if (c.app_id != NULL)
		rc_strlcpy(who->app_id, c.app_id, sizeof(who->app_id));
	who->app_only = c.app_only;
	who->version = c.version;
	who->exp = c.exp;
	entra_claims_clear(&c);
	if (cache != NULL) {
		memset(&e, 0, sizeof(e));
		e.binding_gen = cur_gen;
		/* Valid until exp plus the skew the check allowed. */
		e.exp_s = who->exp + b->skew;
		rc_strlcpy(e.directory, who->directory, sizeof(e.directory));
		rc_strlcpy(e.oid, who->oid, sizeof(e.oid));
		rc_strlcpy(e.app_id, who->app_id, sizeof(e.app_id));
		e.app_only = who->app_only;
		e.version = who->version;
		token_cache_put(cache, hash, &e);
	}
	return (ENTRA_CHECK_OK);
}

/* ------------------------------------------------------------------ */
/* Fetching keys, worker 1 */

struct fetch_target {
	char	tenant[40];
	char	*url;
	int	result;		/* -1 failed, 0 same keys, 1 new keys */
	char	why[256];	/* logged on the loop, not the thread */
};

struct fetch_job {
	struct fetch_target	*t;
	size_t			 n;
};

static int		fetching;
static int		fetch_failing;		/* logged, not yet recovered */
static uint64_t		fetch_last_ms;		/* last fetch started */
static uint64_t		fetch_asked_seen;	/* asks served */

static void
fetch_job_free(struct fetch_job *j)
{
	size_t	i;

	for (i = 0; i < j->n; i++)
		free(j->t[i].url);
	free(j->t);
	free(j);
}

static int
fetch_job(PGconn *conn, void *arg, struct svc_db_err *dberr)
{
	struct fetch_job	*j = arg;
	struct fetch_target	*t;
	struct store_err	 err;
	char			*jwks;
	size_t			 i;
	int			 changed;

	(void)dberr;
	for (i = 0; i < j->n; i++) {
		t = &j->t[i];
		t->result = -1;
		if (entra_fetch_jwks(t->url, &jwks, t->why,
		    sizeof(t->why)) == -1)
			continue;
		if (store_entra_keys_put(conn, t->tenant, jwks, "openid",
		    &changed, &err) == -1)
			rc_strlcpy(t->why, err.msg, sizeof(t->why));
		else
			t->result = changed;
		free(jwks);
	}
	return (0);
}

static void
fetch_done(void *arg, int result, struct svc_db_err *err)
{
	struct fetch_job	*j = arg;
	size_t			 i;
	int			 changed;

	(void)err;
	changed = 0;
	for (i = 0; i < j->n; i++) {
		if (result == -1 || j->t[i].result == -1) {
			metrics_add(svc.metrics, METRIC_ENTRA_FETCH_FAILED, 1);
			/* Logged once while it keeps failing; counted always. */
			if (!fetch_failing)
				svc_log(SVC_LOG_WARN, "entra: keys of tenant %s "
				    "not fetched (the last good set stays): %s",
				    j->t[i].tenant, result == -1 ? "job failed" :
				    j->t[i].why);
			fetch_failing = 1;
			continue;
		}
		if (fetch_failing)
			svc_log(SVC_LOG_INFO, "entra: keys of tenant %s fetched "
			    "again", j->t[i].tenant);
		fetch_failing = 0;
		metrics_add(svc.metrics, METRIC_ENTRA_FETCH_OK, 1);
		if (j->t[i].result == 1) {
			changed = 1;
			svc_log(SVC_LOG_INFO, "entra: new keys for tenant %s",
			    j->t[i].tenant);
		}
	}
	fetch_job_free(j);
	fetching = 0;
	/* New keys NOTIFY; reload here too in case that is late. */
	if (changed)
		entra_changed();
}

static void
fetch_tick(void *arg, u_int64_t unused)
{
	struct fetch_job	*j;
	uint64_t		 now, asked;
	size_t			 i, k;
	int			 missing;

	(void)arg;
	(void)unused;
	if (fetching || !loaded)
		return;
	now = rc_now_ms();
	asked = __atomic_load_n(&svc.shared->entra_refresh_asked_ms,
	    __ATOMIC_SEQ_CST);
	/* A tenant bound with no keys yet: fetch now (as often as a kid). */
	for (i = 0, missing = 0; i < cur.n; i++)
		if (cur.b[i].openid && cur.b[i].keys == NULL)
			missing = 1;
	if (missing && now - fetch_last_ms >=
	    (uint64_t)svc.settings.entra_unknown_kid_s * 1000)
		asked = fetch_asked_seen + 1;
	if (asked == fetch_asked_seen && fetch_last_ms != 0 &&
	    now - fetch_last_ms < (uint64_t)svc.settings.entra_refresh_s *
	    1000)
		return;
	fetch_asked_seen = __atomic_load_n(&svc.shared->entra_refresh_asked_ms,
	    __ATOMIC_SEQ_CST);
	fetch_last_ms = now;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->t = calloc(cur.n + 1, sizeof(*j->t))) == NULL) {
		free(j);
		return;
	}
	for (i = 0; i < cur.n; i++) {
		if (!cur.b[i].openid || cur.b[i].openid_url == NULL)
			continue;
		for (k = 0; k < j->n; k++)
			if (strcmp(j->t[k].tenant, cur.b[i].tenant) == 0)
				break;
		if (k < j->n)
			continue;
		rc_strlcpy(j->t[j->n].tenant, cur.b[i].tenant,
		    sizeof(j->t[j->n].tenant));
		if ((j->t[j->n].url = strdup(cur.b[i].openid_url)) != NULL)
			j->n++;
	}
	if (j->n == 0) {
		fetch_job_free(j);
		return;
	}
	fetching = 1;
	if (svc_db_background(fetch_job, j, fetch_done) == -1) {
		fetching = 0;
		fetch_job_free(j);
	}
}

void
entra_worker_init(void)
{
	/* The parent's copy, unless something changed since it was made. */
	if (loaded && __atomic_load_n(&svc.shared->entra_gen,
	    __ATOMIC_SEQ_CST) != loaded_gen) {
		estate_free(&cur);
		loaded = 0;
	}
	cache = token_cache_new((size_t)svc.settings.entra_token_cache);
	(void)kore_timer_add(reload_tick, RELOAD_TICK_MS, NULL, 0);
	reload_tick(NULL, 0);
	if (worker->id == 1)
		(void)kore_timer_add(fetch_tick, FETCH_TICK_MS, NULL, 0);
}

void
entra_parent_init(PGconn *conn)
{
	struct store_err	err;
	json_t			*rows;

	entra_fetch_init(svc.settings.entra_ca_bundle);
	loaded_gen = __atomic_load_n(&svc.shared->entra_gen, __ATOMIC_SEQ_CST);
	if (store_entra_load(conn, &rows, &err) == -1) {
		svc_log(SVC_LOG_WARN, "entra: bindings not loaded at start "
		    "(workers will): %s", err.msg);
		return;
	}
	if (estate_build(rows, &cur) == 0) {
		loaded = 1;
		cur_gen++;
	}
	json_decref(rows);
}
