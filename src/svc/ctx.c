/*
 * ctx.c: the per-request context (ctx.h): created on a request's first
 * use, with its request id, and torn down with the request, when it
 * releases the request's database job and frees the handler's state.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "svc.h"
#include "util.h"

static void	ctx_free(struct http_request *);
static size_t	hex_put(char *, unsigned long long, int);
static void	ctx_trace(struct http_request *, struct svc_ctx *);

static uint64_t	request_counter;
static char	request_prefix[9];
static uint64_t	span_state;

/*
 * W3C Trace Context: one traceparent header that parses, or none at
 * all (a repeated header is ambiguous: ignored like an invalid one).
 * Span ids need to be unique, not secret: a per-process xorshift.
 */
static void
ctx_trace(struct http_request *req, struct svc_ctx *ctx)
{
	struct http_header	*hdr, *found;
	uint64_t		 x;

	found = NULL;
	TAILQ_FOREACH(hdr, &req->req_headers, list) {
		if (strcasecmp(hdr->header, "traceparent") != 0)
			continue;
		if (found != NULL)
			return;
		found = hdr;
	}
	if (found == NULL || tracectx_parse(found->value,
	    strlen(found->value), &ctx->trace) == -1)
		return;
	if (span_state == 0 && (rc_random_bytes(&span_state,
	    sizeof(span_state)) == -1 || span_state == 0))
		span_state = rc_mono_us() | 1;
	x = span_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	span_state = x;
	ctx->span = x * 0x2545f4914f6cdd1dULL;
	ctx->traced = 1;
}

static void
ctx_free(struct http_request *req)
{
	struct svc_ctx	*ctx;

	if ((ctx = req->hdlr_extra) == NULL)
		return;
	/*
	 * The request is going away (answered, or the client left).  A job
	 * still running on its thread writes into the handler's state: it
	 * takes the state over, is cancelled, and frees both when its
	 * thread is done (db.c).
	 */
	if (ctx->job != NULL &&
	    svc_db_release(ctx->job, ctx->state, ctx->state_free))
		ctx->state = NULL;
	ctx->job = NULL;
	if (ctx->state != NULL && ctx->state_free != NULL)
		ctx->state_free(ctx->state);
	ctx->state = NULL;
}

/*
 * Writes v in lower-case hex, at least width digits, and returns how
 * many: printf's "%0*llx" without printf, which cost 2% of a worker's
 * time under /v1/authorize load.  out holds 16 bytes.
 */
static size_t
hex_put(char *out, unsigned long long v, int width)
{
	static const char	hex[] = "0123456789abcdef";
	char			tmp[16];
	size_t			n, i;

	n = 0;
	do {
		tmp[n++] = hex[v & 0xf];
		v >>= 4;
	} while (v != 0);
	while (n < (size_t)width && n < sizeof(tmp))
		tmp[n++] = '0';
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return (n);
}

struct svc_ctx *
svc_ctx(struct http_request *req)
{
	struct svc_ctx	*ctx;
	const char	*rid;
	unsigned char	 rnd[4];
	size_t		 i, len;

	if ((ctx = http_state_get(req)) != NULL)
		return (ctx);

	ctx = http_state_create(req, sizeof(*ctx), ctx_free);
	ctx->start_us = rc_mono_us();
	ctx_trace(req, ctx);

	/* Keep a caller's request id if it is short and plain. */
	if (http_request_header(req, "x-request-id", &rid) &&
	    (len = strlen(rid)) > 0 && len < sizeof(ctx->request_id)) {
		for (i = 0; i < len; i++) {
			if (!(rid[i] == '-' || rid[i] == '_' || rid[i] == '.' ||
			    (rid[i] >= '0' && rid[i] <= '9') ||
			    (rid[i] >= 'a' && rid[i] <= 'z') ||
			    (rid[i] >= 'A' && rid[i] <= 'Z')))
				break;
		}
		if (i == len) {
			rc_strlcpy(ctx->request_id, rid,
			    sizeof(ctx->request_id));
			return (ctx);
		}
	}

	if (request_prefix[0] == '\0') {
		if (rc_random_bytes(rnd, sizeof(rnd)) == -1)
			memset(rnd, 0, sizeof(rnd));
		rc_hex_encode(rnd, sizeof(rnd), request_prefix);
	}
	/* The prefix, the worker (%02x) and the counter (%08llx). */
	len = strlen(request_prefix);
	memcpy(ctx->request_id, request_prefix, len);
	len += hex_put(ctx->request_id + len, worker ? worker->id : 0, 2);
	len += hex_put(ctx->request_id + len,
	    (unsigned long long)++request_counter, 8);
	ctx->request_id[len] = '\0';

	return (ctx);
}
