/*
 * token_cache: validated access tokens, by SHA-256 of the token, so a
 * token seen before costs a hash and a lookup instead of a signature
 * check.  One cache per worker (single-threaded, no locking), bounded
 * by a fixed number of slots chosen at creation: it never grows.
 *
 * It holds a token's validity and the claims rollcall joins on, never a
 * decision: the caller still asks the policy index with the cached oid,
 * so a SCIM disable wins over the cache at once.  An entry is a miss
 * from its token's exp on, and whatever the binding it was validated
 * under (binding_gen) no longer holds.
 *
 * Placement: open addressing over a small probe window; when the window
 * is full, the entry that expires first is replaced.  Expired entries
 * are dropped when met.
 */
#ifndef RC_TOKEN_CACHE_H
#define RC_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_CACHE_HASH_LEN	32
#define TOKEN_CACHE_ID_MAX	64

struct token_cache_entry {
	uint64_t	binding_gen;	/* the binding it was checked under */
	int64_t		exp_s;		/* the token's exp */
	char		directory[TOKEN_CACHE_ID_MAX];
	char		oid[TOKEN_CACHE_ID_MAX];
	char		app_id[TOKEN_CACHE_ID_MAX];
	int		app_only;
	int		version;
};

struct token_cache;

/* A cache of at least slots entries (rounded up to a power of 2). */
struct token_cache	*token_cache_new(size_t slots);
void			 token_cache_free(struct token_cache *);

/*
 * Looks up hash at now_s under binding_gen.  1 and out filled on a hit;
 * 0 on a miss (absent, expired or validated under another binding).
 */
int	token_cache_get(struct token_cache *,
	    const unsigned char hash[TOKEN_CACHE_HASH_LEN], int64_t now_s,
	    uint64_t binding_gen, struct token_cache_entry *out);

/* Stores e (copied) for hash; replaces what was there for it. */
void	token_cache_put(struct token_cache *,
	    const unsigned char hash[TOKEN_CACHE_HASH_LEN],
	    const struct token_cache_entry *e);

/* Counts for metrics: live slots, hits, misses, evictions. */
struct token_cache_stats {
	size_t		used;
	size_t		slots;
	uint64_t	hits;
	uint64_t	misses;
	uint64_t	evictions;
};
void	token_cache_stats(const struct token_cache *,
	    struct token_cache_stats *);

#endif
