/*
 * Unit tests for settings (file, environment, validation) and util.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "decision_log.h"
#include "metrics.h"
#include "settings.h"
#include "util.h"

static char *
write_tmp(const char *text)
{
	static char	path[64];
	FILE		*fp;
	int		 fd;

	rc_strlcpy(path, "/tmp/check_settings.XXXXXX", sizeof(path));
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	return (path);
}

START_TEST(test_defaults)
{
	struct settings	s;

	settings_defaults(&s);
	ck_assert_str_eq(s.listen_addr, "127.0.0.1");
	ck_assert_str_eq(s.listen_port, "8080");
	ck_assert_int_eq(s.workers, 2);
	ck_assert_int_eq(s.body_max, 4 * 1024 * 1024);
	ck_assert(strstr(s.database_url, "gssencmode=disable") != NULL);
	ck_assert_int_eq(s.policy_max_staleness_s, 5);
	ck_assert_int_eq(s.antientropy_s, 60);
}
END_TEST

START_TEST(test_file_and_env)
{
	struct settings		 s;
	struct settings_err	 err;
	char			*path;
	char			*env[] = { "HOME=/x", "ROLLCALL_WORKERS=7",
	    "ROLLCALL_SETTINGS=/ignored", "ROLLCALL_PUBLIC_URL=https://a.b/",
	    NULL };

	settings_defaults(&s);
	path = write_tmp("# c\n  listen = [::1]:9000 \n\nworkers=3\n"
	    "log_level = debug\n");
	ck_assert_int_eq(settings_load_file(&s, path, 0, &err), 0);
	unlink(path);
	ck_assert_str_eq(s.listen_addr, "::1");
	ck_assert_str_eq(s.listen_port, "9000");
	ck_assert_int_eq(s.workers, 3);
	ck_assert_int_eq(s.log_level_num, 0);
	ck_assert_int_eq(settings_load_env(&s, env, &err), 0);
	ck_assert_int_eq(s.workers, 7);
	/* The trailing slash is dropped: locations are built from it. */
	ck_assert_str_eq(s.public_url, "https://a.b");
}
END_TEST

/*
 * Found by tests/fuzz/fuzz_settings.c: "https://a.b//" kept one slash,
 * so locations doubled it and the stored value was not the one that
 * loads back.  Every trailing slash goes, and what is left must still
 * be a URL, without spaces (a space left before the slashes was trimmed
 * away when the stored value was read back from a file).
 */
START_TEST(test_public_url_slashes)
{
	struct settings		 s, again;
	struct settings_err	 err;

	settings_defaults(&s);
	ck_assert_int_eq(settings_set(&s, "public_url", "https://a.b//",
	    &err), 0);
	ck_assert_str_eq(s.public_url, "https://a.b");
	ck_assert_int_eq(settings_set(&s, "public_url", "http://ab.cd/x///",
	    &err), 0);
	ck_assert_str_eq(s.public_url, "http://ab.cd/x");
	settings_defaults(&again);
	ck_assert_int_eq(settings_set(&again, "public_url", s.public_url,
	    &err), 0);
	ck_assert_str_eq(again.public_url, s.public_url);
	/* Nor is one with a space (it was left before the slashes). */
	ck_assert_int_eq(settings_set(&s, "public_url", "https://a.b  //",
	    &err), -1);
	ck_assert_int_eq(settings_set(&s, "public_url", "https://a b.c",
	    &err), -1);
	ck_assert_int_eq(settings_set(&s, "public_url", "https://a.b\t",
	    &err), -1);
	/* Nothing but slashes after the scheme is not a URL. */
	ck_assert_int_eq(settings_set(&s, "public_url", "http://///", &err),
	    -1);
	ck_assert(strstr(err.msg, "public_url") != NULL);
	ck_assert_str_eq(s.public_url, "http://ab.cd/x");
}
END_TEST

