/*
 * activity.c: per-worker counts of SCIM requests and decisions, by
 * directory and time bucket (activity.h).  Open addressing over a
 * fixed array: the request path never allocates.
 */
#include <stdio.h>
#include <string.h>

#include "activity.h"

static uint64_t
mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return (h);
}

static size_t
cell_hash(uint8_t series, int64_t dir, int64_t bucket, const char *kind)
{
	uint64_t	h;

	h = mix(series, (uint64_t)dir);
	h = mix(h, (uint64_t)bucket);
	/* FNV-1a over the kind. */
	for (; *kind != '\0'; kind++)
		h = (h ^ (unsigned char)*kind) * 0x100000001b3ULL;
	return ((size_t)(h % ACTIVITY_CELLS));
}

void
activity_init(struct activity *a)
{
	memset(a, 0, sizeof(*a));
}

int
activity_empty(const struct activity *a)
{
	size_t	i;

	if (a->used > 0)
		return (0);
	for (i = 0; i < ACTIVITY_DIRS; i++)
		if (a->last[i].directory_id != 0)
			return (0);
	return (1);
}

int64_t
activity_bucket(enum activity_series s, int64_t now_ms)
{
	int64_t	sec, width;

	width = s == ACTIVITY_SCIM ? 3600 : 60;
	sec = now_ms / 1000;
	return (sec - sec % width);
}

const char *
activity_series_str(enum activity_series s)
{
	return (s == ACTIVITY_SCIM ? "scim" : "decision");
}

/*
 * Copies kind into k (ACTIVITY_KIND_MAX bytes), cut as stored, so equal
 * keys find one cell.  No printf: this runs once per decision.
 */
static void
kind_copy(char *k, const char *kind)
{
	size_t	len;

	len = strnlen(kind, ACTIVITY_KIND_MAX - 1);
	memcpy(k, kind, len);
	k[len] = '\0';
}

/* Adds n to the cell of exactly this key (bucket already computed). */
static int
add_cell(struct activity *a, uint8_t series, int64_t dir, int64_t bucket,
    const char *kind, uint64_t n)
{
	struct activity_cell	*c;
	size_t			 i, probe;

	i = cell_hash(series, dir, bucket, kind);
	for (probe = 0; probe < ACTIVITY_CELLS; probe++) {
		c = &a->cell[(i + probe) % ACTIVITY_CELLS];
		if (c->directory_id == 0) {
			/* Keep one slot in eight free: probes stay short. */
			if (a->used >= ACTIVITY_CELLS - ACTIVITY_CELLS / 8)
				break;
			c->directory_id = dir;
			c->bucket_s = bucket;
			c->series = series;
			kind_copy(c->kind, kind);
			c->n = n;
			a->used++;
			return (0);
		}
		if (c->directory_id == dir && c->bucket_s == bucket &&
		    c->series == series && strcmp(c->kind, kind) == 0) {
			c->n += n;
			return (0);
		}
	}
	a->dropped += n;
	return (-1);
}

int
activity_add(struct activity *a, enum activity_series series,
    int64_t directory_id, int64_t now_ms, const char *kind, uint64_t n)
{
	char	k[ACTIVITY_KIND_MAX];

	if (directory_id <= 0 || kind == NULL || *kind == '\0' ||
	    (series != ACTIVITY_SCIM && series != ACTIVITY_DECISION)) {
		a->dropped += n;
		return (-1);
	}
	kind_copy(k, kind);
	return (add_cell(a, (uint8_t)series, directory_id,
	    activity_bucket(series, now_ms), k, n));
}

const char *
activity_scim_kind(int status, char *buf, size_t size)
{
	if (status < 400)
		return ("ok");
	if (status > 999 || size < 4) {
		(void)snprintf(buf, size, "%d", status);
		return (buf);
	}
	/* Three digits, by hand: this runs once per SCIM request. */
	buf[0] = (char)('0' + status / 100);
	buf[1] = (char)('0' + status / 10 % 10);
	buf[2] = (char)('0' + status % 10);
	buf[3] = '\0';
	return (buf);
}

int
activity_seen(struct activity *a, int64_t directory_id, int64_t at_ms)
{
	struct activity_mark	*l, *free_slot;
	size_t			 i;

	if (directory_id <= 0)
		return (-1);
	free_slot = NULL;
	for (i = 0; i < ACTIVITY_DIRS; i++) {
		l = &a->last[i];
		if (l->directory_id == directory_id) {
			if (at_ms > l->at_ms)
				l->at_ms = at_ms;
			return (0);
		}
		if (l->directory_id == 0 && free_slot == NULL)
			free_slot = l;
	}
	if (free_slot == NULL)
		return (-1);	/* the counts still say it was seen */
	free_slot->directory_id = directory_id;
	free_slot->at_ms = at_ms;
	return (0);
}

int
activity_scim(struct activity *a, int64_t directory_id, int64_t at_ms,
    int status)
{
	char	buf[16];
	int	rc;

	rc = activity_add(a, ACTIVITY_SCIM, directory_id, at_ms,
	    activity_scim_kind(status, buf, sizeof(buf)), 1);
	if (activity_seen(a, directory_id, at_ms) == -1)
		rc = -1;
	return (rc);
}

void
activity_take(struct activity *a, struct activity *out)
{
	uint64_t	dropped;

	dropped = a->dropped;
	memcpy(out, a, sizeof(*out));
	activity_init(a);
	a->dropped = dropped;	/* a running total, stays with the owner */
	out->dropped = 0;
}

void
activity_merge(struct activity *a, const struct activity *from)
{
	const struct activity_cell	*c;
	size_t				 i;

	for (i = 0; i < ACTIVITY_CELLS; i++) {
		c = &from->cell[i];
		if (c->directory_id != 0)
			(void)add_cell(a, c->series, c->directory_id,
			    c->bucket_s, c->kind, c->n);
	}
	for (i = 0; i < ACTIVITY_DIRS; i++)
		if (from->last[i].directory_id != 0)
			(void)activity_seen(a, from->last[i].directory_id,
			    from->last[i].at_ms);
}
