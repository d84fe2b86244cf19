/*
 * http_ops.c: what operators and orchestrators call: liveness,
 * readiness, Prometheus metrics, and the JSON 404 for every path no
 * route claims.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "svc.h"
#include "util.h"

#define READY_CHECK_MS	1000

int	page_healthz(struct http_request *);
int	page_readyz(struct http_request *);
int	page_metrics(struct http_request *);
int	page_not_found(struct http_request *);

static int	ping_job(PGconn *, void *, struct svc_db_err *);

/* Metric labels: handler names without "page_"; "other" must be last. */
const char *const	svc_routes[] = {
	"healthz", "readyz", "metrics", "not_found",
	/* SCIM */
	"scim_users", "scim_user", "scim_groups", "scim_group",
	"scim_spconfig", "scim_schemas", "scim_resourcetypes",
	/* end SCIM */
	/* gateway */
	"gw_session_check", "gw_authorize", "gw_authorize_batch",
	"gw_tools_filter", "gw_revocations", "gw_policy_snapshot",
	"gw_policy_changes", "gw_stream",
	"authzen_evaluation", "authzen_evaluations", "authzen_config",
	"opa_data", "ext_authz",
	/* end gateway */
	/* admin */
	"admin_directories", "admin_tokens", "admin_token",
	"admin_effective", "admin_explain", "admin_killswitch",
	"admin_quarantine", "admin_simulate",
	"admin_audit", "admin_audit_export", "admin_audit_verify",
	"admin_users", "admin_user", "admin_user_groups", "admin_groups",
	"admin_group", "admin_group_members", "openapi",
	"admin_servers", "admin_rules", "admin_grants", "admin_sps",
	/* end admin */
	"other",
};
const size_t		svc_nroutes = sizeof(svc_routes) / sizeof(svc_routes[0]);

int
page_healthz(struct http_request *req)
{
	static const char	ok[] = "{\"status\":\"ok\"}";

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	svc_respond_raw(req, HTTP_STATUS_OK, "application/json", ok,
	    sizeof(ok) - 1);

	return (KORE_RESULT_OK);
}

static int
ping_job(PGconn *conn, void *arg, struct svc_db_err *err)
{
	(void)arg;
	return (svc_db_exec(conn, "SELECT 1", 0, NULL, NULL, err));
}

/*
 * Ready means: initial state loaded and the database answered within
 * the last second (checked at most once a second, so a tight probe
 * loop costs the database nothing).
 */
int
page_readyz(struct http_request *req)
{
	struct svc_db_err	*err;
	struct policy_index	*idx;
	json_t			*body;
	uint64_t		 now, checked;
	int			 result, ready, db_ok;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);

	now = rc_now_ms();
	checked = __atomic_load_n(&svc.shared->db_checked_ms, __ATOMIC_RELAXED);
	if (svc_db_done(req, &result, &err)) {
		__atomic_store_n(&svc.shared->db_ok, result == 0,
		    __ATOMIC_RELAXED);
		__atomic_store_n(&svc.shared->db_checked_ms, now,
		    __ATOMIC_RELAXED);
	} else if (now - checked >= READY_CHECK_MS) {
		return (svc_db_run(req, ping_job, NULL));
	}

	ready = __atomic_load_n(&svc.shared->ready, __ATOMIC_ACQUIRE);
	db_ok = __atomic_load_n(&svc.shared->db_ok, __ATOMIC_RELAXED);
	/*
	 * Quarantined principals are reported, not an outage: denying the
	 * principals the index cannot hold is the correct answer.
	 */
	idx = svc_policy();
	body = json_pack("{s:s, s:b, s:b, s:I, s:I}", "status",
	    ready && db_ok ? "ready" : "not_ready", "database", db_ok,
	    "state_loaded", ready, "tokens",
	    (json_int_t)tokentab_count(svc.tokens), "quarantined",
	    (json_int_t)(idx != NULL ? policy_quarantined(idx) : 0));
	svc_respond_json(req, ready && db_ok ? HTTP_STATUS_OK :
	    HTTP_STATUS_SERVICE_UNAVAILABLE, body);
	json_decref(body);

	return (KORE_RESULT_OK);
}

int
page_metrics(struct http_request *req)
{
	char	*text, *extra;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	/* Gauges, build and process metrics (ops_metrics.c). */
	extra = svc_ops_metrics();
	text = extra != NULL ? metrics_render(svc.metrics, extra) : NULL;
	free(extra);
	if (text == NULL) {
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "cannot render metrics");
		return (KORE_RESULT_OK);
	}
	svc_respond_raw(req, HTTP_STATUS_OK,
	    "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);

	return (KORE_RESULT_OK);
}

int
page_not_found(struct http_request *req)
{
	if (strncmp(req->path, "/scim/", 6) == 0)
		svc_scim_error(req, HTTP_STATUS_NOT_FOUND, NULL,
		    "no such endpoint: %.200s", req->path);
	else
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such endpoint: %.200s", req->path);

	return (KORE_RESULT_OK);
}