START_TEST(test_errors_name_the_setting)
{
	struct settings		 s;
	struct settings_err	 err;
	char			*path;
	char			*typo[] = { "ROLLCALL_WORKRES=2", NULL };

	settings_defaults(&s);
	ck_assert_int_eq(settings_set(&s, "workers", "0", &err), -1);
	ck_assert(strstr(err.msg, "workers") != NULL);
	ck_assert_int_eq(settings_set(&s, "workers", "2x", &err), -1);
	ck_assert_int_eq(settings_set(&s, "workers", "", &err), -1);
	ck_assert_int_eq(settings_set(&s, "workers", " 2", &err), -1);
	ck_assert_int_eq(settings_set(&s, "workers", "99999999999999999999",
	    &err), -1);
	ck_assert_int_eq(settings_set(&s, "listen", "8080", &err), -1);
	ck_assert(strstr(err.msg, "listen") != NULL);
	ck_assert_int_eq(settings_set(&s, "listen", "1.2.3.4:0", &err), -1);
	ck_assert_int_eq(settings_set(&s, "listen", ":80", &err), -1);
	/* Numeric addresses only (found by fuzz_settings: a name made
	 * public_url unloadable). */
	ck_assert_int_eq(settings_set(&s, "listen", "localhost:80", &err), -1);
	ck_assert(strstr(err.msg, "numeric") != NULL);
	ck_assert_int_eq(settings_set(&s, "listen", "[:H1]\xc6\xbd" "4e.:80",
	    &err), -1);
	ck_assert_int_eq(settings_set(&s, "listen", "0.0.0.0:80", &err), 0);
	ck_assert_int_eq(settings_set(&s, "listen", "[::]:80", &err), 0);
	ck_assert_int_eq(settings_set(&s, "public_url", "example.com", &err),
	    -1);
	ck_assert_int_eq(settings_set(&s, "log_level", "loud", &err), -1);
	/* Under two heartbeats of the listener would flap. */
	ck_assert_int_eq(settings_set(&s, "policy_max_staleness_s", "1", &err),
	    -1);
	ck_assert(strstr(err.msg, "policy_max_staleness_s") != NULL);
	ck_assert_int_eq(settings_set(&s, "antientropy_s", "-1", &err), -1);
	ck_assert_int_eq(settings_set(&s, "antientropy_s", "0", &err), 0);
	ck_assert_int_eq(settings_set(&s, "nope", "1", &err), -1);
	ck_assert(strstr(err.msg, "nope") != NULL);
	ck_assert_int_eq(settings_load_env(&s, typo, &err), -1);
	ck_assert(strstr(err.msg, "ROLLCALL_WORKRES") != NULL);

	path = write_tmp("workers = 2\nthis line has no equals\n");
	ck_assert_int_eq(settings_load_file(&s, path, 0, &err), -1);
	ck_assert(strstr(err.msg, ":2:") != NULL);
	unlink(path);
	ck_assert_int_eq(settings_load_file(&s, "/nonexistent/x", 1, &err), 0);
	ck_assert_int_eq(settings_load_file(&s, "/nonexistent/x", 0, &err), -1);
}
END_TEST

START_TEST(test_decision_log_settings)
{
	struct settings		 s;
	struct settings_err	 err;
	const char		*bad[] = { "-0.1", "1.5", "1e-2", "nan", "inf",
	    "0x1", "", ".", "0..5", " 0.5", "0.5 ", "+0.5" };
	size_t			 i;

	settings_defaults(&s);
	ck_assert_int_eq(s.decision_log_mode, DECISION_LOG_ALL);
	ck_assert(s.decision_log_allow_sample == 1.0);
	ck_assert_str_eq(s.decision_log_path, "");
	ck_assert_int_eq(settings_set(&s, "decision_log", "denies", &err), 0);
	ck_assert_int_eq(s.decision_log_mode, DECISION_LOG_DENIES);
	ck_assert_int_eq(settings_set(&s, "decision_log", "off", &err), 0);
	ck_assert_int_eq(s.decision_log_mode, DECISION_LOG_OFF);
	ck_assert_int_eq(settings_set(&s, "decision_log", "on", &err), -1);
	ck_assert(strstr(err.msg, "decision_log") != NULL);
	ck_assert_int_eq(s.decision_log_mode, DECISION_LOG_OFF);
	ck_assert_int_eq(settings_set(&s, "decision_log_allow_sample", "0.05",
	    &err), 0);
	ck_assert(s.decision_log_allow_sample > 0.0499 &&
	    s.decision_log_allow_sample < 0.0501);
	ck_assert_int_eq(settings_set(&s, "decision_log_allow_sample", "0",
	    &err), 0);
	ck_assert(s.decision_log_allow_sample == 0.0);
	ck_assert_int_eq(settings_set(&s, "decision_log_allow_sample", "1",
	    &err), 0);
	ck_assert(s.decision_log_allow_sample == 1.0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(settings_set(&s, "decision_log_allow_sample",
		    bad[i], &err) == -1, "accepted '%s'", bad[i]);
		ck_assert(strstr(err.msg, "decision_log_allow_sample") != NULL);
	}
	ck_assert(s.decision_log_allow_sample == 1.0);
	ck_assert_int_eq(settings_set(&s, "decision_log_path",
	    "/var/log/rollcall/decisions.log", &err), 0);
	ck_assert_str_eq(s.decision_log_path,
	    "/var/log/rollcall/decisions.log");
	/* Not decision_log_file: ROLLCALL_X_FILE reads X from a file. */
	ck_assert_int_eq(settings_set(&s, "decision_log_file", "/x", &err),
	    -1);
}
END_TEST

