/*
 * ops_metrics.c: the /metrics lines that are not counters in core's
 * metrics module: build information, the standard process_* metrics of
 * the instance, token gauges and expiry times; and the daily warning
 * for SCIM tokens about to expire.
 *
 * process_* cover the whole instance (the parent and every worker),
 * because a scrape lands on any one worker.  Workers may be chrooted
 * into an empty directory, so the parent opens /proc before it forks
 * and the workers read /proc/<pid>/stat through that descriptor (stat
 * is world-readable, so privilege separation does not hide it).  Open
 * descriptors cannot be listed that way (a worker's /proc/<pid>/fd
 * belongs to root once it dropped privileges), so each worker counts its
 * own every few seconds into shared memory.
 */
#include <sys/types.h>

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "changering.h"
#include "ops_metrics.h"
#include "policy.h"
#include "policy_glue.h"
#include "svc.h"
#include "token.h"
#include "util.h"

#define FDS_COUNT_MS		5000
#define EXPIRY_FIRST_MS		2000
#define EXPIRY_EVERY_MS		(24ULL * 3600 * 1000)
#define EXPIRY_WARN_MS		(14ULL * 24 * 3600 * 1000)

struct text {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

struct proc_sample {
	double		cpu_s;
	uint64_t	rss_bytes;
	uint64_t	vsize_bytes;
	int		processes;
};

static int	procfd = -1;

static void	text_printf(struct text *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	text_label(struct text *, const char *);
static int	proc_read(pid_t, struct proc_sample *);
static uint32_t	count_fds(void);
static void	count_fds_timer(void *, u_int64_t);
static void	expiry_line(const struct tokentab_entry *, void *);
static void	expiry_collect(const struct tokentab_entry *, void *);
static void	expiry_warn(const struct tokentab_entry *, uint64_t);
static void	expiry_timer(void *, u_int64_t);
static void	scopes_text(uint32_t, char *, size_t);
static void	worker_gauges(struct text *);

void
svc_ops_parent_init(void)
{
	/* Kept open across the fork and the workers' chroot. */
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	svc.shared->parent_pid = (uint32_t)getpid();
	svc.shared->open_fds[0] = count_fds();
}

void
svc_ops_worker_init(void)
{
	svc.shared->open_fds[worker->id % SVC_MAX_PROCS] = count_fds();
	(void)kore_timer_add(count_fds_timer, FDS_COUNT_MS, NULL, 0);
	if (worker->id == 1)
		(void)kore_timer_add(expiry_timer, EXPIRY_FIRST_MS, NULL,
		    KORE_TIMER_ONESHOT);
}

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		if ((p = realloc(t->data, t->cap * 2 + (size_t)n)) == NULL) {
			t->failed = 1;
			return;
		}
		t->data = p;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

/* A label value, escaped as the exposition format wants. */
static void
text_label(struct text *t, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			text_printf(t, "\\\\");
		else if (*v == '"')
			text_printf(t, "\\\"");
		else if (*v == '\n')
			text_printf(t, "\\n");
		else
			text_printf(t, "%c", *v);
	}
}

/*
 * Adds the CPU time and memory of pid from /proc/<pid>/stat.  0, or -1
 * when the process is gone or /proc is not there.
 */
static int
proc_read(pid_t pid, struct proc_sample *s)
{
	char			 path[32], buf[1024], *p, *f, *save;
	unsigned long long	 utime, stime, vsize;
	long long		 rss;
	ssize_t			 n;
	int			 fd, field;

	if (procfd == -1 || pid <= 0)
		return (-1);
	(void)snprintf(path, sizeof(path), "%d/stat", (int)pid);
	if ((fd = openat(procfd, path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	/* The command name may hold spaces: fields start after its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	utime = stime = vsize = 0;
	rss = 0;
	field = 2;
	for (f = strtok_r(p + 1, " ", &save); f != NULL;
	    f = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 14)
			utime = strtoull(f, NULL, 10);
		else if (field == 15)
			stime = strtoull(f, NULL, 10);
		else if (field == 23)
			vsize = strtoull(f, NULL, 10);
		else if (field == 24) {
			rss = strtoll(f, NULL, 10);
			break;
		}
	}
	if (field != 24)
		return (-1);
	s->cpu_s += (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	s->vsize_bytes += vsize;
	s->rss_bytes += (uint64_t)(rss > 0 ? rss : 0) *
	    (uint64_t)sysconf(_SC_PAGESIZE);
	s->processes++;

	return (0);
}

/*
 * Open descriptors of this process, up to the limit: poll() marks every
 * descriptor that is not open POLLNVAL, 1024 at a time (a handful of
 * system calls, all allowed in the sandbox).
 */
static uint32_t
count_fds(void)
{
	static struct pollfd	pfd[1024];
	uint32_t		n;
	int			base, i, max, batch;

	max = worker_rlimit_nofiles > 0 ? (int)worker_rlimit_nofiles : 1024;
	n = 0;
	for (base = 0; base < max; base += batch) {
		batch = max - base < 1024 ? max - base : 1024;
		for (i = 0; i < batch; i++) {
			pfd[i].fd = base + i;
			pfd[i].events = 0;
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)batch, 0) == -1)
			return (0);
		for (i = 0; i < batch; i++) {
			if (!(pfd[i].revents & POLLNVAL))
				n++;
		}
	}

	return (n);
}

static void
count_fds_timer(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	__atomic_store_n(&svc.shared->open_fds[worker->id % SVC_MAX_PROCS],
	    count_fds(), __ATOMIC_RELAXED);
}

static void
scopes_text(uint32_t scopes, char *buf, size_t len)
{
	static const unsigned int	all[] = { TOKEN_SCOPE_SCIM,
	    TOKEN_SCOPE_GATEWAY, TOKEN_SCOPE_ADMIN };
	size_t				i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!(scopes & all[i]))
			continue;
		if (buf[0] != '\0')
			(void)strncat(buf, ",", len - strlen(buf) - 1);
		(void)strncat(buf, token_scope_name(all[i]),
		    len - strlen(buf) - 1);
	}
}

static void
expiry_line(const struct tokentab_entry *e, void *arg)
{
	struct text	*t = arg;
	char		 scopes[64];

	scopes_text(e->scopes, scopes, sizeof(scopes));
	text_printf(t, "rollcall_token_expiry_timestamp_seconds{name=\"");
	text_label(t, e->name);
	text_printf(t, "\",scope=\"%s\",directory=\"", scopes);
	text_label(t, e->directory);
	text_printf(t, "\",id=\"%s\"} %.3f\n", e->id,
	    (double)e->expires_ms / 1000.0);
}

/*
 * Each worker's policy version and change-ring lag, and the instance's
 * open SSE streams and waiting long-polls, from what every worker
 * publishes in shared memory (policy_glue.c, http_feeds.c).  The lag is
 * how many bytes of changes the worker has not applied yet: 0 when it
 * is current, growing while it is busy or stuck.
 */
static void
worker_gauges(struct text *t)
{
	struct kore_worker	*kw;
	uint64_t		 head, pos, streams, polls;
	uint16_t		 idx;

	text_printf(t, "# HELP rollcall_policy_version The policy version "
	    "of each worker's in-memory index.\n"
	    "# TYPE rollcall_policy_version gauge\n");
	for (idx = KORE_WORKER_BASE; idx < worker_count; idx++) {
		kw = kore_worker_data((uint8_t)idx);
		text_printf(t, "rollcall_policy_version{worker=\"%u\"} %llu\n",
		    (unsigned int)kw->id, (unsigned long long)__atomic_load_n(
		    &svc.shared->policy_version[kw->id % SVC_MAX_PROCS],
		    __ATOMIC_RELAXED));
	}
	head = changering_head(svc.ring);
	text_printf(t, "# HELP rollcall_policy_ring_lag_bytes Bytes of policy "
	    "changes in the shared change ring that each worker has not "
	    "applied yet.\n"
	    "# TYPE rollcall_policy_ring_lag_bytes gauge\n");
	streams = polls = 0;
	for (idx = KORE_WORKER_BASE; idx < worker_count; idx++) {
		kw = kore_worker_data((uint8_t)idx);
		pos = __atomic_load_n(&svc.shared->ring_pos[kw->id %
		    SVC_MAX_PROCS], __ATOMIC_RELAXED);
		text_printf(t, "rollcall_policy_ring_lag_bytes{worker=\"%u\"} "
		    "%llu\n", (unsigned int)kw->id,
		    (unsigned long long)(pos < head ? head - pos : 0));
		streams += __atomic_load_n(&svc.shared->streams_open[kw->id %
		    SVC_MAX_PROCS], __ATOMIC_RELAXED);
		polls += __atomic_load_n(&svc.shared->polls_open[kw->id %
		    SVC_MAX_PROCS], __ATOMIC_RELAXED);
	}
	text_printf(t, "# HELP rollcall_sse_streams_open Open /v1/stream "
	    "event streams.\n# TYPE rollcall_sse_streams_open gauge\n"
	    "rollcall_sse_streams_open %llu\n", (unsigned long long)streams);
	text_printf(t, "# HELP rollcall_long_polls_open Long-polls (wait=) "
	    "waiting for a change.\n# TYPE rollcall_long_polls_open gauge\n"
	    "rollcall_long_polls_open %llu\n", (unsigned long long)polls);
}

char *
svc_ops_metrics(void)
{
	struct proc_sample	 ps;
	struct kore_worker	*kw;
	struct policy_index	*pidx;
	struct text		 t;
	int			 stale;
	uint64_t		 fds;
	uint16_t		 idx;

	t.cap = 4096;
	t.len = 0;
	t.failed = 0;
	if ((t.data = malloc(t.cap)) == NULL)
		return (NULL);
	t.data[0] = '\0';

	text_printf(&t, "# HELP rollcall_build_info The version and git "
	    "commit of this build (value 1).\n"
	    "# TYPE rollcall_build_info gauge\n"
	    "rollcall_build_info{version=\"%s\",commit=\"%s\"} 1\n",
	    rc_build_version, rc_build_commit);
	pidx = svc_policy();
	text_printf(&t, "# HELP rollcall_policy_quarantined Principals the "
	    "index could not apply, denied as principal_unavailable now.\n"
	    "# TYPE rollcall_policy_quarantined gauge\n"
	    "rollcall_policy_quarantined %zu\n",
	    pidx != NULL ? policy_quarantined(pidx) : (size_t)0);
	text_printf(&t, "# HELP rollcall_tokens Tokens in the shared table "
	    "(usable or revoked lately).\n# TYPE rollcall_tokens gauge\n"
	    "rollcall_tokens %u\n", tokentab_count(svc.tokens));
	stale = svc_policy_stale();
	text_printf(&t, "# HELP rollcall_ready 1 when the state is loaded, "
	    "the database answers and the policy is provably current (as "
	    "/readyz).\n"
	    "# TYPE rollcall_ready gauge\nrollcall_ready %u\n",
	    __atomic_load_n(&svc.shared->ready, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&svc.shared->db_ok, __ATOMIC_RELAXED) && !stale);
	text_printf(&t, "# HELP rollcall_policy_current 1 while this "
	    "instance can prove its index is current (listener connected "
	    "and caught up).\n# TYPE rollcall_policy_current gauge\n"
	    "rollcall_policy_current{instance=\"%s\"} %u\n",
	    svc.instance, !stale && __atomic_load_n(
	    &svc.shared->policy_current, __ATOMIC_ACQUIRE));
	text_printf(&t, "# HELP rollcall_policy_proof_age_seconds Seconds "
	    "since the listener last proved the index current.\n"
	    "# TYPE rollcall_policy_proof_age_seconds gauge\n"
	    "rollcall_policy_proof_age_seconds{instance=\"%s\"} %.3f\n",
	    svc.instance, (double)svc_policy_proof_age_ms() / 1000.0);
	worker_gauges(&t);
	text_printf(&t, "# HELP rollcall_start_time_seconds When this "
	    "instance started (Unix time).\n"
	    "# TYPE rollcall_start_time_seconds gauge\n"
	    "rollcall_start_time_seconds %llu\n",
	    (unsigned long long)(svc.shared->started_ms / 1000));

	text_printf(&t, "# HELP rollcall_token_expiry_timestamp_seconds When "
	    "each expiring token expires (Unix time); an expired SCIM token "
	    "puts Entra's provisioning job into quarantine.\n"
	    "# TYPE rollcall_token_expiry_timestamp_seconds gauge\n");
	tokentab_foreach_expiring(svc.tokens, expiry_line, &t);

	/* The instance: the parent and every worker. */
	memset(&ps, 0, sizeof(ps));
	(void)proc_read((pid_t)svc.shared->parent_pid, &ps);
	fds = __atomic_load_n(&svc.shared->open_fds[0], __ATOMIC_RELAXED);
	for (idx = KORE_WORKER_BASE; idx < worker_count; idx++) {
		kw = kore_worker_data((uint8_t)idx);
		(void)proc_read(kw->pid, &ps);
		fds += __atomic_load_n(&svc.shared->open_fds[kw->id %
		    SVC_MAX_PROCS], __ATOMIC_RELAXED);
	}
	if (ps.processes > 0) {
		text_printf(&t, "# HELP process_cpu_seconds_total User and "
		    "system CPU time of the instance's processes (parent and "
		    "workers) in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.2f\n", ps.cpu_s);
		text_printf(&t, "# HELP process_resident_memory_bytes Resident "
		    "memory of the instance's processes in bytes (shared "
		    "memory counted in each).\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %llu\n",
		    (unsigned long long)ps.rss_bytes);
		text_printf(&t, "# HELP process_virtual_memory_bytes Virtual "
		    "memory of the instance's processes in bytes.\n"
		    "# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %llu\n",
		    (unsigned long long)ps.vsize_bytes);
	}
	text_printf(&t, "# HELP process_open_fds Open file descriptors of the "
	    "instance's processes (workers recount every %d s).\n"
	    "# TYPE process_open_fds gauge\nprocess_open_fds %llu\n",
	    FDS_COUNT_MS / 1000, (unsigned long long)fds);
	text_printf(&t, "# HELP process_max_fds Descriptor limit of each "
	    "worker process.\n# TYPE process_max_fds gauge\n"
	    "process_max_fds %u\n", worker_rlimit_nofiles);
	text_printf(&t, "# HELP process_start_time_seconds Start time of the "
	    "instance since the Unix epoch in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.3f\n",
	    (double)svc.shared->started_ms / 1000.0);

	if (t.failed) {
		free(t.data);
		return (NULL);
	}

	return (t.data);
}

/* SCIM tokens due for a warning, copied out of the table's lock. */
struct expiring {
	uint64_t		 now;
	size_t			 n;
	struct tokentab_entry	 e[64];
};

static void
expiry_collect(const struct tokentab_entry *e, void *arg)
{
	struct expiring	*x = arg;

	if ((e->scopes & TOKEN_SCOPE_SCIM) && e->expires_ms <= x->now +
	    EXPIRY_WARN_MS && x->n < sizeof(x->e) / sizeof(x->e[0]))
		x->e[x->n++] = *e;
}

static void
expiry_warn(const struct tokentab_entry *e, uint64_t now)
{
	char	when[32];

	rc_time_format(e->expires_ms, when, sizeof(when));
	if (e->expires_ms <= now)
		svc_log(SVC_LOG_WARN, "scim token %s (%s, directory %s) expired "
		    "at %s: Entra's provisioning job is failing and will be "
		    "quarantined; create a new token and update Entra's "
		    "Secret Token", e->id, e->name, e->directory, when);
	else
		svc_log(SVC_LOG_WARN, "scim token %s (%s, directory %s) "
		    "expires at %s, within 14 days: create a new token and "
		    "update Entra's Secret Token before then, or provisioning "
		    "is quarantined", e->id, e->name, e->directory, when);
}

/* Worker 1: at start, then once a day, one line per such token. */
static void
expiry_timer(void *arg, u_int64_t mono)
{
	struct expiring	*x;
	size_t		 i;

	(void)arg;
	(void)mono;
	if ((x = calloc(1, sizeof(*x))) != NULL) {
		x->now = rc_now_ms();
		tokentab_foreach_expiring(svc.tokens, expiry_collect, x);
		for (i = 0; i < x->n; i++)
			expiry_warn(&x->e[i], x->now);
		free(x);
	}
	(void)kore_timer_add(expiry_timer, EXPIRY_EVERY_MS, NULL,
	    KORE_TIMER_ONESHOT);
}
