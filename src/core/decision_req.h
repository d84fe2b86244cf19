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

#include "jsonw.h"
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
 * The batch body's common form, read straight from its text: a 1,000
 * item batch costs several thousand allocations as a jansson tree,
 * more than its decisions.  text (len bytes, not NUL-terminated) is
 * accepted only in a strict subset of JSON whose meaning
 * decision_batch_parse() gives the same way: one object with exactly
 * the members "subject" (a string) and "items" (1 to DECISION_BATCH_MAX
 * objects with exactly "server" and "tool"), in any order; strings of
 * printable ASCII without escapes, each as long as
 * decision_batch_parse() accepts; JSON whitespace anywhere between.
 * Returns 0 with *subj, *q and *n as decision_batch_parse() fills them,
 * the strings now pointing into text (whose closing quotes became
 * NULs: text must outlive *q); 1 when the body is outside the subset
 * (text untouched: parse it as a tree, which also names any error);
 * -1 when memory ran out.
 */
int	decision_batch_parse_text(char *text, size_t len,
	    struct decision_subject *, struct policy_query **q, size_t *n);

/*
 * /v1/authorize's common form read from its text the same way: one
 * object with exactly "subject" (or "token"), "server" and "tool", all
 * strings, in any order.  Same returns as decision_batch_parse_text() (no -1: it
 * allocates nothing); on 0, *q and *subj point into text.
 */
int	decision_authorize_parse_text(char *text, size_t len,
	    struct decision_subject *, struct policy_query *q);

/*
 * /v1/tools/filter: one server and 0 to DECISION_BATCH_MAX tools, each a
 * name or an object with a "name".  Same ownership as the batch: *q has
 * *n + 1 entries (every server is the one server), freed by the caller.
 */
int	decision_tools_parse(const json_t *body, struct decision_subject *,
	    struct policy_query **q, size_t *n, struct decision_err *);

/*
 * Writes the answer to one decision, r with a lifetime of ttl_s, as the
 * JSON object /v1/authorize returns, in this order: "decision",
 * "allow", "reason_code", "policy_version", "subject_epoch", "ttl_s",
 * then "rule_id", "group_id", "grant_id" when set and, when elevation
 * is required, "obligations": [{"type":"request_grant","rule_id" (when
 * set),"max_duration_s"}].  Written as text, not built as a jansson tree:
 * this is every tool call's answer.
 */
void	decision_result_write(struct jsonw *, const struct policy_result *r,
	    int ttl_s);

#endif
