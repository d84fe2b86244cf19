/*
 * respond.c: the one way out of a request.  Every response goes
 * through here so that it is logged (one JSON line), counted in the
 * metrics, and tagged with its request id; and every error has the
 * same JSON shape (the SCIM error schema on /scim paths).
 *
 * Log lines that say something went wrong (warn and error from
 * svc_log, access lines of 5xx answers) are rate-limited per kind
 * (loglimit.h): a client retrying without backoff against a database
 * that is away must not flood the log.  Held-back lines are counted in
 * rollcall_log_lines_suppressed_total and summarised as one line per
 * kind and interval; the request metrics count every request.
 */
#include <sys/types.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jsonw.h"
#include "loglimit.h"
#include "svc.h"
#include "util.h"

/* Per kind: this many lines each interval, then a summary. */
#define LOG_BURST		5
#define LOG_INTERVAL_MS		1000

static void	finish(struct http_request *, int);
static const char	*method_name(int);
static void	log_write(json_t *, int);
static void	access_line(struct http_request *, struct svc_ctx *,
		    const char *, int, uint64_t);
static void	log_summary(const char *, uint64_t);
static int	log_admit(const char *);
static void	log_sweep(void *, u_int64_t);

/*
 * One limiter per process.  svc_log may be called from task threads
 * too, so the limiter is only touched under log_lock.
 */
static struct loglimit	log_limit;
static int		log_limit_ready;
static pthread_mutex_t	log_lock = PTHREAD_MUTEX_INITIALIZER;

static svc_response_hook	response_hook;

static const char *
method_name(int m)
{
	switch (m) {
	case HTTP_METHOD_GET:
		return ("GET");
	case HTTP_METHOD_POST:
		return ("POST");
	case HTTP_METHOD_PUT:
		return ("PUT");
	case HTTP_METHOD_DELETE:
		return ("DELETE");
	case HTTP_METHOD_HEAD:
		return ("HEAD");
	case HTTP_METHOD_OPTIONS:
		return ("OPTIONS");
	case HTTP_METHOD_PATCH:
		return ("PATCH");
	}

	return ("OTHER");
}

/*
 * The access line, written straight into a reused buffer: a jansson
 * tree and its dump per request cost more than a trivial route itself.
 */
static void
access_line(struct http_request *req, struct svc_ctx *ctx, const char *route,
    int status, uint64_t dur)
{
	static struct jsonw	w;
	char			when[32], num[32];

	if (w.buf == NULL || w.failed) {
		jsonw_cleanup(&w);
		jsonw_init(&w, 512);
	}
	w.len = 0;
	rc_time_format(rc_now_ms(), when, sizeof(when));
	jsonw_raw(&w, "{\"time\":\"");
	jsonw_raw(&w, when);
	jsonw_raw(&w, status >= 500 ? "\",\"level\":\"error\",\"type\":"
	    "\"access\",\"worker\":" : "\",\"level\":\"info\",\"type\":"
	    "\"access\",\"worker\":");
	jsonw_int(&w, worker ? worker->id : 0);
	jsonw_raw(&w, ",\"request_id\":");
	jsonw_str(&w, ctx->request_id);
	if (ctx->traced) {
		jsonw_raw(&w, ",\"trace_id\":\"");
		jsonw_raw(&w, ctx->trace.trace_id);
		(void)snprintf(num, sizeof(num), "%016llx",
		    (unsigned long long)ctx->span);
		jsonw_raw(&w, "\",\"span_id\":\"");
		jsonw_raw(&w, num);
		jsonw_raw(&w, "\"");
	}
	jsonw_raw(&w, ",\"method\":\"");
	jsonw_raw(&w, method_name(req->method));
	jsonw_raw(&w, "\",\"route\":");
	jsonw_str(&w, route);
	jsonw_raw(&w, ",\"status\":");
	jsonw_int(&w, status);
	(void)snprintf(num, sizeof(num), "%llu.%03llu",
	    (unsigned long long)(dur / 1000), (unsigned long long)(dur % 1000));
	jsonw_raw(&w, ",\"duration_ms\":");
	jsonw_raw(&w, num);
	if (ctx->authed) {
		jsonw_raw(&w, ",\"directory\":");
		jsonw_str(&w, ctx->token.directory[0] ? ctx->token.directory :
		    "*");
		jsonw_raw(&w, ",\"token\":");
		jsonw_str(&w, ctx->token.name);
	}
	jsonw_raw(&w, "}\n");
	if (!w.failed)
		svc_out_line(SVC_OUT_STDOUT, w.buf, w.len, status >= 500);
}

