/*
 * tokentab: see tokentab.h.  Open addressing on the first bytes of the
 * SHA-256 (already uniformly distributed), linear probing.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokentab.h"
#include "util.h"

struct tokentab_slot {
	struct tokentab_entry	entry;
	uint8_t			used;
	uint64_t		last_used_ms;	/* atomic, outside the seqlock */
	uint64_t		reported_ms;
};

struct tokentab {
	uint32_t		mask;
	uint32_t		count;
	uint32_t		lock;
	uint64_t		seq;		/* odd while a write is in progress */
	struct tokentab_slot	slots[];
};

static void	tab_lock(struct tokentab *);
static void	tab_unlock(struct tokentab *);
static void	write_begin(struct tokentab *);
static void	write_end(struct tokentab *);
static int	find_slot(const struct tokentab *, const unsigned char *,
		    uint32_t *);
static uint32_t	hash_start(const unsigned char *);

size_t
tokentab_size(uint32_t slots)
{
	return (sizeof(struct tokentab) +
	    (size_t)slots * sizeof(struct tokentab_slot));
}

struct tokentab *
tokentab_init(void *mem, uint32_t slots)
{
	struct tokentab	*tt;

	if (slots < 2 || (slots & (slots - 1)) != 0)
		return (NULL);
	tt = mem;
	memset(tt, 0, tokentab_size(slots));
	tt->mask = slots - 1;

	return (tt);
}

static void
tab_lock(struct tokentab *tt)
{
	while (__atomic_exchange_n(&tt->lock, 1, __ATOMIC_ACQUIRE) != 0) {
		while (__atomic_load_n(&tt->lock, __ATOMIC_RELAXED) != 0)
			__builtin_ia32_pause();
	}
}

static void
tab_unlock(struct tokentab *tt)
{
	__atomic_store_n(&tt->lock, 0, __ATOMIC_RELEASE);
}

