/*
 * http_ops.c: what operators and orchestrators call: liveness,
 * readiness, Prometheus metrics, and the JSON 404 for every path no
 * route claims.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decisions.h"
#include "ops_metrics.h"
#include "policy.h"
#include "policy_glue.h"
#include "strbuf.h"
#include "svc.h"
#include "util.h"

#define READY_CHECK_MS	1000
#define READY_STALE_MS	5000

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
	"opa_data", "ext_authz", "gw_introspect",
	/* end gateway */
	/* admin */
	"admin_directories", "admin_directory_entra", "admin_tokens",
	"admin_token",
	"admin_effective", "admin_explain", "admin_killswitch",
	"admin_quarantine", "admin_simulate", "admin_activity",
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

static int	ping_running;
static uint64_t	ping_started_ms;

static void
ping_done(void *arg, int result, struct svc_db_err *err)
{
	(void)arg;
	(void)err;
	ping_running = 0;
	__atomic_store_n(&svc.shared->db_ok, result == 0, __ATOMIC_RELAXED);
	__atomic_store_n(&svc.shared->db_checked_ms, rc_now_ms(),
	    __ATOMIC_RELAXED);
}

/*
 * Ready means: initial state loaded, the database answered a ping
 * lately, and the instance proved it is current within
 * policy_max_staleness_s (else its decisions deny, policy_stale, and a
 * load balancer should send them elsewhere).  The ping runs in the
 * background at most once a second, so a tight probe loop costs the
 * database nothing and a probe never waits on a dead network path; a
 * ping that has not come back within READY_STALE_MS counts as down.
 */
int
page_readyz(struct http_request *req)
{
	struct policy_index	*idx;
	json_t			*body;
	uint64_t		 now, checked, age;
	int			 ready, db_ok, stale, ok;
	char			 why[160];

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);

	now = rc_now_ms();
	checked = __atomic_load_n(&svc.shared->db_checked_ms, __ATOMIC_RELAXED);
	if (now - checked >= READY_CHECK_MS && !ping_running) {
		ping_running = 1;
		ping_started_ms = now;
		(void)svc_db_background(ping_job, NULL, ping_done);
	}

	ready = __atomic_load_n(&svc.shared->ready, __ATOMIC_ACQUIRE);
	age = svc_policy_proof_age_ms();
	if (now - checked < READY_STALE_MS)
		db_ok = __atomic_load_n(&svc.shared->db_ok, __ATOMIC_RELAXED);
	else if (ping_running && now - ping_started_ms >= READY_STALE_MS)
		db_ok = 0;	/* asked long ago and still no answer */
	else {
		/*
		 * Nobody asked lately (a probe every 10 s is common), so the
		 * last ping says nothing about now, and the one just started
		 * has not answered.  The listener's heartbeat, a query this
		 * instance sent to the database, is the evidence instead.
		 */
		db_ok = age < READY_STALE_MS;
	}
	stale = svc_policy_stale();
	ok = ready && db_ok && !stale;
	/*
	 * Quarantined principals are reported, not an outage: denying the
	 * principals the index cannot hold is the correct answer.
	 */
	idx = svc_policy();
	body = json_pack("{s:s, s:b, s:b, s:I, s:b, s:f, s:I}", "status",
	    ok ? "ready" : "not_ready", "database", db_ok,
	    "state_loaded", ready, "tokens",
	    (json_int_t)tokentab_count(svc.tokens), "policy_current",
	    !stale && __atomic_load_n(&svc.shared->policy_current,
	    __ATOMIC_ACQUIRE), "policy_proof_age_s", (double)age / 1000.0,
	    "quarantined", (json_int_t)(idx != NULL ?
	    policy_quarantined(idx) : 0));
	if (stale) {
		(void)snprintf(why, sizeof(why), "policy_stale: cannot prove "
		    "the policy is current for %.1f s (limit "
		    "policy_max_staleness_s = %d); decisions deny",
		    (double)age / 1000.0, svc.settings.policy_max_staleness_s);
		(void)json_object_set_new(body, "reason", json_string(why));
	} else if (!ok) {
		(void)json_object_set_new(body, "reason", json_string(
		    ready ? "database unreachable" : "state not loaded"));
	}
	svc_respond_json(req, ok ? HTTP_STATUS_OK :
	    HTTP_STATUS_SERVICE_UNAVAILABLE, body);
	json_decref(body);

	return (KORE_RESULT_OK);
}

int
page_metrics(struct http_request *req)
{
	struct strbuf	 sb = { 0 };
	char		*text, *extra;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	/* Gauges, build and process metrics (ops_metrics.c), decisions. */
	extra = svc_ops_metrics();
	if (extra != NULL) {
		strbuf_printf(&sb, "%s", extra);
		svc_decisions_metrics(&sb);
	}
	text = extra != NULL && !sb.oom ? metrics_render(svc.metrics, sb.s) :
	    NULL;
	free(extra);
	free(sb.s);
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
