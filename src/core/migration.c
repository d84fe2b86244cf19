/*
 * migration: the sequence of schema versions (see migration.h).
 */
#include <stdio.h>

#include "migration.h"

/* Numbers no migration may take; see migration.h for why. */
static const long long	retired[] = { 2 };

int
migration_version_ok(long long v)
{
	size_t	i;

	if (v <= 0)
		return (0);
	for (i = 0; i < sizeof(retired) / sizeof(retired[0]); i++) {
		if (retired[i] == v)
			return (0);
	}
	return (1);
}

long long
migration_next(long long v)
{
	do
		v++;
	while (!migration_version_ok(v));
	return (v);
}

int
migration_check_prefix(const long long *versions, size_t n, char *err,
    size_t errlen)
{
	long long	expect, prev;
	size_t		i;

	if (errlen > 0)
		err[0] = '\0';
	prev = 0;
	for (i = 0; i < n; i++) {
		expect = migration_next(prev);
		if (versions[i] == expect) {
			prev = expect;
			continue;
		}
		if (versions[i] <= 0)
			(void)snprintf(err, errlen, "%lld is no version",
			    versions[i]);
		else if (!migration_version_ok(versions[i]))
			(void)snprintf(err, errlen, "version %lld is retired "
			    "and may not be used", versions[i]);
		else if (versions[i] == prev)
			(void)snprintf(err, errlen, "version %lld appears "
			    "twice", versions[i]);
		else if (versions[i] < prev)
			(void)snprintf(err, errlen, "version %lld comes after "
			    "%lld: out of order", versions[i], prev);
		else if (prev == 0)
			(void)snprintf(err, errlen, "version %lld is the first:"
			    " %lld is missing", versions[i], expect);
		else
			(void)snprintf(err, errlen, "version %lld follows "
			    "%lld: %lld is missing", versions[i], prev, expect);
		return (-1);
	}
	return (0);
}
