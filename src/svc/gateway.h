/*
 * gateway.h: what the gateway-facing glue files share: naming a
 * subject, evaluating, and writing decisions as JSON in the one shape
 * every endpoint uses (README, "Decision semantics").
 */
#ifndef RC_GATEWAY_H
#define RC_GATEWAY_H

#include "decision_req.h"
#include "decisions.h"
#include "policy.h"
#include "svc.h"

#define GW_BATCH_MAX	DECISION_BATCH_MAX

/* A subject as the request named it, resolved against the index. */
struct gw_subject {
	struct policy_subject	subj;		/* the alias that resolved */
	char			directory[24];	/* the token's directory id */
	int			found;
	struct policy_principal_info info;	/* when found */
	/*
	 * Named by an Entra access token (entra_glue.h): value holds the
	 * token's oid or app id; refused is the reason code of an invalid
	 * token (decisions deny with it), unbound set when the directory
	 * has no binding (the request is answered 400), detail says why.
	 */
	char			value[64];
	const char		*refused;
	const char		*detail;
	int			unbound;
	int			conflict;	/* header and body differ */
	int64_t			exp;		/* a valid token's exp */
};

/*
 * Reads a subject from v: a string (an id, userName, email, externalId
 * or application id, tried in that order) or an object with one of
 * "id", "userName"/"user_name"/"upn", "externalId"/"external_id"/"oid",
 * "email", "appId"/"app_id"/"client_id".  The directory is always the
 * token's.  Returns 0, or -1 after answering 400.
 */
int	gw_subject_parse(struct http_request *, struct policy_index *,
	    const json_t *v, struct gw_subject *);

/*
 * ttl_s for an answer resting on n results: decision_ttl_s, cut so it
 * never reaches past the earliest valid_until_ms among them.
 */
int	gw_ttl_s(const struct policy_result *, size_t n);

/*
 * Resolves a subject decision_req parsed in the token's directory (out
 * filled; out->found says whether a principal matched).
 */
void	gw_subject_resolve(struct http_request *, struct policy_index *,
	    const struct decision_subject *, struct gw_subject *);

/*
 * The subject an Entra access token names, for directory_id (the
 * gateway token's), into out (refused/unbound as above).
 */
void	gw_token_subject(int64_t directory_id, struct policy_index *,
	    const char *token, struct gw_subject *out);

/*
 * After gw_subject_resolve: answers 400 and returns 1 when the request
 * must not be decided: subject_conflict (the subject header names
 * another subject than the body; counted), token_not_bound (a token of
 * an unbound directory).  Else 0.
 */
int	gw_subject_refused(struct http_request *, const struct gw_subject *);

/* The decision as JSON (new reference). */
json_t	*gw_decision_json(const struct policy_result *, int ttl_s);

/*
 * Answers a fail-closed deny when no decision can be trusted: the index
 * is being rebuilt (internal_error) or the instance cannot prove it is
 * current (policy_stale); the deny is observed as endpoint's.
 */
void	gw_unavailable(struct http_request *, const char *endpoint);

/*
 * Observes (counts and logs, decisions.h) one decision of endpoint for
 * the subject s about (server, tool), either NULL.
 */
void	gw_observe(struct http_request *, const char *endpoint,
	    const struct gw_subject *s, const char *server, const char *tool,
	    const struct policy_result *res);
/* NULL when decisions may be made; else the reason code to deny with. */
const char	*gw_untrusted(void);

#endif
