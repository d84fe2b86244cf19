/*
 * token_cache: a bounded cache of validated tokens (see token_cache.h).
 */
#include <stdlib.h>
#include <string.h>

#include "token_cache.h"

#define PROBE_WINDOW	8

struct slot {
	int				used;
	unsigned char			hash[TOKEN_CACHE_HASH_LEN];
	struct token_cache_entry	e;
};

struct token_cache {
	struct slot	*slots;
	size_t		 mask;
	size_t		 used;
	uint64_t	 hits;
	uint64_t	 misses;
	uint64_t	 evictions;
};

struct token_cache *
token_cache_new(size_t want)
{
	struct token_cache	*c;
	size_t			 n;

	n = PROBE_WINDOW;
	while (n < want && n < ((size_t)1 << 30))
		n <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	if ((c->slots = calloc(n, sizeof(*c->slots))) == NULL) {
		free(c);
		return (NULL);
	}
	c->mask = n - 1;
	return (c);
}

void
token_cache_free(struct token_cache *c)
{
	if (c == NULL)
		return;
	free(c->slots);
	free(c);
}

/* The hash is SHA-256 of a secret: its first bytes are already uniform. */
static size_t
home(const struct token_cache *c, const unsigned char *hash)
{
	size_t	h;

	memcpy(&h, hash, sizeof(h));
	return (h & c->mask);
}

static void
drop(struct token_cache *c, struct slot *s)
{
	memset(s, 0, sizeof(*s));
	c->used--;
}

int
token_cache_get(struct token_cache *c,
    const unsigned char hash[TOKEN_CACHE_HASH_LEN], int64_t now_s,
    uint64_t binding_gen, struct token_cache_entry *out)
{
	struct slot	*s;
	size_t		 i, at;

	at = home(c, hash);
	for (i = 0; i < PROBE_WINDOW; i++) {
		s = &c->slots[(at + i) & c->mask];
		if (!s->used || memcmp(s->hash, hash, sizeof(s->hash)) != 0)
			continue;
		if (now_s >= s->e.exp_s || s->e.binding_gen != binding_gen) {
			drop(c, s);
			break;
		}
		*out = s->e;
		c->hits++;
		return (1);
	}
	c->misses++;
	return (0);
}

void
token_cache_put(struct token_cache *c,
    const unsigned char hash[TOKEN_CACHE_HASH_LEN],
    const struct token_cache_entry *e)
{
	struct slot	*s, *victim;
	size_t		 i, at;

	at = home(c, hash);
	/* The same token again: refresh it where it is. */
	for (i = 0; i < PROBE_WINDOW; i++) {
		s = &c->slots[(at + i) & c->mask];
		if (s->used && memcmp(s->hash, hash, sizeof(s->hash)) == 0) {
			s->e = *e;
			return;
		}
	}
	/* Else a free slot, or the entry that expires first. */
	victim = NULL;
	for (i = 0; i < PROBE_WINDOW; i++) {
		s = &c->slots[(at + i) & c->mask];
		if (!s->used) {
			victim = s;
			break;
		}
		if (victim == NULL || s->e.exp_s < victim->e.exp_s)
			victim = s;
	}
	if (victim->used)
		c->evictions++;
	else
		c->used++;
	victim->used = 1;
	memcpy(victim->hash, hash, sizeof(victim->hash));
	victim->e = *e;
}

void
token_cache_stats(const struct token_cache *c, struct token_cache_stats *st)
{
	st->used = c->used;
	st->slots = c->mask + 1;
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
}
