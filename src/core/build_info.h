/*
 * build_info: the version and git commit baked in at build time (the
 * Makefile generates their definitions).  Printed by --version and
 * exported as rollcall_build_info; the commit is "unknown" when the
 * tree was built outside git.
 */
#ifndef RC_BUILD_INFO_H
#define RC_BUILD_INFO_H

extern const char	rc_build_version[];
extern const char	rc_build_commit[];

#endif
