/*
 * digest: an order-independent digest of the principals a policy index
 * holds, per directory, that PostgreSQL can compute the same way in one
 * query (src/store/digest_store.c), so anti-entropy can compare them.
 *
 * Each loaded principal becomes one canonical string (see
 * digest_principal_text), hashed with MD5; a directory's digest is the
 * XOR of the first 8 bytes (big-endian) of its principals' hashes plus
 * their count.  XOR makes the order of rows and of hash table slots
 * irrelevant; the ids inside every string keep two principals from
 * cancelling out.  It covers what makes a decision about a principal:
 * id, directory, kind, active, deleted, kill switch, subject epoch,
 * aliases (userName, externalId, emails by their identity keys,
 * appId), owner, and memberships of loaded groups.
 *
 * MD5 is used as a checksum here, not for security: an attacker who can
 * write rows can change decisions anyway.
 */
#ifndef RC_DIGEST_H
#define RC_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "policy.h"

struct digest_dir {
	uint64_t	count;
	uint64_t	hash;
	char		dir[];		/* directory id, as in the index */
};

struct digest {
	struct hashmap	dirs;		/* dir -> struct digest_dir (owned) */
};

void	digest_init(struct digest *);
void	digest_cleanup(struct digest *);

/* Adds one principal's hash to its directory.  0, or -1 on no memory. */
int	digest_add(struct digest *, const char *dir, uint64_t hash);

/* Sets a directory's totals (e.g. from the database).  0 or -1. */
int	digest_set(struct digest *, const char *dir, uint64_t count,
	    uint64_t hash);

/* Drops a directory's totals (absent is fine). */
void	digest_forget(struct digest *, const char *dir);

/* A directory's totals, or NULL when it has no principals. */
const struct digest_dir	*digest_get(const struct digest *, const char *dir);

/*
 * The canonical text of one principal, NUL-terminated, into a malloc'd
 * buffer the caller frees; NULL on no memory.  Strings are written as
 * <byte length>:<bytes>, absent ones as "-", lists sorted bytewise.
 */
char	*digest_principal_text(const struct policy_principal_view *);

/* First 8 bytes (big-endian) of the MD5 of text. */
uint64_t digest_hash_text(const char *text);

/*
 * A check may cover one slice of the principals: bucket b of
 * DIGEST_BUCKETS holds the ids whose first character is the hex digit b
 * (ids are lowercase UUIDs; in the database, the uuid range
 * [b000..., (b+1)000...)).  DIGEST_ALL covers everyone.
 */
#define DIGEST_BUCKETS	16
#define DIGEST_ALL	(-1)

/* The bucket of an id (0-15), or -1 when it does not start with a hex
 * digit (such ids are only covered by DIGEST_ALL). */
int	digest_bucket(const char *id);

/* Digests idx's loaded principals of bucket into d.  0, or -1 (no
 * memory). */
int	digest_index(struct policy_index *, int bucket, struct digest *);

/*
 * Directories whose totals differ between a and b (either side may
 * lack a directory), passed to cb one by one.  Returns how many.
 */
size_t	digest_compare(const struct digest *a, const struct digest *b,
	    void (*cb)(void *arg, const char *dir), void *arg);

#endif
