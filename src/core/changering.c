/*
 * changering: see changering.h.
 *
 * Positions are absolute byte offsets (64-bit, never wrap in practice);
 * the slot of position p is p & mask.  A record is an 8-byte header
 * (length) followed by its bytes, padded to 8.  The head is published
 * with release semantics after the bytes are written, so a reader that
 * sees a head also sees the records before it.  A reader detects that a
 * writer may have overwritten what it was reading by checking, after the
 * copy, that the head has not moved more than the capacity past the
 * record's start.
 */
#include <string.h>

#include "changering.h"

struct changering {
	uint64_t	capacity;
	uint64_t	mask;
	uint32_t	lock;
	uint32_t	pad;
	uint64_t	head;		/* published end of the newest record */
	unsigned char	data[];
};

#define REC_HDR		8
#define PAD8(n)		(((n) + 7) & ~(uint64_t)7)

static void	ring_copy_in(struct changering *, uint64_t, const void *,
		    size_t);
static void	ring_copy_out(const struct changering *, uint64_t, void *,
		    size_t);

size_t
changering_size(size_t capacity)
{
	return (sizeof(struct changering) + capacity);
}

struct changering *
changering_init(void *mem, size_t capacity)
{
	struct changering	*r;

	if (capacity < 4096 || (capacity & (capacity - 1)) != 0)
		return (NULL);
	r = mem;
	memset(r, 0, sizeof(*r));
	r->capacity = capacity;
	r->mask = capacity - 1;

	return (r);
}

static void
ring_copy_in(struct changering *r, uint64_t pos, const void *src, size_t len)
{
	uint64_t	off, first;

	off = pos & r->mask;
	first = r->capacity - off;
	if (first >= len) {
		memcpy(r->data + off, src, len);
	} else {
		memcpy(r->data + off, src, first);
		memcpy(r->data, (const unsigned char *)src + first,
		    len - first);
	}
}

static void
ring_copy_out(const struct changering *r, uint64_t pos, void *dst, size_t len)
{
	uint64_t	off, first;

	off = pos & r->mask;
	first = r->capacity - off;
	if (first >= len) {
		memcpy(dst, r->data + off, len);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((unsigned char *)dst + first, r->data, len - first);
	}
}

uint64_t
changering_append(struct changering *r, const void *data, size_t len)
{
	uint64_t	hdr, pos, end;

	if (len == 0 || len > r->capacity / 4)
		return (0);

	while (__atomic_exchange_n(&r->lock, 1, __ATOMIC_ACQUIRE) != 0) {
		while (__atomic_load_n(&r->lock, __ATOMIC_RELAXED) != 0)
			__builtin_ia32_pause();
	}
	pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	hdr = len;
	ring_copy_in(r, pos, &hdr, sizeof(hdr));
	ring_copy_in(r, pos + REC_HDR, data, len);
	end = pos + REC_HDR + PAD8(len);
	__atomic_store_n(&r->head, end, __ATOMIC_RELEASE);
	__atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE);

	return (end);
}

void
changering_invalidate(struct changering *r)
{
	while (__atomic_exchange_n(&r->lock, 1, __ATOMIC_ACQUIRE) != 0) {
		while (__atomic_load_n(&r->lock, __ATOMIC_RELAXED) != 0)
			__builtin_ia32_pause();
	}
	__atomic_store_n(&r->head, r->head + r->capacity + 8,
	    __ATOMIC_RELEASE);
	__atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE);
}

uint64_t
changering_head(const struct changering *r)
{
	return (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE));
}

enum changering_read
changering_read(const struct changering *r, uint64_t *pos, void *buf,
    size_t size, size_t *len)
{
	uint64_t	head, hdr;

	head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (*pos == head)
		return (CHANGERING_EMPTY);
	if (*pos > head || head - *pos > r->capacity)
		return (CHANGERING_OVERRUN);

	ring_copy_out(r, *pos, &hdr, sizeof(hdr));
	if (hdr == 0 || hdr > r->capacity / 4 ||
	    *pos + REC_HDR + PAD8(hdr) > head)
		return (CHANGERING_OVERRUN);
	if (hdr > size) {
		*len = (size_t)hdr;
		return (CHANGERING_TOOBIG);
	}
	ring_copy_out(r, *pos + REC_HDR, buf, (size_t)hdr);

	/* Did a writer lap us while we copied? */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	if (head - *pos > r->capacity)
		return (CHANGERING_OVERRUN);

	*len = (size_t)hdr;
	*pos += REC_HDR + PAD8(hdr);

	return (CHANGERING_OK);
}
