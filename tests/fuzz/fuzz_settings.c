/*
 * Fuzzes the settings parser: the file and the environment.
 *
 * Input: the whole input is a settings file; its lines are also used as
 * an environment (ROLLCALL_<KEY>=value entries and anything else).
 *
 * Properties:
 *   - loading never crashes, and a refusal says why;
 *   - a file that loads round-trips: printing the settings as a file
 *     (one "key = value" line per setting) and loading that over the
 *     defaults gives the same settings.
 */
#include <sys/mman.h>

#include <unistd.h>

#include "fuzz.h"
#include "settings.h"

#define ENV_MAX	64

static int	fd = -1;
static char	path[64];

/* Replaces the content of the in-memory file behind path. */
static void
file_set(const char *data, size_t size)
{
	if (fd == -1) {
		if ((fd = memfd_create("rollcall-settings", 0)) == -1)
			abort();
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 || (size > 0 &&
	    pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
}

/* The settings as a file; malloc()ed. */
static char *
print(const struct settings *s, size_t *len)
{
	FILE	*fp;
	char	*buf;

	buf = NULL;
	if ((fp = open_memstream(&buf, len)) == NULL)
		abort();
	fprintf(fp, "database_url = %s\n", s->database_url);
	/* Brackets always: set_listen strips one pair. */
	fprintf(fp, "listen = [%s]:%s\n", s->listen_addr, s->listen_port);
	fprintf(fp, "public_url = %s\n", s->public_url);
	fprintf(fp, "instance = %s\n", s->instance);
	fprintf(fp, "log_level = %s\n", s->log_level);
	fprintf(fp, "workers = %d\n", s->workers);
	fprintf(fp, "db_threads = %d\n", s->db_threads);
	fprintf(fp, "db_wait_s = %d\n", s->db_wait_s);
	fprintf(fp, "decision_ttl_s = %d\n", s->decision_ttl_s);
	fprintf(fp, "body_max = %ld\n", s->body_max);
	fprintf(fp, "token_slots = %d\n", s->token_slots);
	fprintf(fp, "change_ring_mb = %d\n", s->change_ring_mb);
	fprintf(fp, "failure_audit_s = %d\n", s->failure_audit_s);
	fprintf(fp, "extauthz_subject_header = %s\n",
	    s->extauthz_subject_header);
	fprintf(fp, "extauthz_server_header = %s\n", s->extauthz_server_header);
	fprintf(fp, "extauthz_tool_header = %s\n", s->extauthz_tool_header);
	fprintf(fp, "extauthz_method_header = %s\n", s->extauthz_method_header);
	if (fclose(fp) != 0)
		abort();
	return (buf);
}

#define SAME_STR(f)	FUZZ_ASSERT(strcmp(a->f, b->f) == 0, \
			    #f ": <%s> came back as <%s>", a->f, b->f)
#define SAME_NUM(f)	FUZZ_ASSERT(a->f == b->f, \
			    #f ": %lld came back as %lld", \
			    (long long)a->f, (long long)b->f)

static void
same(const struct settings *a, const struct settings *b)
{
	SAME_STR(database_url);
	SAME_STR(listen_addr);
	SAME_STR(listen_port);
	SAME_STR(public_url);
	SAME_STR(instance);
	SAME_STR(log_level);
	SAME_NUM(log_level_num);
	SAME_NUM(workers);
	SAME_NUM(db_threads);
	SAME_NUM(db_wait_s);
	SAME_NUM(decision_ttl_s);
	SAME_NUM(body_max);
	SAME_NUM(token_slots);
	SAME_NUM(change_ring_mb);
	SAME_NUM(failure_audit_s);
	SAME_STR(extauthz_subject_header);
	SAME_STR(extauthz_server_header);
	SAME_STR(extauthz_tool_header);
	SAME_STR(extauthz_method_header);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings		 s, back;
	struct settings_err	 err;
	char			*text, *env[ENV_MAX + 1], *p, *nl, *printed;
	size_t			 n, len;

	file_set((const char *)data, size);
	settings_defaults(&s);
	err.msg[0] = '\0';
	if (settings_load_file(&s, path, 0, &err) == 0) {
		printed = print(&s, &len);
		file_set(printed, len);
		settings_defaults(&back);
		FUZZ_ASSERT(settings_load_file(&back, path, 0, &err) == 0,
		    "printed settings do not load: %s\n%s", err.msg, printed);
		same(&s, &back);
		free(printed);
	} else
		FUZZ_ASSERT(err.msg[0] != '\0', "file refused without a reason");

	text = fuzz_strndup(data, size);
	for (n = 0, p = text; p != NULL && n < ENV_MAX; n++) {
		env[n] = p;
		if ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			p = nl + 1;
		} else
			p = NULL;
	}
	env[n] = NULL;
	settings_defaults(&s);
	err.msg[0] = '\0';
	if (settings_load_env(&s, env, &err) == -1)
		FUZZ_ASSERT(err.msg[0] != '\0', "environment refused without "
		    "a reason");
	free(text);

	return (0);
}
