/*
 * respond.h: the one way out of a request (respond.c): responses,
 * errors and the log.  Included through svc.h.
 */
#ifndef RC_RESPOND_H
#define RC_RESPOND_H

#include <stddef.h>

#include <jansson.h>

#include <kore/kore.h>
#include <kore/http.h>

enum svc_log_level {
	SVC_LOG_DEBUG,
	SVC_LOG_INFO,
	SVC_LOG_WARN,
	SVC_LOG_ERROR,
};

/*
 * Responses.  Each one records the status for the access log line and
 * the metrics, and sets x-request-id.  Bodies are copied by Kore: the
 * caller keeps body (json_t is borrowed).
 */
void	svc_respond_json(struct http_request *, int status, json_t *body);
void	svc_respond_raw(struct http_request *, int status, const char *ctype,
	    const void *body, size_t len);
/*
 * The one response hook (NULL: none), told the status of every response
 * just before it goes out, on the worker's event loop: a module counts
 * responses (http_activity.c) without this file naming it.
 */
typedef void	(*svc_response_hook)(struct http_request *, int status);
void	svc_respond_observe(svc_response_hook);

/*
 * A JSON error: {"error": code, "message": ...} on admin/gateway paths,
 * the SCIM error schema on /scim paths (scim_type may be NULL).
 */
void	svc_error(struct http_request *, int status, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	svc_scim_error(struct http_request *, int status,
	    const char *scim_type, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/*
 * 1 if req->method is in the mask of HTTP_METHOD_* bits; otherwise
 * answers 405 with an Allow header and returns 0.
 */
int	svc_method_allowed(struct http_request *, int mask);

/*
 * Parses the request body as a JSON object (new reference, the caller
 * owns it) or answers 400 and returns NULL.
 */
json_t	*svc_body_json(struct http_request *);

/*
 * svc_body_json() in two steps, for a handler that reads some bodies
 * without jansson: svc_body_read() checks the content type and length
 * and returns the body (the caller frees it with kore_buf_free()), or
 * answers 415, 413 or 400 and returns NULL; svc_body_parse() parses
 * buf (still the caller's) as svc_body_json() does.
 */
struct kore_buf	*svc_body_read(struct http_request *);
json_t		*svc_body_parse(struct http_request *,
		    const struct kore_buf *);

/*
 * One JSON log line (never secrets); any thread.  Warnings and errors
 * are limited per call site (fmt): a few per second, then one
 * "suppressed N similar" summary line.
 */
void	svc_log(enum svc_log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Worker start: a timer that writes the summaries of quiet kinds. */
void	svc_log_worker_init(void);
/* Exit: writes the summaries of every line still held back. */
void	svc_log_flush(void);

#endif
