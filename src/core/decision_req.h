/*
 * decision_req: the shape of a decision endpoint's JSON body, checked
 * before anything is looked up (README, "Decision semantics"):
 *
 *   POST /v1/authorize        {"subject", "server", "tool"}
 *   POST /v1/authorize/batch  {"subject", "items": [{"server", "tool"}]}
 *   POST /v1/tools/filter     {"subject", "server", "tools": [name or
 *                              {"name"}]}
 *   and the "subject" member every gateway endpoint shares.
 *
 * Pure: no index, no HTTP.  The glue reads and decodes the body (a JSON
 * object), calls one of these, answers err->status with err->code and
 * err->msg on -1, else resolves the subject against its index.
 *
 * Every string handed out is borrowed from the body and valid while the
 * caller holds its reference.  A name or subject is accepted only when
 * it is non-empty and shorter than POLICY_NAME_MAX bytes.  When several
 * members are wrong, the error names the first one in this order:
 * authorize: server and tool, then subject; batch: the shape of items,
 * then subject, then the first bad item; tools filter: server and the
 * shape of tools, then subject, then the first bad tool.
 */
#ifndef RC_DECISION_REQ_H
#define RC_DECISION_REQ_H

#include <stddef.h>

#include <jansson.h>

#include "policy.h"

#define DECISION_BATCH_MAX	10000	/* items, tools */
#define DECISION_TOKEN_MAX	16384	/* bytes of an access token */

struct decision_err {
	int	status;		/* 400; 500 when memory ran out */
	char	code[32];	/* "invalid_request", "invalid_subject", ... */
	char	msg[256];
};

/*
 * A subject as the request named it.  any: a bare string, to be tried
 * as an id, userName, email, externalId and application id in that
 * order; else by names the alias the object's key chose.
 */
struct decision_subject {
	const char		*token;		/* an access token, else NULL */
	int			 any;
	enum policy_alias	 by;
	const char		*value;
};

/*
 * The "subject" member v (may be NULL): a string, or an object with one
 * of "id", "userName"/"user_name"/"upn", "externalId"/"external_id"/
 * "oid", "email", "appId"/"app_id"/"client_id" (the first of these, in
 * this order, whose value is a string decides).  0, or -1 with err.
 */
int	decision_subject_parse(const json_t *v, struct decision_subject *,
	    struct decision_err *);

/*
 * The subject of a body: its "token" member (an Entra access token,
 * borrowed into out->token, validated later by the caller) or else its
 * "subject" member, as decision_subject_parse.  Both present is an
 * error (400 invalid_subject): a request names its caller once.  The
 * three parsers below use this.
 */
int	decision_body_subject_parse(const json_t *body,
	    struct decision_subject *, struct decision_err *);

/* /v1/authorize: one (server, tool) pair into *q.  0, or -1 with err. */
int	decision_authorize_parse(const json_t *body, struct decision_subject *,
	    struct policy_query *q, struct decision_err *);

/*
 * /v1/authorize/batch: 1 to DECISION_BATCH_MAX pairs.  On 0, *q is a
 * new array of *n + 1 entries (the last zeroed) the caller frees with
 * free(); on -1, *q is NULL and err is filled.
 */
int	decision_batch_parse(const json_t *body, struct decision_subject *,
	    struct policy_query **q, size_t *n, struct decision_err *);

/*
 * /v1/tools/filter: one server and 0 to DECISION_BATCH_MAX tools, each a
 * name or an object with a "name".  Same ownership as the batch: *q has
 * *n + 1 entries (every server is the one server), freed by the caller.
 */
int	decision_tools_parse(const json_t *body, struct decision_subject *,
	    struct policy_query **q, size_t *n, struct decision_err *);

#endif
