/*
 * tokentab: the bearer-token table every worker authenticates from,
 * in memory shared by all worker processes (MAP_SHARED, mapped by the
 * parent before it forks).  Authentication must not cost a database
 * round trip, and a token revoked through one worker must be refused
 * by every worker from the moment the revoking request is answered:
 * writers change the shared table before they respond.
 *
 * Concurrency: one writer at a time (a spinlock in the table), readers
 * never block writers and retry when a sequence counter shows they
 * raced with a write (a seqlock).  The table holds no pointers, so it
 * means the same in every process.
 */
#ifndef RC_TOKENTAB_H
#define RC_TOKENTAB_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct tokentab;

struct tokentab_entry {
	unsigned char	hash[TOKEN_HASH_LEN];
	char		id[37];
	char		name[129];
	char		directory[64];		/* "" for global tokens */
	int64_t		directory_id;		/* 0 for global tokens */
	uint32_t	scopes;
	uint64_t	expires_ms;		/* 0: never */
	uint64_t	revoked_ms;		/* 0: not revoked */
};

enum tokentab_verdict {
	TOKENTAB_OK,
	TOKENTAB_UNKNOWN,
	TOKENTAB_EXPIRED,
	TOKENTAB_REVOKED,
};

/* Bytes of memory a table of 'slots' entries needs (slots: power of two). */
size_t			 tokentab_size(uint32_t slots);

/* Formats mem (tokentab_size() bytes, zeroed); the caller keeps ownership. */
struct tokentab		*tokentab_init(void *mem, uint32_t slots);

/*
 * Replaces the whole table with n entries (a reload from the database),
 * keeping the last-use times of tokens that stay.  A revocation already
 * in the table is kept even if the entries (read earlier) lack it.
 * When expect_gen is not TOKENTAB_ANY_GEN and the table changed since
 * that generation (a token was added or revoked while the caller read
 * the database), nothing is replaced and -2 is returned: read again.
 * -1 when n does not fit (at most half the slots may be used).
 */
#define TOKENTAB_ANY_GEN	UINT64_MAX
int			 tokentab_replace_all(struct tokentab *,
			    const struct tokentab_entry *entries, size_t n,
			    uint64_t expect_gen);

/* Adds or replaces one entry (same hash); -1 when full. */
int			 tokentab_put(struct tokentab *,
			    const struct tokentab_entry *);

/* Marks the token with this id revoked at ms; 0 if found, -1 if not. */
int			 tokentab_revoke(struct tokentab *, const char *id,
			    uint64_t ms);

/*
 * Looks the hash up at time now.  On TOKENTAB_OK, *out receives a copy
 * of the entry and its last use is set to now.  The comparison of the
 * stored hash is constant time.
 */
enum tokentab_verdict	 tokentab_check(struct tokentab *,
			    const unsigned char hash[TOKEN_HASH_LEN],
			    uint64_t now, struct tokentab_entry *out);

/* Number of tokens in the table. */
uint32_t		 tokentab_count(struct tokentab *);

/* Increments on every write: lets a reader notice any change. */
uint64_t		 tokentab_generation(struct tokentab *);

/*
 * Calls fn for each token used since it was last reported, with its
 * id and last-use time, and marks it reported.  For persisting
 * the stored last-use time in batches instead of on every request.
 */
void			 tokentab_collect_used(struct tokentab *,
			    void (*fn)(const char *id, uint64_t ms, void *),
			    void *arg);

/*
 * Calls fn with a copy of each token that expires (expires_ms != 0) and
 * is not revoked, under the writers' lock: fn must be quick and must not
 * call back into the table.  For metrics and expiry warnings.
 */
void			 tokentab_foreach_expiring(struct tokentab *,
			    void (*fn)(const struct tokentab_entry *, void *),
			    void *arg);

#endif
