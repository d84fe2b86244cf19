/*
 * logout.h: where log lines go (logout.c).  Included through svc.h.
 *
 * Two streams: SVC_OUT_STDOUT (access lines, svc_log's lines; decision
 * lines too when decision_log_path is empty) and SVC_OUT_DECISIONS
 * (decision_log_path, reopened on SIGHUP for logrotate).
 *
 * In a worker's event loop, lines are collected in a per-worker buffer
 * and written when it fills, every SVC_OUT_FLUSH_MS, before a warning
 * or error, and when the worker stops, so a clean stop loses nothing.
 * Each write holds whole lines only, and on a pipe or socket (container
 * logs) at most PIPE_BUF bytes, which the kernel writes in one piece:
 * lines of different processes never interleave, and no line is
 * written twice (the buffer starts empty after the fork).  The parent,
 * and a worker before its configure hook or after its teardown, write
 * each line at once.  A worker that crashes loses what it buffered
 * (at most SVC_OUT_FLUSH_MS worth).
 */
#ifndef RC_LOGOUT_H
#define RC_LOGOUT_H

#include <stddef.h>

#define SVC_OUT_FLUSH_MS	50
#define SVC_OUT_BUFFER		(64 * 1024)

enum svc_out {
	SVC_OUT_STDOUT,
	SVC_OUT_DECISIONS
};

/*
 * Parent, before the fork: opens decision_log_path (fatal when it
 * cannot: a decision log that silently goes nowhere is worse than a
 * failed start) and reopens it on SIGHUP.
 */
void	svc_out_parent_init(void);

/*
 * Worker configure: the buffers, the flush timer, and the SIGHUP
 * reopen.  A reopen that fails keeps writing to the file open before,
 * counts rollcall_log_reopen_failures_total and logs one warning until
 * a reopen works again.
 */
void	svc_out_worker_init(void);

/*
 * Appends one whole line (len bytes ending in '\n'); any thread.
 * urgent: write it and everything before it now.
 */
void	svc_out_line(enum svc_out, const char *line, size_t len,
	    int urgent);

/* Writes what is buffered; any thread. */
void	svc_out_flush(void);

/* Worker teardown: writes what is buffered and stops buffering. */
void	svc_out_stop(void);

#endif
