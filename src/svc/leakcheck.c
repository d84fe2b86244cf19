/*
 * leakcheck.c: what the sanitizer build needs so that LeakSanitizer can
 * check a running server (the leak-checked test variant,
 * tests/it/test_leaks.py).  Nothing here exists in a release build.
 *
 * Kore's pools (pool.c) take their memory with mmap, which LeakSanitizer
 * does not scan: every malloc'd buffer that only a pooled object (a
 * connection, a request, a route's regex) points to would look leaked.
 * The sanitizer build links with -Wl,--wrap=mmap64,--wrap=munmap (see the
 * Makefile; with _FILE_OFFSET_BITS=64 glibc's mmap is mmap64) so that private anonymous writable mappings, which only the
 * pools make, are registered as root regions while they are mapped.
 * What a request lost is still unreferenced and reported; a pooled
 * object that Kore itself never gives back is not visible to
 * LeakSanitizer, so svc_leak_check() also reports HTTP requests still
 * allocated when a worker stops.
 */
#include <sys/types.h>
#include <sys/mman.h>

#include <pthread.h>

#include "lifecycle.h"
#include "svc.h"

#if defined(RC_SANITIZE)
#include <sanitizer/lsan_interface.h>

#define ROOTS_MAX	8192

extern u_int32_t	http_request_count;

void	*__real_mmap64(void *, size_t, int, int, int, off_t);
int	 __real_munmap(void *, size_t);
void	*__wrap_mmap64(void *, size_t, int, int, int, off_t);
int	 __wrap_munmap(void *, size_t);

/* The regions registered, so that only those are unregistered. */
static struct {
	void	*addr;
	size_t	 len;
} roots[ROOTS_MAX];
static size_t		nroots;
static pthread_mutex_t	roots_lock = PTHREAD_MUTEX_INITIALIZER;

void *
__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void	*p;

	p = __real_mmap64(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED || !(prot & PROT_WRITE) ||
	    (flags & (MAP_PRIVATE | MAP_ANONYMOUS)) !=
	    (MAP_PRIVATE | MAP_ANONYMOUS))
		return (p);
	(void)pthread_mutex_lock(&roots_lock);
	if (nroots < ROOTS_MAX) {
		roots[nroots].addr = p;
		roots[nroots].len = len;
		nroots++;
		__lsan_register_root_region(p, len);
	}
	(void)pthread_mutex_unlock(&roots_lock);

	return (p);
}

int
__wrap_munmap(void *addr, size_t len)
{
	size_t	i;

	(void)pthread_mutex_lock(&roots_lock);
	for (i = 0; i < nroots; i++) {
		if (roots[i].addr == addr && roots[i].len == len) {
			__lsan_unregister_root_region(addr, len);
			roots[i] = roots[--nroots];
			break;
		}
	}
	(void)pthread_mutex_unlock(&roots_lock);

	return (__real_munmap(addr, len));
}
#endif

void
svc_leak_check(int held_requests)
{
#if defined(RC_SANITIZE)
	/*
	 * Only in the leak-checked variant: a normal sanitizer run may be
	 * stopped with requests in flight.
	 */
	if (held_requests && http_request_count != 0)
		svc_log(SVC_LOG_ERROR, "leak check: %u HTTP requests still "
		    "allocated as the worker stops", http_request_count);
	__lsan_do_leak_check();
#else
	(void)held_requests;
#endif
}
