/*
 * lifecycle.c: Kore's process hooks (lifecycle.h names what they call
 * in each module).  The parent reads the settings, binds the
 * listener, maps the shared memory every worker inherits, and loads
 * the initial state from PostgreSQL with blocking libpq before it
 * forks (it is not sandboxed yet, and a worker must never start
 * without it).  Workers only attach per-process things; their
 * configure hook cannot fail, because Kore respawns a dying worker
 * with no backoff (measured: about 270 restarts a second).
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kore/hooks.h>
#include <kore/seccomp.h>


#include "activity_glue.h"
#include "build_info.h"
#include "changering.h"
#include "chroot_resolver.h"
#include "decisions.h"
#include "entra_glue.h"
#include "lifecycle.h"
#include "migration.h"
#include "ops_metrics.h"
#include "policy_glue.h"
#include "svc.h"
#include "util.h"

extern char	**environ;

static PGconn	*parent_connect(void);
static void	 parent_check_schema(PGconn *);
static void	 shared_map(void);

/* Our syscalls on top of Kore's allow-list (its src/seccomp.c). */
static struct sock_filter	filter_rollcall[] = {
	/* glibc 2.36 tries clone3 first for threads; make it fall back. */
	KORE_SYSCALL_DENY(clone3, ENOSYS),
	KORE_SYSCALL_ALLOW(rseq),
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(poll),
	KORE_SYSCALL_ALLOW(ppoll),
	KORE_SYSCALL_ALLOW(sched_yield),
	KORE_SYSCALL_ALLOW(clock_nanosleep),
	KORE_SYSCALL_ALLOW(nanosleep),
	/* worker_follow_parent: only this prctl, and getppid. */
	KORE_SYSCALL_ARG(prctl, 0, PR_SET_PDEATHSIG, SECCOMP_RET_ALLOW),
	KORE_SYSCALL_ALLOW(getppid),
	/*
	 * The Entra key fetch resolves the tenant's host with getaddrinfo
	 * on a task thread (entra_fetch.c): glibc's resolver asks uname
	 * and speaks UDP to the name server.
	 */
	KORE_SYSCALL_ALLOW(uname),
	KORE_SYSCALL_ALLOW(sendmmsg),
	KORE_SYSCALL_ALLOW(recvfrom),
#if defined(RC_SANITIZE)
	KORE_SYSCALL_ALLOW(gettid),
	KORE_SYSCALL_ALLOW(sched_getaffinity),
	KORE_SYSCALL_ALLOW(madvise),
	KORE_SYSCALL_ALLOW(sigaltstack),
	KORE_SYSCALL_ALLOW(prctl),
	KORE_SYSCALL_ALLOW(readlink),
	KORE_SYSCALL_ALLOW(getrlimit),
	KORE_SYSCALL_ALLOW(prlimit64),
#endif
};

/*
 * Test only, sanitizer builds only: LeakSanitizer checks a worker at
 * exit from a tracer thread that ptraces its siblings, which the
 * sandbox kills (and the worker then spins forever).  With
 * RC_TEST_SANDBOX=off (see sandbox_setting) the filter allows every
 * system call, so the leak-checked test suite can run the server.  A
 * release build refuses to start with that variable set.
 */
#if defined(RC_SANITIZE)
static int			sandbox_off;
static struct sock_filter	filter_allow_all[] = {
	KORE_BPF_RET(SECCOMP_RET_ALLOW),
};
#endif

static void	sandbox_setting(void);
static int	leak_checking(void);

/* 1 in the leak-checked test variant (RC_TEST_SANDBOX=off). */
static int
leak_checking(void)
{
#if defined(RC_SANITIZE)
	return (sandbox_off);
#else
	return (0);
#endif
}

static void
sandbox_setting(void)
{
	const char	*v;

	if ((v = getenv("RC_TEST_SANDBOX")) == NULL)
		return;
#if defined(RC_SANITIZE)
	if (strcmp(v, "off") != 0)
		fatal("rollcall: RC_TEST_SANDBOX must be 'off' or unset");
	sandbox_off = 1;
	svc_log(SVC_LOG_WARN, "test build: the seccomp sandbox is off "
	    "(RC_TEST_SANDBOX=off), for leak checking only");
#else
	(void)v;
	fatal("rollcall: RC_TEST_SANDBOX is for the sanitizer test build "
	    "only (make SANITIZE=1); this build always runs sandboxed: "
	    "unset it");
#endif
}

void
kore_seccomp_hook(void)
{
#if defined(RC_SANITIZE)
	/* First in the program: every system call is allowed. */
	if (sandbox_off)
		(void)kore_seccomp_filter("rollcall-test-allow-all",
		    filter_allow_all, KORE_FILTER_LEN(filter_allow_all));
#endif
	(void)kore_seccomp_filter("rollcall", filter_rollcall,
	    KORE_FILTER_LEN(filter_rollcall));
}

/* Container logs must not repeat the parent's buffered lines per fork. */
static void	stdout_line_buffered(void) __attribute__((constructor));

