/*
 * chroot_resolver.h: gives the workers' chroot the files glibc's
 * resolver reads, so that a chrooted worker can resolve host names
 * (the Entra key fetch: entra_fetch.c).  Why this way, and not the
 * parent resolving for the workers: chroot_resolver.c.
 */
#ifndef RC_CHROOT_RESOLVER_H
#define RC_CHROOT_RESOLVER_H

/*
 * Called once by the parent, as root, before any worker is forked.
 * With a chroot (Kore 'root', not skipped with -n), writes
 * <root>/etc/hosts and <root>/etc/resolv.conf (copies of the host's,
 * refreshed at every start) and <root>/etc/nsswitch.conf ("hosts:
 * files dns"); root-owned, mode 0444.  Never fatal: a file it cannot
 * write is logged once (a warning) and start goes on; names then fail
 * to resolve in the workers and the key fetch fails closed.  Without a
 * chroot, or when <root>/etc is the host's /etc, does nothing.
 */
void	chroot_resolver_prepare(void);

#endif
