/*
 * migration: the order of the schema migrations (sql/NNN_name.sql) and
 * whether a list of versions is one 'rollcallctl migrate' may act on.
 * Pure: the caller reads the file names or the schema_migrations rows.
 *
 * The versions are 1, 3, 4, 5, ...: every positive number except the
 * retired ones.  2 is retired: it was never released (001 and 003 were),
 * and existing databases have recorded 1, 3 and 4, so its number stays
 * unused rather than have a later 002 run after 003 on them.
 *
 * The migration files must be exactly the first versions of that
 * sequence, and so must the versions a database has recorded.  That
 * refuses a gap (a missing file, or a recorded version with an
 * unrecorded one below it) and any application out of order (a new
 * file numbered below one a database already has), so the migrations
 * still to apply are always the files after the last recorded version.
 */
#ifndef RC_MIGRATION_H
#define RC_MIGRATION_H

#include <stddef.h>

/* 1 when v may number a migration (positive and not retired). */
int		 migration_version_ok(long long v);

/* The version that follows v (0: the first). */
long long	 migration_next(long long v);

/*
 * Checks that versions[0..n), in the order given, are exactly the first
 * n versions of the sequence.  0, or -1 with a sentence naming the
 * first version out of place in err (errlen bytes, always terminated).
 */
int		 migration_check_prefix(const long long *versions, size_t n,
		    char *err, size_t errlen);

#endif