static void
stdout_line_buffered(void)
{
	(void)setvbuf(stdout, NULL, _IOLBF, 0);
}

static void
shared_map(void)
{
	size_t	 shared_sz, tok_sz, met_sz, ring_sz, total;
	char	*mem;

	shared_sz = (sizeof(struct svc_shared) + 63) & ~(size_t)63;
	tok_sz = (tokentab_size((uint32_t)svc.settings.token_slots) + 63) &
	    ~(size_t)63;
	met_sz = (metrics_size(svc_nroutes) + 63) & ~(size_t)63;
	/* The ring's capacity: the setting rounded up to a power of two. */
	svc.ring_capacity = 4096;
	while (svc.ring_capacity < (size_t)svc.settings.change_ring_mb << 20)
		svc.ring_capacity <<= 1;
	ring_sz = changering_size(svc.ring_capacity);
	total = shared_sz + tok_sz + met_sz + ring_sz;

	mem = mmap(NULL, total, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fatal("rollcall: cannot map %zu bytes of shared memory: %s",
		    total, strerror(errno));
	/* Anonymous mappings come zeroed: touching the ring would only
	 * make all of it resident up front. */

	svc.shared = (struct svc_shared *)(void *)mem;
	svc.tokens = tokentab_init(mem + shared_sz,
	    (uint32_t)svc.settings.token_slots);
	svc.metrics = metrics_init(mem + shared_sz + tok_sz, svc_routes,
	    svc_nroutes);
	svc.ring = changering_init(mem + shared_sz + tok_sz + met_sz,
	    svc.ring_capacity);
	if (svc.tokens == NULL || svc.metrics == NULL || svc.ring == NULL)
		fatal("rollcall: setting token_slots must be a power of two");
	svc.shared->started_ms = rc_now_ms();
	ratelimit_init(&svc.shared->token_lookups, SVC_TOKEN_LOOKUPS_S,
	    SVC_TOKEN_LOOKUPS_BURST, svc.shared->started_ms);
}

static PGconn *
parent_connect(void)
{
	PGconn		*conn;
	uint64_t	 deadline;
	int		 logged;

	deadline = rc_now_ms() + (uint64_t)svc.settings.db_wait_s * 1000;
	logged = 0;
	for (;;) {
		conn = PQconnectdb(svc.settings.database_url);
		if (PQstatus(conn) == CONNECTION_OK)
			return (conn);
		if (rc_now_ms() >= deadline) {
			svc_log(SVC_LOG_ERROR, "cannot connect to PostgreSQL "
			    "(setting database_url): %s",
			    PQerrorMessage(conn));
			PQfinish(conn);
			fatal("rollcall: database unreachable, giving up "
			    "after db_wait_s=%d seconds", svc.settings.db_wait_s);
		}
		if (!logged++)
			svc_log(SVC_LOG_WARN, "waiting for PostgreSQL: %s",
			    PQerrorMessage(conn));
		PQfinish(conn);
		(void)usleep(500 * 1000);
	}
}

static void
parent_check_schema(PGconn *conn)
{
	PGresult	*res;
	long long	 v, *vers;
	char		 why[128];
	int		 i, rows;

	/* Recorded versions must be the start of migration.h's sequence. */
	res = PQexec(conn, "SELECT version FROM schema_migrations "
	    "ORDER BY version");
	rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
	if ((vers = calloc((size_t)rows + 1, sizeof(*vers))) == NULL)
		fatal("rollcall: out of memory");
	for (i = 0; i < rows; i++) {
		if (rc_parse_int(PQgetvalue(res, i, 0), 0, 1000000,
		    &vers[i]) == -1)
			vers[i] = 0;
	}
	PQclear(res);
	v = rows > 0 ? vers[rows - 1] : 0;
	if (migration_check_prefix(vers, (size_t)rows, why,
	    sizeof(why)) == -1) {
		free(vers);
		PQfinish(conn);
		fatal("rollcall: the database's schema_migrations: %s: a "
		    "migration was skipped or applied out of order (repair "
		    "the database by hand)", why);
	}
	free(vers);
	if (v < SVC_SCHEMA_VERSION) {
		PQfinish(conn);
		fatal("rollcall: the database schema is not migrated "
		    "(found version %lld, need %d): run 'rollcallctl migrate'",
		    v, SVC_SCHEMA_VERSION);
	}
}

void
kore_parent_configure(int argc, char **argv)
{
	struct settings_err	 err;
	struct svc_db_err	 dberr;
	struct kore_server	*srv;
	const char		*path;
	PGconn			*conn;
	uint64_t		 t0, load_ms;
	int			 optional;

	(void)argc;
	(void)argv;

	sandbox_setting();
	settings_defaults(&svc.settings);
	if ((path = getenv("ROLLCALL_SETTINGS")) == NULL) {
		path = "conf/rollcall.settings";
		optional = 1;
	} else {
		optional = 0;
	}
	if (settings_load_file(&svc.settings, path, optional, &err) == -1 ||
	    settings_load_env(&svc.settings, environ, &err) == -1)
		fatal("rollcall: bad configuration: %s", err.msg);

	if (svc.settings.instance[0] != '\0') {
		rc_strlcpy(svc.instance, svc.settings.instance,
		    sizeof(svc.instance));
	} else {
		char	host[48];

		if (gethostname(host, sizeof(host)) == -1)
			rc_strlcpy(host, "rollcall", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		(void)snprintf(svc.instance, sizeof(svc.instance), "%s-%d",
		    host, (int)getpid());
	}

	/* Kore's own knobs that follow from our settings. */
	worker_count = (u_int8_t)svc.settings.workers;
	kore_task_threads = (u_int16_t)svc.settings.db_threads;
	/*
	 * Kore answers an over-limit body itself with a bare 413.  Give
	 * it headroom so that bodies a little over our limit reach us and
	 * get an error body a client (and Entra's log) can read.
	 */
	http_body_max = (size_t)svc.settings.body_max * 2 + 65536;

	if ((srv = kore_server_lookup("main")) == NULL)
		fatal("rollcall: the Kore configuration has no 'server main'");
	if (!kore_server_bind(srv, svc.settings.listen_addr,
	    svc.settings.listen_port, NULL))
		fatal("rollcall: cannot listen on %s:%s (setting listen)",
		    svc.settings.listen_addr, svc.settings.listen_port);

	json_object_seed(0);
	shared_map();
	svc_ops_parent_init();
	svc_decisions_parent_init();
	svc_out_parent_init();

	conn = parent_connect();
	parent_check_schema(conn);
	if (svc_tokens_load(conn, &dberr) == -1) {
		PQfinish(conn);
		fatal("rollcall: cannot load tokens: %s", dberr.msg);
	}
	if (svc_admin_load(conn, &dberr) == -1) {
		PQfinish(conn);
		fatal("rollcall: cannot load the cursor key: %s", dberr.msg);
	}
	if (svc_openapi_load(NULL) == -1) {
		PQfinish(conn);
		fatal("rollcall: cannot load conf/openapi.json (see the log)");
	}
	svc_console_load();
	chroot_resolver_prepare();
	entra_parent_init(conn);
	t0 = rc_mono_us();
	if (svc_policy_parent_load(conn, &dberr) == -1) {
		PQfinish(conn);
		fatal("rollcall: cannot load the policy: %s", dberr.msg);
	}
	load_ms = (rc_mono_us() - t0) / 1000;
	PQfinish(conn);
	/* The load read one snapshot taken after t0: proof as of t0. */
	svc.shared->policy_proof_ms = t0 / 1000;

	svc.shared->db_ok = 1;
	svc.shared->db_checked_ms = rc_now_ms();
	__atomic_store_n(&svc.shared->ready, 1, __ATOMIC_RELEASE);

#ifdef RC_TESTHOOKS
	svc_log(SVC_LOG_WARN, "test hooks compiled in (RC_TESTHOOKS): not a "
	    "release build");
#endif
	svc_log(SVC_LOG_INFO, "rollcall %s (%s, commit %s) listening on "
	    "http://%s:%s with %d "
	    "workers; %u tokens loaded; policy version %llu loaded in %llu ms; "
	    "public url %s", svc.instance, rc_build_version, rc_build_commit,
	    svc.settings.listen_addr,
	    svc.settings.listen_port, svc.settings.workers,
	    tokentab_count(svc.tokens),
	    (unsigned long long)svc_policy_base_version(),
	    (unsigned long long)load_ms, svc.settings.public_url);
}

/*
 * A worker must not outlive its parent: orphaned, it would go on
 * answering on the shared socket with nobody to restart it, stop it
 * or run a second instance's start-up checks (a parent killed with
 * SIGKILL left its workers serving).  The kernel sends SIGTERM, which
 * Kore handles as a normal stop; the getppid check covers a parent
 * that died before the prctl.
 */
static void
worker_follow_parent(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatalx("rollcall: prctl(PR_SET_PDEATHSIG): %s", errno_s);
	if ((uint32_t)getppid() != svc.shared->parent_pid)
		fatalx("rollcall: parent gone before the worker started");
}

void
kore_worker_configure(void)
{
	worker_follow_parent();
	metrics_attach(svc.metrics, svc_routes);
	metrics_add(svc.metrics, METRIC_WORKER_STARTS, 1);
	svc_log_worker_init();
	if (worker->restarted)
		svc_log(SVC_LOG_WARN, "worker %u restarted", worker->id);
	svc_policy_worker_init();
	feeds_worker_init();
	admin_policy_worker_init();
	svc_ops_worker_init();
	entra_worker_init();
	if (worker->id == 1)
		svc_listener_start();
	svc_antientropy_start();
	svc_activity_worker_init();
}

void
kore_worker_teardown(void)
{
	svc_db_drain();
	svc_log_flush();
	svc_out_stop();
	svc_leak_check(leak_checking());
}

void
kore_parent_teardown(void)
{
	svc_log_flush();
	svc_log(SVC_LOG_INFO, "rollcall %s stopped", svc.instance);
	svc_leak_check(0);
}