/* Access log line, metrics and headers for a response about to be sent. */
static void
finish(struct http_request *req, int status)
{
	struct svc_ctx	*ctx;
	struct tracectx	 child;
	const char	*route;
	char		 kind[96], hdr[TRACECTX_HEADER_LEN + 1];
	uint64_t	 dur;

	ctx = svc_ctx(req);
	ctx->status = status;
	http_response_header(req, "x-request-id", ctx->request_id);
	/* Trace Context Level 2: our span in the caller's trace. */
	if (ctx->traced) {
		tracectx_child(&ctx->trace, ctx->span, &child);
		tracectx_format(&child, hdr, sizeof(hdr));
		http_response_header(req, "traceresponse", hdr);
	}

	dur = rc_mono_us() - ctx->start_us;
	route = req->hdlr != NULL ? req->hdlr->func : "unrouted";
	if (strncmp(route, "page_", 5) == 0)
		route += 5;
	if (svc.metrics != NULL)
		metrics_observe(svc.metrics,
		    metrics_route_index(svc.metrics, route), status, dur);
	if (response_hook != NULL)
		response_hook(req, status);

	if (svc.settings.log_level_num > SVC_LOG_INFO)
		return;
	if (status >= 500) {
		(void)snprintf(kind, sizeof(kind), "access %s %d", route,
		    status);
		if (!log_admit(kind))
			return;
	}
	access_line(req, ctx, route, status, dur);
}

void
svc_respond_observe(svc_response_hook hook)
{
	response_hook = hook;
}

void
svc_respond_raw(struct http_request *req, int status, const char *ctype,
    const void *body, size_t len)
{
	finish(req, status);
	if (ctype != NULL)
		http_response_header(req, "content-type", ctype);
	http_response_header(req, "cache-control", "no-store");
	http_response(req, status, body, len);
}

void
svc_respond_json(struct http_request *req, int status, json_t *body)
{
	const char	*ctype;
	char		*text;

	ctype = strncmp(req->path, "/scim/", 6) == 0 ?
	    "application/scim+json" : "application/json";
	if (body == NULL ||
	    (text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		static const char	oom[] =
		    "{\"error\":\"internal\",\"message\":\"cannot encode response\"}";
		svc_respond_raw(req, HTTP_STATUS_INTERNAL_ERROR,
		    "application/json", oom, sizeof(oom) - 1);
		return;
	}
	svc_respond_raw(req, status, ctype, text, strlen(text));
	free(text);
}

static void
error_v(struct http_request *req, int status, const char *code,
    const char *scim_type, const char *fmt, va_list ap)
{
	json_t	*body;
	char	 msg[512], st[8];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strncmp(req->path, "/scim/", 6) == 0) {
		(void)snprintf(st, sizeof(st), "%d", status);
		body = json_pack("{s:[s], s:s, s:s}", "schemas",
		    "urn:ietf:params:scim:api:messages:2.0:Error",
		    "status", st, "detail", msg);
		if (body != NULL && scim_type != NULL)
			(void)json_object_set_new(body, "scimType",
			    json_string(scim_type));
	} else {
		body = json_pack("{s:s, s:s, s:i}", "error", code,
		    "message", msg, "status", status);
	}
	if (status == HTTP_STATUS_UNAUTHORIZED)
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"rollcall\"");
	svc_respond_json(req, status, body);
	json_decref(body);
}

void
svc_error(struct http_request *req, int status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	error_v(req, status, code, NULL, fmt, ap);
	va_end(ap);
}

void
svc_scim_error(struct http_request *req, int status, const char *scim_type,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	error_v(req, status, scim_type ? scim_type : "error", scim_type,
	    fmt, ap);
	va_end(ap);
}

