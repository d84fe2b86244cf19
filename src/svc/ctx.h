/*
 * ctx.h: what a request carries from authentication to its handler
 * (ctx.c).  Included through svc.h.
 *
 * ctx.c and db.c call each other on purpose: the context owns the
 * request's job slot, so its teardown must release the job
 * (svc_db_release), while db.c binds a job to a request through that
 * slot (svc_ctx).  Nothing else touches the slot.
 */
#ifndef RC_CTX_H
#define RC_CTX_H

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "tokentab.h"
#include "tracectx.h"

struct svc_db_job;

/*
 * Created on first use and freed by Kore with the request.
 *
 * job: the request's database job, at most one at a time.  Only db.c
 * reads or writes it (svc_db_run, svc_db_done, svc_db_forget); the
 * context's teardown releases it (svc_db_release in db.h).
 *
 * state: the handler's own (kore_malloc'd), freed with state_free when
 * the request goes, or by the job if it still runs then.  While
 * auth_lookup is set, state is http_auth.c's token look-up, not the
 * handler's: authentication clears both before the handler runs.
 *
 * trace: the caller's W3C traceparent when it sent exactly one valid
 * header (traced is 1), else nothing: no trace is invented.  span is
 * our operation's id in that trace (the traceresponse header's).
 */
struct svc_ctx {
	uint64_t		 start_us;
	char			 request_id[40];
	int			 traced;
	struct tracectx		 trace;
	uint64_t		 span;
	int			 authed;
	struct tokentab_entry	 token;
	int			 status;
	struct svc_db_job	*job;
	int			 auth_lookup;
	void			*state;
	void			(*state_free)(void *);
};

/* The request's context, created on first use (kore_malloc'd, Kore frees). */
struct svc_ctx	*svc_ctx(struct http_request *);

#endif
