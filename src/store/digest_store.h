/*
 * digest_store: PostgreSQL's side of anti-entropy: the per-directory
 * digest of principals that src/core/digest.h computes from an index,
 * here computed by one query over the tables the index is loaded from.
 */
#ifndef RC_DIGEST_STORE_H
#define RC_DIGEST_STORE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "digest.h"
#include "store.h"

/*
 * Fills d (initialised by the caller) with every directory's digest of
 * the principals in bucket (0 to DIGEST_BUCKETS - 1, or DIGEST_ALL),
 * and *version with the policy version they were taken at, both from
 * one snapshot.  0, or -1 with err.
 */
int	digest_store_compute(PGconn *, int bucket, uint64_t *version,
	    struct digest *d, struct store_err *err);

#endif