int
svc_method_allowed(struct http_request *req, int mask)
{
	static const int	 order[] = { HTTP_METHOD_GET, HTTP_METHOD_HEAD,
	    HTTP_METHOD_POST, HTTP_METHOD_PUT, HTTP_METHOD_PATCH,
	    HTTP_METHOD_DELETE };
	char			 allow[64];
	size_t			 i;

	/* HEAD goes wherever GET goes. */
	if (mask & HTTP_METHOD_GET)
		mask |= HTTP_METHOD_HEAD;
	if (req->method & mask)
		return (1);

	allow[0] = '\0';
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(mask & order[i]))
			continue;
		if (allow[0] != '\0')
			(void)strncat(allow, ", ", sizeof(allow) -
			    strlen(allow) - 1);
		(void)strncat(allow, method_name(order[i]), sizeof(allow) -
		    strlen(allow) - 1);
	}
	http_response_header(req, "allow", allow);
	if (strncmp(req->path, "/scim/", 6) == 0)
		svc_scim_error(req, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL,
		    "method %s is not allowed here; allowed: %s",
		    method_name(req->method), allow);
	else
		svc_error(req, HTTP_STATUS_METHOD_NOT_ALLOWED,
		    "method_not_allowed", "method %s is not allowed here; "
		    "allowed: %s", method_name(req->method), allow);

	return (0);
}

struct kore_buf *
svc_body_read(struct http_request *req)
{
	struct kore_buf	*buf;
	const char	*ctype, *clen;
	long long	 declared;
	ssize_t		 n;
	char		 chunk[8192];
	int		 scim;

	scim = strncmp(req->path, "/scim/", 6) == 0;
	if (http_request_header(req, "content-type", &ctype) &&
	    strncasecmp(ctype, "application/json", 16) != 0 &&
	    strncasecmp(ctype, "application/scim+json", 21) != 0) {
		if (scim)
			svc_scim_error(req, 415, "invalidSyntax", "content type "
			    "must be application/scim+json or application/json");
		else
			svc_error(req, 415, "unsupported_media_type",
			    "content type must be application/json");
		return (NULL);
	}
	if (!http_request_header(req, "content-length", &clen) ||
	    rc_parse_int(clen, 0, (long long)1 << 40, &declared) == -1)
		declared = 0;
	if (declared > svc.settings.body_max) {
		if (scim)
			svc_scim_error(req, HTTP_STATUS_REQUEST_ENTITY_TOO_LARGE,
			    "tooMany", "request body of %lld bytes is over the "
			    "limit of %ld bytes", declared,
			    svc.settings.body_max);
		else
			svc_error(req, HTTP_STATUS_REQUEST_ENTITY_TOO_LARGE,
			    "body_too_large", "request body of %lld bytes is "
			    "over the limit of %ld bytes", declared,
			    svc.settings.body_max);
		return (NULL);
	}

	buf = kore_buf_alloc(declared > 0 ? (size_t)declared : 1024);
	for (;;) {
		n = http_body_read(req, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		kore_buf_append(buf, chunk, (size_t)n);
	}
	if (n == -1) {
		kore_buf_free(buf);
		svc_error(req, HTTP_STATUS_BAD_REQUEST, "bad_body",
		    "could not read the request body");
		return (NULL);
	}

	return (buf);
}

json_t *
svc_body_parse(struct http_request *req, const struct kore_buf *buf)
{
	json_error_t	 jerr;
	json_t		*doc;

	doc = json_loadb((const char *)buf->data, buf->offset,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL || !json_is_object(doc)) {
		if (strncmp(req->path, "/scim/", 6) == 0)
			svc_scim_error(req, HTTP_STATUS_BAD_REQUEST,
			    "invalidSyntax", "request body is not a JSON "
			    "object: %s (line %d, column %d)", doc ? "found "
			    "another JSON type" : jerr.text, jerr.line,
			    jerr.column);
		else
			svc_error(req, HTTP_STATUS_BAD_REQUEST, "bad_json",
			    "request body is not a JSON object: %s (line %d, "
			    "column %d)", doc ? "found another JSON type" :
			    jerr.text, jerr.line, jerr.column);
		json_decref(doc);
		return (NULL);
	}

	return (doc);
}

json_t *
svc_body_json(struct http_request *req)
{
	struct kore_buf	*buf;
	json_t		*doc;

	if ((buf = svc_body_read(req)) == NULL)
		return (NULL);
	doc = svc_body_parse(req, buf);
	kore_buf_free(buf);

	return (doc);
}

/*
 * Writes one JSON line (borrowed) to stdout (logout.h); urgent lines
 * (warnings, errors) go out at once with what was buffered before.
 */
static void
log_write(json_t *line, int urgent)
{
	char	*text;
	size_t	 len;

	if ((text = json_dumps(line, JSON_COMPACT |
	    JSON_REAL_PRECISION(6))) == NULL)
		return;
	len = strlen(text);
	text[len] = '\n';	/* replaces the NUL: one line */
	svc_out_line(SVC_OUT_STDOUT, text, len + 1, urgent);
	free(text);
}

/* "suppressed N similar": what the limiter held back of one kind. */
static void
log_summary(const char *kind, uint64_t n)
{
	json_t	*line;
	char	 when[32], msg[160];

	rc_time_format(rc_now_ms(), when, sizeof(when));
	(void)snprintf(msg, sizeof(msg), "suppressed %llu similar lines in "
	    "%d ms", (unsigned long long)n, LOG_INTERVAL_MS);
	line = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "time", when,
	    "level", "warn", "worker", worker ? worker->id : 0, "msg", msg,
	    "kind", kind, "suppressed", (json_int_t)n);
	if (line == NULL)
		return;
	log_write(line, 1);
	json_decref(line);
}

