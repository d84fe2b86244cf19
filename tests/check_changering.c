/*
 * Unit tests for changering: order, wrap-around, overrun detection,
 * and visibility across processes.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changering.h"
#include "check_main.h"

#define CAP	4096

static void			*mem;
static struct changering	*ring;

static void
setup(void)
{
	mem = mmap(NULL, changering_size(CAP), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	ring = changering_init(mem, CAP);
	ck_assert_ptr_nonnull(ring);
}

static void
teardown(void)
{
	munmap(mem, changering_size(CAP));
}

START_TEST(test_init_rejects_bad_capacity)
{
	ck_assert_ptr_null(changering_init(mem, 1000));
	ck_assert_ptr_null(changering_init(mem, 1024));
}
END_TEST

START_TEST(test_append_read_in_order)
{
	uint64_t	pos;
	char		buf[64];
	size_t		len;

	pos = changering_head(ring);
	ck_assert_int_eq(changering_read(ring, &pos, buf, sizeof(buf), &len),
	    CHANGERING_EMPTY);
	ck_assert_uint_ne(changering_append(ring, "one", 3), 0);
	ck_assert_uint_ne(changering_append(ring, "second", 6), 0);
	ck_assert_int_eq(changering_read(ring, &pos, buf, sizeof(buf), &len),
	    CHANGERING_OK);
	ck_assert(len == 3 && memcmp(buf, "one", 3) == 0);
	ck_assert_int_eq(changering_read(ring, &pos, buf, sizeof(buf), &len),
	    CHANGERING_OK);
	ck_assert(len == 6 && memcmp(buf, "second", 6) == 0);
	ck_assert_int_eq(changering_read(ring, &pos, buf, sizeof(buf), &len),
	    CHANGERING_EMPTY);
	ck_assert_uint_eq(pos, changering_head(ring));
}
END_TEST

START_TEST(test_limits)
{
	char	big[CAP];
	char	small[4];
	uint64_t pos;
	size_t	len;

	memset(big, 'x', sizeof(big));
	ck_assert_uint_eq(changering_append(ring, big, 0), 0);
	ck_assert_uint_eq(changering_append(ring, big, CAP / 4 + 1), 0);
	pos = changering_head(ring);
	ck_assert_uint_ne(changering_append(ring, big, CAP / 4), 0);
	ck_assert_int_eq(changering_read(ring, &pos, small, sizeof(small),
	    &len), CHANGERING_TOOBIG);
	ck_assert_uint_eq(len, CAP / 4);
	/* The position did not move: a bigger buffer gets it. */
	ck_assert_int_eq(changering_read(ring, &pos, big, sizeof(big), &len),
	    CHANGERING_OK);
}
END_TEST

START_TEST(test_wraps_and_detects_overrun)
{
	uint64_t	slow, fast;
	char		rec[100], buf[200];
	size_t		len;
	int		i, n;

	slow = fast = changering_head(ring);
	for (i = 0; i < 200; i++) {
		n = snprintf(rec, sizeof(rec), "record %d %s", i,
		    "padding-padding-padding-padding-padding");
		ck_assert_uint_ne(changering_append(ring, rec, (size_t)n), 0);
		/* The fast reader keeps up, across the wrap. */
		ck_assert_int_eq(changering_read(ring, &fast, buf,
		    sizeof(buf), &len), CHANGERING_OK);
		ck_assert(len == (size_t)n && memcmp(buf, rec, len) == 0);
	}
	/* The slow reader is more than CAP behind. */
	ck_assert_int_eq(changering_read(ring, &slow, buf, sizeof(buf), &len),
	    CHANGERING_OVERRUN);
	/* Invalidation overruns even a reader that was up to date. */
	fast = changering_head(ring);
	changering_invalidate(ring);
	ck_assert_int_eq(changering_read(ring, &fast, buf, sizeof(buf), &len),
	    CHANGERING_OVERRUN);
	/* A position from the future is refused too. */
	slow = changering_head(ring) + 8;
	ck_assert_int_eq(changering_read(ring, &slow, buf, sizeof(buf), &len),
	    CHANGERING_OVERRUN);
}
END_TEST

START_TEST(test_other_process_sees_appends)
{
	uint64_t	pos;
	pid_t		pid;
	char		buf[64];
	size_t		len;
	int		status, i;

	pos = changering_head(ring);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 10; i++) {
			(void)snprintf(buf, sizeof(buf), "child %d", i);
			if (changering_append(ring, buf, strlen(buf)) == 0)
				_exit(1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	for (i = 0; i < 10; i++) {
		char	want[64];

		ck_assert_int_eq(changering_read(ring, &pos, buf, sizeof(buf),
		    &len), CHANGERING_OK);
		(void)snprintf(want, sizeof(want), "child %d", i);
		ck_assert(len == strlen(want) && memcmp(buf, want, len) == 0);
	}
}
END_TEST

/* Two writer processes and a reader: every record arrives whole. */
START_TEST(test_concurrent_writers)
{
	uint64_t	pos;
	pid_t		pid[2];
	char		buf[64];
	size_t		len;
	int		k, i, status, got[2], who, seq;

	/* A big ring so the reader (after the writers) cannot overrun. */
	munmap(mem, changering_size(CAP));
	mem = mmap(NULL, changering_size(1 << 20), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ring = changering_init(mem, 1 << 20);
	pos = changering_head(ring);
	for (k = 0; k < 2; k++) {
		if ((pid[k] = fork()) == 0) {
			for (i = 0; i < 5000; i++) {
				(void)snprintf(buf, sizeof(buf), "%d:%d", k, i);
				(void)changering_append(ring, buf, strlen(buf));
			}
			_exit(0);
		}
	}
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(waitpid(pid[k], &status, 0), pid[k]);
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	got[0] = got[1] = 0;
	while (changering_read(ring, &pos, buf, sizeof(buf) - 1, &len) ==
	    CHANGERING_OK) {
		buf[len] = '\0';
		ck_assert_int_eq(sscanf(buf, "%d:%d", &who, &seq), 2);
		/* Each writer's records arrive in its own order. */
		ck_assert_int_eq(seq, got[who]);
		got[who]++;
	}
	ck_assert_int_eq(got[0], 5000);
	ck_assert_int_eq(got[1], 5000);
	munmap(mem, changering_size(1 << 20));
	mem = mmap(NULL, changering_size(CAP), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}
END_TEST

int
main(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("changering");
	tc = tcase_create("changering");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_rejects_bad_capacity);
	tcase_add_test(tc, test_append_read_in_order);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_wraps_and_detects_overrun);
	tcase_add_test(tc, test_other_process_sees_appends);
	tcase_add_test(tc, test_concurrent_writers);
	suite_add_tcase(s, tc);
	return (check_run(s));
}