START_TEST(test_public_url_follows_listen)
{
	struct settings		 s;
	struct settings_err	 err;

	settings_defaults(&s);
	ck_assert_str_eq(s.public_url, "http://127.0.0.1:8080");
	ck_assert_int_eq(settings_set(&s, "listen", "127.0.0.1:9000", &err), 0);
	ck_assert_str_eq(s.public_url, "http://127.0.0.1:9000");
	ck_assert_int_eq(settings_set(&s, "listen", "[::1]:9001", &err), 0);
	ck_assert_str_eq(s.public_url, "http://[::1]:9001");
	/* Once set, it stays, whichever comes first. */
	ck_assert_int_eq(settings_set(&s, "public_url", "https://x.example",
	    &err), 0);
	ck_assert_int_eq(settings_set(&s, "listen", "0.0.0.0:8080", &err), 0);
	ck_assert_str_eq(s.public_url, "https://x.example");
}
END_TEST

START_TEST(test_env_file)
{
	struct settings		 s;
	struct settings_err	 err;
	char			 var[128], *path;
	char			*env[] = { var, NULL };
	char			 both1[128];
	char			*both[] = { both1,
	    "ROLLCALL_DATABASE_URL=host=x", NULL };
	char			*missing[] = {
	    "ROLLCALL_DATABASE_URL_FILE=/nonexistent/secret", NULL };
	char			*typo[] = { "ROLLCALL_NOPE_FILE=/x", NULL };

	settings_defaults(&s);
	path = write_tmp("host=db password=s3cret\n\n");
	(void)snprintf(var, sizeof(var), "ROLLCALL_DATABASE_URL_FILE=%s",
	    path);
	ck_assert_int_eq(settings_load_env(&s, env, &err), 0);
	/* The trailing newlines are not part of the value. */
	ck_assert_str_eq(s.database_url, "host=db password=s3cret");
	(void)snprintf(both1, sizeof(both1), "ROLLCALL_DATABASE_URL_FILE=%s",
	    path);
	ck_assert_int_eq(settings_load_env(&s, both, &err), -1);
	ck_assert(strstr(err.msg, "both") != NULL);
	unlink(path);
	ck_assert_int_eq(settings_load_env(&s, missing, &err), -1);
	ck_assert(strstr(err.msg, "ROLLCALL_DATABASE_URL_FILE") != NULL);
	ck_assert_int_eq(settings_load_env(&s, typo, &err), -1);
	ck_assert(strstr(err.msg, "ROLLCALL_NOPE_FILE") != NULL);
	/* A file's value is validated like any other. */
	path = write_tmp("0\n");
	(void)snprintf(var, sizeof(var), "ROLLCALL_WORKERS_FILE=%s", path);
	ck_assert_int_eq(settings_load_env(&s, env, &err), -1);
	ck_assert(strstr(err.msg, "workers") != NULL);
	unlink(path);
}
END_TEST