static void
write_begin(struct tokentab *tt)
{
	__atomic_add_fetch(&tt->seq, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
write_end(struct tokentab *tt)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_add_fetch(&tt->seq, 1, __ATOMIC_RELAXED);
}

static uint32_t
hash_start(const unsigned char *h)
{
	return ((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	    (uint32_t)h[3] << 24);
}

/* Slot holding hash (1), or the free slot where it would go (0). */
static int
find_slot(const struct tokentab *tt, const unsigned char *hash, uint32_t *out)
{
	uint32_t	i, n;

	for (n = 0, i = hash_start(hash) & tt->mask; n <= tt->mask;
	    n++, i = (i + 1) & tt->mask) {
		if (!tt->slots[i].used) {
			*out = i;
			return (0);
		}
		if (CRYPTO_memcmp(tt->slots[i].entry.hash, hash,
		    TOKEN_HASH_LEN) == 0) {
			*out = i;
			return (1);
		}
	}
	*out = UINT32_MAX;

	return (0);
}

int
tokentab_replace_all(struct tokentab *tt, const struct tokentab_entry *entries,
    size_t n, uint64_t expect_gen)
{
	struct tokentab_slot	*copy;
	size_t			 i, nslots, bytes;
	uint32_t		 s, old;

	nslots = (size_t)tt->mask + 1;
	if (n > nslots / 2)
		return (-1);

	/* Build the new table aside, so readers wait only for a memcpy. */
	bytes = nslots * sizeof(struct tokentab_slot);
	if ((copy = calloc(nslots, sizeof(struct tokentab_slot))) == NULL)
		return (-1);

	tab_lock(tt);
	if (expect_gen != TOKENTAB_ANY_GEN &&
	    __atomic_load_n(&tt->seq, __ATOMIC_RELAXED) / 2 != expect_gen) {
		tab_unlock(tt);
		free(copy);
		return (-2);
	}
	for (i = 0; i < n; i++) {
		for (s = hash_start(entries[i].hash) & tt->mask;
		    copy[s].used; s = (s + 1) & tt->mask) {
			if (memcmp(copy[s].entry.hash, entries[i].hash,
			    TOKEN_HASH_LEN) == 0)
				break;
		}
		copy[s].entry = entries[i];
		copy[s].used = 1;
		if (find_slot(tt, entries[i].hash, &old) == 1) {
			copy[s].last_used_ms = __atomic_load_n(
			    &tt->slots[old].last_used_ms, __ATOMIC_RELAXED);
			copy[s].reported_ms = tt->slots[old].reported_ms;
			/* A revocation is never undone. */
			if (copy[s].entry.revoked_ms == 0)
				copy[s].entry.revoked_ms =
				    tt->slots[old].entry.revoked_ms;
		}
	}
	write_begin(tt);
	memcpy(tt->slots, copy, bytes);
	tt->count = (uint32_t)n;
	write_end(tt);
	tab_unlock(tt);
	free(copy);

	return (0);
}

int
tokentab_put(struct tokentab *tt, const struct tokentab_entry *e)
{
	uint32_t	s;
	int		found;

	tab_lock(tt);
	found = find_slot(tt, e->hash, &s);
	if (!found && (s == UINT32_MAX || tt->count >= (tt->mask + 1) / 2)) {
		tab_unlock(tt);
		return (-1);
	}
	write_begin(tt);
	tt->slots[s].entry = *e;
	if (!found) {
		tt->slots[s].used = 1;
		tt->slots[s].last_used_ms = 0;
		tt->slots[s].reported_ms = 0;
		tt->count++;
	}
	write_end(tt);
	tab_unlock(tt);

	return (0);
}

int
tokentab_revoke(struct tokentab *tt, const char *id, uint64_t ms)
{
	uint32_t	i;
	int		rc;

	rc = -1;
	tab_lock(tt);
	for (i = 0; i <= tt->mask; i++) {
		if (tt->slots[i].used && strcmp(tt->slots[i].entry.id, id) == 0) {
			write_begin(tt);
			tt->slots[i].entry.revoked_ms = ms;
			write_end(tt);
			rc = 0;
		}
	}
	tab_unlock(tt);

	return (rc);
}

enum tokentab_verdict
tokentab_check(struct tokentab *tt, const unsigned char hash[TOKEN_HASH_LEN],
    uint64_t now, struct tokentab_entry *out)
{
	uint64_t	seq;
	uint32_t	s;
	int		found;

	for (;;) {
		seq = __atomic_load_n(&tt->seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			__builtin_ia32_pause();
			continue;
		}
		found = find_slot(tt, hash, &s);
		if (found)
			*out = tt->slots[s].entry;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&tt->seq, __ATOMIC_RELAXED) == seq)
			break;
	}

	if (!found)
		return (TOKENTAB_UNKNOWN);
	if (out->revoked_ms != 0 && out->revoked_ms <= now)
		return (TOKENTAB_REVOKED);
	if (out->expires_ms != 0 && out->expires_ms <= now)
		return (TOKENTAB_EXPIRED);
	__atomic_store_n(&tt->slots[s].last_used_ms, now, __ATOMIC_RELAXED);

	return (TOKENTAB_OK);
}

uint32_t
tokentab_count(struct tokentab *tt)
{
	return (__atomic_load_n(&tt->count, __ATOMIC_RELAXED));
}

uint64_t
tokentab_generation(struct tokentab *tt)
{
	return (__atomic_load_n(&tt->seq, __ATOMIC_ACQUIRE) / 2);
}

void
tokentab_collect_used(struct tokentab *tt,
    void (*fn)(const char *, uint64_t, void *), void *arg)
{
	struct tokentab_slot	*slot;
	uint64_t		 used;
	uint32_t		 i;
	char			 id[37];

	tab_lock(tt);
	for (i = 0; i <= tt->mask; i++) {
		slot = &tt->slots[i];
		if (!slot->used)
			continue;
		used = __atomic_load_n(&slot->last_used_ms, __ATOMIC_RELAXED);
		if (used <= slot->reported_ms)
			continue;
		slot->reported_ms = used;
		rc_strlcpy(id, slot->entry.id, sizeof(id));
		fn(id, used, arg);
	}
	tab_unlock(tt);
}

void
tokentab_foreach_expiring(struct tokentab *tt,
    void (*fn)(const struct tokentab_entry *, void *), void *arg)
{
	struct tokentab_entry	 copy;
	uint32_t		 i;

	tab_lock(tt);
	for (i = 0; i <= tt->mask; i++) {
		if (!tt->slots[i].used || tt->slots[i].entry.expires_ms == 0 ||
		    tt->slots[i].entry.revoked_ms != 0)
			continue;
		copy = tt->slots[i].entry;
		fn(&copy, arg);
	}
	tab_unlock(tt);
}
