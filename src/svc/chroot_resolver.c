/*
 * chroot_resolver.c: see chroot_resolver.h.
 *
 * The problem: Kore chroots every worker into 'root' (in production an
 * empty directory), and glibc's resolver reads /etc/nsswitch.conf,
 * /etc/resolv.conf and /etc/hosts by path when a lookup runs.  In the
 * empty chroot they are missing, so the Entra key fetch could not
 * resolve login.microsoftonline.com and every token was refused.
 *
 * Why the parent copies three files into the chroot:
 * - Warming the resolver in the worker before it chroots is not
 *   enough: /etc/hosts is opened afresh by every lookup, and
 *   resolv.conf is re-read when it changes.
 * - The parent resolving for the worker (a message round trip per
 *   fetch) would put a blocking lookup into the process that watches
 *   and restarts the workers, and a DNS client of our own would be a
 *   resolver to maintain.
 * - glibc 2.34 and later (Debian 12 has 2.36) build the 'files' and
 *   'dns' NSS services into libc, so these three small text files are
 *   all the chroot needs: no shared library, no device node.  What the
 *   worker can read is what any process on the host can read.
 *
 * hosts and resolv.conf are copies, refreshed at every start (a
 * container's resolv.conf is the runtime's).  nsswitch.conf is ours,
 * "hosts: files dns": the host's may name modules (mdns, systemd,
 * myhostname) that exist only as libraries outside the chroot.
 *
 * Read-only roots: a file already identical is left as it is, so an
 * operator may provide them (bind mounts).  If one cannot be written,
 * a warning names it and start goes on (fail closed: lookups fail,
 * the fetch fails and is counted, the last good key set stays).
 * Files are written to a temporary name and renamed, so a worker
 * never reads half a file.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chroot_resolver.h"
#include "svc.h"

#define RESOLVER_FILE_MAX	(1024 * 1024)

static const char	nsswitch[] =
    "# Written by rollcall at start: the resolver of the chrooted\n"
    "# workers.  glibc's built-in services only.\n"
    "hosts: files dns\n";

/*
 * Reads path whole (at most RESOLVER_FILE_MAX).  0 with *buf (caller
 * frees) and *len; 1 when it does not exist; -1 on another error.
 */
static int
read_whole(const char *path, char **buf, size_t *len)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 got;
	int		 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (errno == ENOENT ? 1 : -1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > RESOLVER_FILE_MAX) {
		(void)close(fd);
		return (-1);
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		(void)close(fd);
		return (-1);
	}
	got = 0;
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	(void)close(fd);
	*len = got;
	return (0);
}

/* Writes data to dir/name (temporary file, then rename).  0 or -1. */
static int
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char		 tmp[PATH_MAX], dst[PATH_MAX], *old;
	size_t		 oldlen, off;
	ssize_t		 n;
	int		 fd, same, saved;

	if (snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
	    (int)sizeof(dst) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (read_whole(dst, &old, &oldlen) == 0) {
		same = oldlen == len && memcmp(old, data, len) == 0;
		free(old);
		if (same)
			return (0);
	}
	if ((fd = mkstemp(tmp)) == -1)
		return (-1);
	for (off = 0; off < len; off += (size_t)n) {
		if ((n = write(fd, data + off, len - off)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			break;
		}
	}
	if (off < len || fchmod(fd, 0444) == -1) {
		saved = errno;
		(void)close(fd);
		(void)unlink(tmp);
		errno = saved;
		return (-1);
	}
	if (close(fd) == -1 || rename(tmp, dst) == -1) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return (-1);
	}
	return (0);
}

/* Copies the host's /etc/name into dir; a missing source is removed. */
static int
copy_file(const char *dir, const char *name)
{
	char	 src[64], dst[PATH_MAX], *buf;
	size_t	 len;
	int	 rc;

	(void)snprintf(src, sizeof(src), "/etc/%s", name);
	switch (read_whole(src, &buf, &len)) {
	case 0:
		rc = write_file(dir, name, buf, len);
		free(buf);
		return (rc);
	case 1:
		/* None on the host: glibc's defaults apply in both. */
		if (snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
		    (int)sizeof(dst))
			return (-1);
		if (unlink(dst) == -1 && errno != ENOENT)
			return (-1);
		return (0);
	default:
		return (-1);
	}
}

void
chroot_resolver_prepare(void)
{
	struct stat	 host, st;
	char		 dir[PATH_MAX];
	const char	*failed;
	int		 saved;

	if (skip_chroot || kore_root_path == NULL)
		return;
	if (snprintf(dir, sizeof(dir), "%s/etc", kore_root_path) >=
	    (int)sizeof(dir)) {
		svc_log(SVC_LOG_WARN, "chroot: root path too long: the "
		    "workers cannot resolve host names");
		return;
	}
	if (mkdir(dir, 0555) == -1 && errno != EEXIST) {
		svc_log(SVC_LOG_WARN, "chroot: cannot create %s (%s): the "
		    "workers cannot resolve host names (Entra key fetches "
		    "will fail; README, \"Entra access tokens\")", dir,
		    strerror(errno));
		return;
	}
	/* A chroot of "/" (or a bind of the host's /etc) is the host's. */
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		svc_log(SVC_LOG_WARN, "chroot: %s is not a directory: the "
		    "workers cannot resolve host names", dir);
		return;
	}
	if (stat("/etc", &host) == 0 && host.st_dev == st.st_dev &&
	    host.st_ino == st.st_ino)
		return;

	failed = NULL;
	if (copy_file(dir, "hosts") == -1)
		failed = "hosts";
	else if (copy_file(dir, "resolv.conf") == -1)
		failed = "resolv.conf";
	else if (write_file(dir, "nsswitch.conf", nsswitch,
	    sizeof(nsswitch) - 1) == -1)
		failed = "nsswitch.conf";
	if (failed != NULL) {
		saved = errno;
		svc_log(SVC_LOG_WARN, "chroot: cannot write %s/%s (%s): the "
		    "workers may not resolve host names (Entra key fetches "
		    "fail closed; README, \"Entra access tokens\")", dir,
		    failed, strerror(saved));
	}
}
