/*
 * logout.c: buffered, whole-line log output (logout.h).
 *
 * The buffer exists because one write(2) per access line halved the
 * throughput of a trivial route (issue 13); writes are now one per
 * buffer, per SVC_OUT_FLUSH_MS, or per PIPE_BUF bytes on a pipe.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"
#include "svc.h"
#include "util.h"

struct out {
	int	 fd;
	size_t	 chunk;		/* most bytes one write carries */
	char	*buf;		/* NULL: unbuffered */
	size_t	 len;
};

static void	out_chunk_size(struct out *);
static void	out_write(struct out *, const char *, size_t);
static void	out_drain(struct out *);
static void	flush_timer(void *, u_int64_t);
static void	hup_handler(int);
static void	hup_chain(void);
static void	reopen(void);
static void	out_note(enum svc_log_level, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static struct out	outs[2] = {
	{ STDOUT_FILENO, PIPE_BUF, NULL, 0 },
	{ STDOUT_FILENO, PIPE_BUF, NULL, 0 },
};
/* Buffers are shared by the event loop and task threads (svc_log). */
static pthread_mutex_t	out_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sigaction		hup_prev;
static volatile sig_atomic_t	hup_seen;
static int			in_parent;
static int			reopen_failing;

/* Whole buffers to a regular file; PIPE_BUF to anything else. */
static void
out_chunk_size(struct out *o)
{
	struct stat	st;

	if (fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode))
		o->chunk = SVC_OUT_BUFFER;
	else
		o->chunk = PIPE_BUF;
}

/* Writes len bytes of whole lines; short writes are resumed. */
static void
out_write(struct out *o, const char *p, size_t len)
{
	struct pollfd	 pfd;
	size_t		 n, done;
	ssize_t		 r;
	int		 waits;

	while (len > 0) {
		n = rc_lines_prefix(p, len, o->chunk);
		done = 0;
		waits = 0;
		while (done < n) {
			r = write(o->fd, p + done, n - done);
			if (r > 0) {
				done += (size_t)r;
				continue;
			}
			if (r == -1 && errno == EINTR)
				continue;
			/* A non-blocking pipe that is full: wait a little. */
			if (r == -1 && errno == EAGAIN && waits++ < 10) {
				pfd.fd = o->fd;
				pfd.events = POLLOUT;
				(void)poll(&pfd, 1, 100);
				continue;
			}
			/* Nowhere to write: the rest is dropped, counted. */
			if (svc.metrics != NULL)
				metrics_add(svc.metrics,
				    METRIC_LOG_WRITE_FAILURES, 1);
			return;
		}
		p += n;
		len -= n;
	}
}

/* Called with out_lock held. */
static void
out_drain(struct out *o)
{
	if (o->buf == NULL || o->len == 0)
		return;
	out_write(o, o->buf, o->len);
	o->len = 0;
}

void
svc_out_line(enum svc_out which, const char *line, size_t len, int urgent)
{
	struct out	*o;

	/* Without a file, decision lines share stdout's buffer (order). */
	o = which == SVC_OUT_DECISIONS && outs[1].fd != STDOUT_FILENO ?
	    &outs[1] : &outs[0];
	(void)pthread_mutex_lock(&out_lock);
	if (o->buf == NULL) {
		out_write(o, line, len);
	} else {
		if (o->len + len > SVC_OUT_BUFFER)
			out_drain(o);
		if (len > SVC_OUT_BUFFER) {
			out_write(o, line, len);
		} else {
			memcpy(o->buf + o->len, line, len);
			o->len += len;
		}
		/* A warning or error also brings out what came before. */
		if (urgent)
			out_drain(o);
	}
	(void)pthread_mutex_unlock(&out_lock);
}

void
svc_out_flush(void)
{
	(void)pthread_mutex_lock(&out_lock);
	out_drain(&outs[0]);
	out_drain(&outs[1]);
	(void)pthread_mutex_unlock(&out_lock);
}

void
svc_out_stop(void)
{
	size_t	i;

	(void)pthread_mutex_lock(&out_lock);
	for (i = 0; i < 2; i++) {
		out_drain(&outs[i]);
		free(outs[i].buf);
		outs[i].buf = NULL;
	}
	(void)pthread_mutex_unlock(&out_lock);
}

/*
 * SIGHUP: Kore's own handler still runs (it passes the signal on to
 * the workers and reloads nothing in our build).  The parent reopens
 * at once (open, dup2 and close are async-signal-safe), so workers it
 * forks later inherit the new file and the old one is not held open;
 * a worker reopens from its flush timer, after writing what it holds
 * to the old file.
 */
