/*
 * changering: an append-only ring of variable-length records in memory
 * shared by all worker processes (MAP_SHARED, mapped by the parent).
 *
 * A worker that commits a policy change appends its change records here
 * before it answers its client; every worker applies what it has not yet
 * applied before it answers a decision.  That is what makes a disable
 * acknowledged by one worker a deny on every worker at once.
 *
 * Writers take a spinlock (appends are short memcpy's); readers never
 * lock.  Each reader keeps its own position.  The ring never waits for
 * readers: a reader that falls more than the capacity behind is told it
 * overran, and must rebuild its state from the database.
 */
#ifndef RC_CHANGERING_H
#define RC_CHANGERING_H

#include <stddef.h>
#include <stdint.h>

struct changering;

enum changering_read {
	CHANGERING_OK,		/* *len bytes copied into buf */
	CHANGERING_EMPTY,	/* nothing new */
	CHANGERING_OVERRUN,	/* the reader fell too far behind */
	CHANGERING_TOOBIG,	/* buf too small: *len says how much is needed */
};

/* Bytes of shared memory for a ring of capacity bytes (power of two). */
size_t			 changering_size(size_t capacity);

/* Formats mem (changering_size() bytes); NULL if capacity is bad. */
struct changering	*changering_init(void *mem, size_t capacity);

/*
 * Appends one record of len bytes (at most a quarter of the capacity).
 * Returns its position's successor (the reader position just after it),
 * or 0 if the record is too large.
 */
uint64_t		 changering_append(struct changering *,
			    const void *data, size_t len);

/*
 * Moves the head more than the capacity ahead, so every reader overruns
 * (and rebuilds its state): for a change that cannot be carried here.
 */
void			 changering_invalidate(struct changering *);

/* The position after the newest record (where a new reader starts). */
uint64_t		 changering_head(const struct changering *);

/*
 * Copies the record at *pos into buf (size bytes) and advances *pos.
 * See enum changering_read.
 */
enum changering_read	 changering_read(const struct changering *,
			    uint64_t *pos, void *buf, size_t size, size_t *len);

#endif
