/*
 * ctx.h: what a request carries from authentication to its handler.
 * Included through svc.h.
 */
#ifndef RC_CTX_H
#define RC_CTX_H

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "tokentab.h"

/*
 * Created on first use and freed by Kore with the request.  state is
 * the handler's own (kore_malloc'd), freed with state_free when the
 * request goes; the database job (db.c) is released then too, and
 * takes state over if it still runs (see svc_db_release in db.h).
 */
struct svc_ctx {
	uint64_t		 start_us;
	char			 request_id[40];
	int			 authed;
	struct tokentab_entry	 token;
	int			 status;
	void			*job;		/* database job (db.c) */
	void			*state;		/* handler's own, kore_malloc'd */
	void			(*state_free)(void *);
};

/* The request's context, created on first use (kore_malloc'd, Kore frees). */
struct svc_ctx	*svc_ctx(struct http_request *);

#endif