static void
hup_handler(int sig)
{
	int	fd, saved;

	hup_seen = 1;
	if (in_parent && outs[1].fd != STDOUT_FILENO) {
		saved = errno;
		fd = open(svc.settings.decision_log_path,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd != -1) {
			(void)dup2(fd, outs[1].fd);
			(void)close(fd);
		}
		errno = saved;
	}
	if (hup_prev.sa_handler != SIG_DFL && hup_prev.sa_handler != SIG_IGN &&
	    !(hup_prev.sa_flags & SA_SIGINFO))
		hup_prev.sa_handler(sig);
}

static void
hup_chain(void)
{
	struct sigaction	sa, cur;

	/* Ours already (a worker Kore did not re-arm): nothing to chain. */
	if (sigaction(SIGHUP, NULL, &cur) == 0 &&
	    cur.sa_handler == hup_handler)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hup_handler;
	(void)sigfillset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, &hup_prev) == -1)
		out_note(SVC_LOG_WARN, "decision log: cannot catch SIGHUP: %s",
		    strerror(errno));
}

void
svc_out_parent_init(void)
{
	int	fd;

	in_parent = 1;
	out_chunk_size(&outs[0]);
	outs[1].chunk = outs[0].chunk;
	if (svc.settings.decision_log_path[0] == '\0')
		return;
	fd = open(svc.settings.decision_log_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		fatal("rollcall: cannot open the decision log (setting "
		    "decision_log_path) %s: %s", svc.settings.decision_log_path,
		    strerror(errno));
	outs[1].fd = fd;
	out_chunk_size(&outs[1]);
	hup_chain();
}

/*
 * This module's own notes, in svc_log's line shape but written here:
 * svc_log writes through this module, which must not call back up into
 * it (respond.c -> logout.c only).  Each note is already logged once by
 * its caller's logic, so svc_log's rate limit has nothing to add.
 */
static void
out_note(enum svc_log_level level, const char *fmt, ...)
{
	struct jsonw	 w;
	va_list		 ap;
	char		 msg[512], when[32];

	if ((int)level < svc.settings.log_level_num)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc_time_format(rc_now_ms(), when, sizeof(when));
	jsonw_init(&w, 128);
	jsonw_raw(&w, "{\"time\":");
	jsonw_str(&w, when);
	jsonw_raw(&w, level >= SVC_LOG_WARN ? ",\"level\":\"warn\"" :
	    ",\"level\":\"info\"");
	jsonw_raw(&w, ",\"worker\":");
	jsonw_int(&w, worker != NULL ? worker->id : 0);
	jsonw_raw(&w, ",\"msg\":");
	jsonw_str(&w, msg);
	jsonw_raw(&w, "}\n");
	if (!w.failed)
		svc_out_line(SVC_OUT_STDOUT, w.buf, w.len, 1);
	jsonw_cleanup(&w);
}

/* In a worker: the old file gets what was buffered, then the new one. */
static void
reopen(void)
{
	int	fd, old;

	fd = open(svc.settings.decision_log_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		metrics_add(svc.metrics, METRIC_LOG_REOPEN_FAILURES, 1);
		if (!reopen_failing++)
			out_note(SVC_LOG_WARN, "decision log: cannot reopen %s "
			    "after SIGHUP: %s; still writing to the file open "
			    "before", svc.settings.decision_log_path,
			    strerror(errno));
		return;
	}
	/* Swapped under the lock (no dup2: the sandbox does not allow it). */
	(void)pthread_mutex_lock(&out_lock);
	out_drain(&outs[1]);
	old = outs[1].fd;
	outs[1].fd = fd;
	out_chunk_size(&outs[1]);
	(void)pthread_mutex_unlock(&out_lock);
	(void)close(old);
	if (reopen_failing) {
		out_note(SVC_LOG_INFO, "decision log: reopened %s",
		    svc.settings.decision_log_path);
		reopen_failing = 0;
	}
}

static void
flush_timer(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	if (hup_seen) {
		hup_seen = 0;
		if (outs[1].fd != STDOUT_FILENO)
			reopen();
	}
	svc_out_flush();
}

void
svc_out_worker_init(void)
{
	size_t	i;

	in_parent = 0;
	hup_seen = 0;
	(void)pthread_mutex_lock(&out_lock);
	for (i = 0; i < 2; i++) {
		outs[i].len = 0;
		if (outs[i].buf == NULL && (i == 0 ||
		    outs[i].fd != STDOUT_FILENO))
			outs[i].buf = malloc(SVC_OUT_BUFFER);
	}
	(void)pthread_mutex_unlock(&out_lock);
	/* Kore set its handler again in the worker: chain it anew. */
	if (outs[1].fd != STDOUT_FILENO)
		hup_chain();
	(void)kore_timer_add(flush_timer, SVC_OUT_FLUSH_MS, NULL, 0);
}
