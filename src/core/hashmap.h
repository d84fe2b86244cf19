/*
 * hashmap: a string-keyed hash table for in-memory indexes.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * lookups never walk over tombstones and a table that churns (membership
 * and rule updates) keeps its probe lengths short.  The table borrows its
 * keys: a key is usually a string inside the value it maps to, which
 * saves one allocation and one copy per entry in tables of millions.
 * Not thread-safe; each user owns its table.
 */

#ifndef RC_HASHMAP_H
#define RC_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap_slot {
	uint64_t		 hash;
	const char		*key;		/* NULL: empty slot */
	void			*val;
};

struct hashmap {
	struct hashmap_slot	*slots;
	size_t			 cap;		/* 0 or a power of two */
	size_t			 count;
};

/* Hash of a NUL-terminated string (stable within one process run). */
uint64_t	hashmap_hash(const char *key);

/* Make an empty table; allocates nothing until the first insert. */
void		hashmap_init(struct hashmap *map);

/* Free the slot array; keys and values are the caller's to free first. */
void		hashmap_cleanup(struct hashmap *map);

/* Grow so that n entries fit without rehashing.  0, or -1 (no memory). */
int		hashmap_reserve(struct hashmap *map, size_t n);

/* The value stored under key, or NULL. */
void		*hashmap_get(const struct hashmap *map, const char *key);

/*
 * Insert or replace.  key is borrowed and must stay valid (and unchanged)
 * while it is in the table; on replace the new key pointer is kept.
 * Returns 0, or -1 when memory runs out (the table is unchanged).
 */
int		hashmap_put(struct hashmap *map, const char *key, void *val);

/* Remove key; returns the value it had, or NULL when it was absent. */
void		*hashmap_del(struct hashmap *map, const char *key);

/*
 * Iterate: start with *iter = 0; returns 1 and fills key/val (either may
 * be NULL) per entry, 0 at the end.  The table must not change meanwhile.
 */
int		hashmap_next(const struct hashmap *map, size_t *iter,
		    const char **key, void **val);

#endif
