/*
 * hashmap: open-addressing string-keyed table (see hashmap.h).
 *
 * The hash reads eight bytes at a time: the keys we index are mostly
 * 36-character UUIDs, and a byte-at-a-time hash would dominate the cost
 * of a policy decision.  The load factor is kept under 3/4; deletion
 * shifts the following run back so no tombstones accumulate.
 */

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

#define HASHMAP_MIN_CAP		16

static uint64_t	hashmap_mix(uint64_t);
static int	hashmap_resize(struct hashmap *, size_t);

static uint64_t
hashmap_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (x);
}

uint64_t
hashmap_hash(const char *key)
{
	uint64_t	 h, w;
	size_t		 len, i;

	len = strlen(key);
	h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)len * 0x2545f4914f6cdd1dULL);
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, key + i, 8);
		h = (h ^ hashmap_mix(w)) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, key + i, len - i);
		h = (h ^ hashmap_mix(w)) * 0x9e3779b97f4a7c15ULL;
	}
	return (hashmap_mix(h));
}

void
hashmap_init(struct hashmap *map)
{
	map->slots = NULL;
	map->cap = 0;
	map->count = 0;
}

void
hashmap_cleanup(struct hashmap *map)
{
	free(map->slots);
	hashmap_init(map);
}

static int
hashmap_resize(struct hashmap *map, size_t cap)
{
	struct hashmap_slot	*old, *slots;
	size_t			 oldcap, i, j;

	if (cap > SIZE_MAX / sizeof(*slots))
		return (-1);
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return (-1);
	old = map->slots;
	oldcap = map->cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		j = old[i].hash & (cap - 1);
		while (slots[j].key != NULL)
			j = (j + 1) & (cap - 1);
		slots[j] = old[i];
	}
	free(old);
	map->slots = slots;
	map->cap = cap;
	return (0);
}

int
hashmap_reserve(struct hashmap *map, size_t n)
{
	size_t		cap;

	cap = map->cap ? map->cap : HASHMAP_MIN_CAP;
	while (n >= cap - cap / 4) {
		if (cap > SIZE_MAX / 2)
			return (-1);
		cap *= 2;
	}
	if (cap == map->cap)
		return (0);
	return (hashmap_resize(map, cap));
}

void *
hashmap_get(const struct hashmap *map, const char *key)
{
	uint64_t	 h;
	size_t		 i;

	if (map->count == 0)
		return (NULL);
	h = hashmap_hash(key);
	i = h & (map->cap - 1);
	while (map->slots[i].key != NULL) {
		if (map->slots[i].hash == h &&
		    strcmp(map->slots[i].key, key) == 0)
			return (map->slots[i].val);
		i = (i + 1) & (map->cap - 1);
	}
	return (NULL);
}

int
hashmap_put(struct hashmap *map, const char *key, void *val)
{
	uint64_t	 h;
	size_t		 i;

	if (hashmap_reserve(map, map->count + 1) == -1)
		return (-1);
	h = hashmap_hash(key);
	i = h & (map->cap - 1);
	while (map->slots[i].key != NULL) {
		if (map->slots[i].hash == h &&
		    strcmp(map->slots[i].key, key) == 0) {
			map->slots[i].key = key;
			map->slots[i].val = val;
			return (0);
		}
		i = (i + 1) & (map->cap - 1);
	}
	map->slots[i].hash = h;
	map->slots[i].key = key;
	map->slots[i].val = val;
	map->count++;
	return (0);
}

void *
hashmap_del(struct hashmap *map, const char *key)
{
	uint64_t	 h;
	size_t		 i, j, home, mask;
	void		*val;

	if (map->count == 0)
		return (NULL);
	mask = map->cap - 1;
	h = hashmap_hash(key);
	i = h & mask;
	for (;;) {
		if (map->slots[i].key == NULL)
			return (NULL);
		if (map->slots[i].hash == h &&
		    strcmp(map->slots[i].key, key) == 0)
			break;
		i = (i + 1) & mask;
	}
	val = map->slots[i].val;

	/*
	 * Backward shift: move each later entry of the run into the hole
	 * unless its home slot lies cyclically in (hole, entry].
	 */
	j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (map->slots[j].key == NULL)
			break;
		home = map->slots[j].hash & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		map->slots[i] = map->slots[j];
		i = j;
	}
	map->slots[i].key = NULL;
	map->slots[i].val = NULL;
	map->slots[i].hash = 0;
	map->count--;
	return (val);
}

int
hashmap_next(const struct hashmap *map, size_t *iter, const char **key,
    void **val)
{
	size_t		i;

	for (i = *iter; i < map->cap; i++) {
		if (map->slots[i].key == NULL)
			continue;
		if (key != NULL)
			*key = map->slots[i].key;
		if (val != NULL)
			*val = map->slots[i].val;
		*iter = i + 1;
		return (1);
	}
	*iter = map->cap;
	return (0);
}