/*
 * 1 if a line of this kind may be written now (after a summary of its
 * lines held back before), 0 if it is held back and counted.
 */
static int
log_admit(const char *kind)
{
	uint64_t	summary;
	int		ok;

	(void)pthread_mutex_lock(&log_lock);
	if (!log_limit_ready) {
		loglimit_init(&log_limit, LOG_BURST, LOG_INTERVAL_MS);
		log_limit_ready = 1;
	}
	ok = loglimit_check(&log_limit, kind, rc_mono_us() / 1000, &summary);
	(void)pthread_mutex_unlock(&log_lock);
	if (!ok && svc.metrics != NULL)
		metrics_add(svc.metrics, METRIC_LOG_SUPPRESSED, 1);
	if (summary > 0)
		log_summary(kind, summary);

	return (ok);
}

/* Reports the kinds that went quiet with lines held back. */
static void
log_sweep(void *arg, u_int64_t now)
{
	char		kind[LOGLIMIT_KIND_MAX];
	uint64_t	n, at;
	int		due;

	(void)now;
	/* At exit (arg set) everything held back is due. */
	at = arg != NULL ? UINT64_MAX : rc_mono_us() / 1000;
	for (;;) {
		(void)pthread_mutex_lock(&log_lock);
		due = log_limit_ready && loglimit_expired(&log_limit, at, kind,
		    sizeof(kind), &n);
		(void)pthread_mutex_unlock(&log_lock);
		if (!due)
			break;
		log_summary(kind, n);
	}
}

void
svc_log_worker_init(void)
{
	svc_out_worker_init();
	(void)kore_timer_add(log_sweep, LOG_INTERVAL_MS, NULL, 0);
}

void
svc_log_flush(void)
{
	log_sweep(&log_limit, 0);
	svc_out_flush();
}

void
svc_log(enum svc_log_level level, const char *fmt, ...)
{
	static const char	*names[] = { "debug", "info", "warn", "error" };
	va_list			 ap;
	json_t			*line;
	char			 msg[1024], when[32];

	if ((int)level < svc.settings.log_level_num)
		return;
	/* The kind of a warning or error is its format: its call site. */
	if (level >= SVC_LOG_WARN && !log_admit(fmt))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc_time_format(rc_now_ms(), when, sizeof(when));
	line = json_pack("{s:s, s:s, s:i, s:s}", "time", when,
	    "level", names[level], "worker", worker ? worker->id : 0,
	    "msg", msg);
	if (line == NULL)
		return;
	log_write(line, level >= SVC_LOG_WARN);
	json_decref(line);
}