START_TEST(test_util)
{
	char		 b64[64], uuid[37], when[32];
	long long	 v;

	rc_b64url_encode((const unsigned char *)"\xfb\xff", 2, b64);
	ck_assert_str_eq(b64, "-_8");
	rc_b64url_encode((const unsigned char *)"foobar", 6, b64);
	ck_assert_str_eq(b64, "Zm9vYmFy");
	ck_assert_uint_eq(rc_b64url_len(32), 43);
	ck_assert_int_eq(rc_uuid_v4(uuid), 0);
	ck_assert(rc_is_uuid(uuid));
	ck_assert(uuid[14] == '4');
	ck_assert(!rc_is_uuid("not-a-uuid"));
	ck_assert(!rc_is_uuid("00000000-0000-4000-8000-00000000000g"));
	ck_assert(!rc_is_uuid("00000000-0000-4000-8000-0000000000000"));
	rc_time_format(1700000000123ULL, when, sizeof(when));
	ck_assert_str_eq(when, "2023-11-14T22:13:20.123Z");
	/* Whole lines per write: what fits, else one long line alone. */
	ck_assert_uint_eq(rc_lines_prefix("ab\ncd\n", 6, 4096), 6);
	ck_assert_uint_eq(rc_lines_prefix("ab\ncd\nef\n", 9, 7), 6);
	ck_assert_uint_eq(rc_lines_prefix("ab\ncd\nef\n", 9, 6), 6);
	ck_assert_uint_eq(rc_lines_prefix("ab\ncd\nef\n", 9, 5), 3);
	ck_assert_uint_eq(rc_lines_prefix("abcdef\ngh\n", 10, 4), 7);
	ck_assert_uint_eq(rc_lines_prefix("abcdefgh", 8, 4), 8);
	ck_assert_uint_eq(rc_lines_prefix("a\nbcdefgh", 9, 4), 2);
	/* The cached second, then other milliseconds and seconds. */
	rc_time_format(1700000000007ULL, when, sizeof(when));
	ck_assert_str_eq(when, "2023-11-14T22:13:20.007Z");
	rc_time_format(1700000061999ULL, when, sizeof(when));
	ck_assert_str_eq(when, "2023-11-14T22:14:21.999Z");
	rc_time_format(1700000000123ULL, when, sizeof(when));
	ck_assert_str_eq(when, "2023-11-14T22:13:20.123Z");
	ck_assert_int_eq(rc_parse_int("-5", -10, 10, &v), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(rc_parse_int("11", -10, 10, &v), -1);
	ck_assert_int_eq(rc_parse_int(NULL, 0, 1, &v), -1);
	ck_assert_uint_eq(rc_strlcpy(b64, "abcdef", 4), 6);
	ck_assert_str_eq(b64, "abc");
}
END_TEST

static const char *const	routes[] = { "healthz", "scim", "other" };

START_TEST(test_metrics_render)
{
	struct metrics	*m;
	void		*mem;
	char		*text;

	mem = calloc(1, metrics_size(3));
	m = metrics_init(mem, routes, 3);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(metrics_route_index(m, "scim"), 1);
	ck_assert_uint_eq(metrics_route_index(m, "unknown"), 2);
	metrics_observe(m, 0, 200, 90);
	metrics_observe(m, 0, 200, 3000);
	metrics_observe(m, 1, 418, 7000000);
	metrics_add(m, METRIC_DB_ERRORS, 3);
	text = metrics_render(m, "extra_line 1\n");
	ck_assert_ptr_nonnull(text);
	ck_assert(strstr(text, "rollcall_http_requests_total{route=\"healthz\","
	    "status=\"200\"} 2\n") != NULL);
	ck_assert(strstr(text, "{route=\"scim\",status=\"other\"} 1\n") != NULL);
	ck_assert(strstr(text, "_bucket{route=\"healthz\",le=\"0.0001\"} 1\n")
	    != NULL);
	ck_assert(strstr(text, "_bucket{route=\"healthz\",le=\"0.005\"} 2\n")
	    != NULL);
	ck_assert(strstr(text, "_bucket{route=\"scim\",le=\"5\"} 0\n") != NULL);
	ck_assert(strstr(text, "_bucket{route=\"scim\",le=\"+Inf\"} 1\n")
	    != NULL);
	ck_assert(strstr(text, "rollcall_db_errors_total 3\n") != NULL);
	ck_assert(strstr(text, "extra_line 1\n") != NULL);
	ck_assert(strstr(text, "route=\"other\"") == NULL);
	free(text);
	ck_assert_ptr_null(metrics_init(mem, routes, 0));
	free(mem);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("settings");
	tc = tcase_create("settings");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_file_and_env);
	tcase_add_test(tc, test_errors_name_the_setting);
	tcase_add_test(tc, test_public_url_slashes);
	tcase_add_test(tc, test_public_url_follows_listen);
	tcase_add_test(tc, test_decision_log_settings);
	tcase_add_test(tc, test_env_file);
	tcase_add_test(tc, test_util);
	tcase_add_test(tc, test_metrics_render);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
