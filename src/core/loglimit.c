/*
 * loglimit: see loglimit.h.
 */
#include <stdio.h>
#include <string.h>

#include "loglimit.h"

#define OVERFLOW_KIND	"(other kinds)"

static struct loglimit_slot	*slot_find(struct loglimit *, const char *);
static void			 slot_roll(const struct loglimit *,
				    struct loglimit_slot *, uint64_t,
				    uint64_t *);

void
loglimit_init(struct loglimit *l, uint32_t burst, uint64_t interval_ms)
{
	memset(l, 0, sizeof(*l));
	l->burst = burst > 0 ? burst : 1;
	l->interval_ms = interval_ms > 0 ? interval_ms : 1;
}

/* The kind's slot, claimed on first use; the last slot takes overflow. */
static struct loglimit_slot *
slot_find(struct loglimit *l, const char *kind)
{
	struct loglimit_slot	*s;
	size_t			 i;

	for (i = 0; i < LOGLIMIT_KINDS - 1; i++) {
		s = &l->slot[i];
		if (!s->used) {
			(void)snprintf(s->kind, sizeof(s->kind), "%s", kind);
			s->used = 1;
			return (s);
		}
		if (strncmp(s->kind, kind, sizeof(s->kind) - 1) == 0)
			return (s);
	}
	s = &l->slot[LOGLIMIT_KINDS - 1];
	if (!s->used) {
		(void)snprintf(s->kind, sizeof(s->kind), "%s", OVERFLOW_KIND);
		s->used = 1;
	}

	return (s);
}

/*
 * Starts a new interval at now if the slot's has ended, handing back
 * the lines suppressed in the old one.  A clock that went backwards
 * starts a new interval too, so a slot can never stay shut.
 */
static void
slot_roll(const struct loglimit *l, struct loglimit_slot *s, uint64_t now,
    uint64_t *summary)
{
	*summary = 0;
	if (s->passed == 0 && s->suppressed == 0) {
		s->window_ms = now;
		return;
	}
	if (now >= s->window_ms && now - s->window_ms < l->interval_ms)
		return;
	*summary = s->suppressed;
	s->suppressed = 0;
	s->passed = 0;
	s->window_ms = now;
}

int
loglimit_check(struct loglimit *l, const char *kind, uint64_t now_ms,
    uint64_t *summary)
{
	struct loglimit_slot	*s;

	s = slot_find(l, kind);
	slot_roll(l, s, now_ms, summary);
	if (s->passed < l->burst) {
		s->passed++;
		return (1);
	}
	s->suppressed++;

	return (0);
}

int
loglimit_expired(struct loglimit *l, uint64_t now_ms, char *kind,
    size_t kindsz, uint64_t *n)
{
	struct loglimit_slot	*s;
	size_t			 i;

	for (i = 0; i < LOGLIMIT_KINDS; i++) {
		s = &l->slot[i];
		if (!s->used || s->suppressed == 0)
			continue;
		if (now_ms >= s->window_ms &&
		    now_ms - s->window_ms < l->interval_ms)
			continue;
		*n = s->suppressed;
		if (kindsz > 0)
			(void)snprintf(kind, kindsz, "%s", s->kind);
		/* Reported: the next line of this kind opens a fresh interval. */
		s->suppressed = 0;
		s->passed = 0;
		s->window_ms = now_ms;
		return (1);
	}

	return (0);
}

uint64_t
loglimit_pending(const struct loglimit *l)
{
	uint64_t	n;
	size_t		i;

	n = 0;
	for (i = 0; i < LOGLIMIT_KINDS; i++)
		n += l->slot[i].suppressed;

	return (n);
}
