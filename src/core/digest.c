/*
 * digest: see digest.h.  The SQL twin of digest_principal_text lives
 * in src/store/digest_store.c; change both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"

struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	char	*q;
	size_t	 want;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		want = b->cap ? b->cap : 256;
		while (want < b->len + n + 1)
			want *= 2;
		if ((q = realloc(b->p, want)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = want;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* <length>:<bytes>, or "-" for an absent string. */
static void
sb_field(struct sbuf *b, const char *s)
{
	char	num[24];
	size_t	len, n, i;

	if (s == NULL) {
		sb_str(b, "-");
		return;
	}
	/* By hand: snprintf was most of the cost of a digest. */
	len = strlen(s);
	i = sizeof(num);
	num[--i] = ':';
	n = len;
	do {
		num[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	sb_put(b, num + i, sizeof(num) - i);
	sb_put(b, s, len);
}

static int
cmp_str(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/*
 * Sorted fields in brackets; fold lower-cases ASCII first (emails), and
 * only then are the strings copied.
 */
static void
sb_list(struct sbuf *b, const char *const *v, size_t n, int fold)
{
	const char	**sorted;
	char		**copy;
	size_t		  i, k;

	sb_str(b, "[");
	if (n == 0 || b->failed) {
		sb_str(b, "]");
		return;
	}
	copy = NULL;
	if ((sorted = calloc(n, sizeof(*sorted))) == NULL ||
	    (fold && (copy = calloc(n, sizeof(*copy))) == NULL)) {
		free(sorted);
		b->failed = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		sorted[i] = v[i];
		if (!fold)
			continue;
		if ((copy[i] = strdup(v[i])) == NULL) {
			b->failed = 1;
			break;
		}
		for (k = 0; copy[i][k] != '\0'; k++)
			if (copy[i][k] >= 'A' && copy[i][k] <= 'Z')
				copy[i][k] += 'a' - 'A';
		sorted[i] = copy[i];
	}
	if (!b->failed) {
		qsort(sorted, n, sizeof(*sorted), cmp_str);
		for (i = 0; i < n; i++)
			sb_field(b, sorted[i]);
	}
	for (i = 0; fold && i < n; i++)
		free(copy[i]);
	free(copy);
	free(sorted);
	sb_str(b, "]");
}

char *
digest_principal_text(const struct policy_principal_view *v)
{
	struct sbuf	b;
	char		flags[64];
	int		user;

	memset(&b, 0, sizeof(b));
	user = v->kind == POLICY_PRINCIPAL_USER;
	sb_str(&b, user ? "u" : "s");
	sb_field(&b, v->id);
	sb_field(&b, v->directory);
	/* A deleted user is never active, whichever way it was loaded. */
	(void)snprintf(flags, sizeof(flags), "a%dd%dr%de%llu;",
	    v->active && !v->deleted, v->deleted != 0, v->revoked_all != 0,
	    (unsigned long long)v->epoch);
	sb_str(&b, flags);
	if (user) {
		sb_field(&b, v->user_name);
		sb_field(&b, v->external_id);
		sb_list(&b, v->emails, v->nemails, 1);
		sb_list(&b, v->groups, v->ngroups, 0);
	} else {
		sb_field(&b, v->app_id);
		sb_field(&b, v->owner_id);
		sb_str(&b, "[][]");
	}
	if (b.failed) {
		free(b.p);
		return (NULL);
	}

	return (b.p);
}

uint64_t
digest_hash_text(const char *text)
{
	/* Fetched once: an implicit fetch on every call costs more than
	 * the hash of a short text. */
	static EVP_MD		*md5;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 len;
	uint64_t		 h;
	int			 i;

	if (md5 == NULL && (md5 = EVP_MD_fetch(NULL, "MD5", NULL)) == NULL)
		return (0);
	len = 0;
	if (EVP_Digest(text, strlen(text), md, &len, md5, NULL) != 1 ||
	    len < 8)
		return (0);
	h = 0;
	for (i = 0; i < 8; i++)
		h = (h << 8) | md[i];

	return (h);
}

void
digest_init(struct digest *d)
{
	hashmap_init(&d->dirs);
}

void
digest_cleanup(struct digest *d)
{
	size_t	 it;
	void	*val;

	it = 0;
	while (hashmap_next(&d->dirs, &it, NULL, &val))
		free(val);
	hashmap_cleanup(&d->dirs);
}

static struct digest_dir *
dir_entry(struct digest *d, const char *dir)
{
	struct digest_dir	*e;
	size_t			 len;

	if ((e = hashmap_get(&d->dirs, dir)) != NULL)
		return (e);
	len = strlen(dir) + 1;
	if ((e = calloc(1, sizeof(*e) + len)) == NULL)
		return (NULL);
	memcpy(e->dir, dir, len);
	if (hashmap_put(&d->dirs, e->dir, e) == -1) {
		free(e);
		return (NULL);
	}

	return (e);
}

int
digest_add(struct digest *d, const char *dir, uint64_t hash)
{
	struct digest_dir	*e;

	if ((e = dir_entry(d, dir != NULL ? dir : "")) == NULL)
		return (-1);
	e->count++;
	e->hash ^= hash;

	return (0);
}

int
digest_set(struct digest *d, const char *dir, uint64_t count, uint64_t hash)
{
	struct digest_dir	*e;

	if ((e = dir_entry(d, dir)) == NULL)
		return (-1);
	e->count = count;
	e->hash = hash;

	return (0);
}

const struct digest_dir *
digest_get(const struct digest *d, const char *dir)
{
	return (hashmap_get(&d->dirs, dir));
}

int
digest_bucket(const char *id)
{
	if (id[0] >= '0' && id[0] <= '9')
		return (id[0] - '0');
	if (id[0] >= 'a' && id[0] <= 'f')
		return (id[0] - 'a' + 10);
	return (-1);
}

struct index_arg {
	struct digest	*d;
	int		 bucket;
};

static int
index_want(void *arg, const char *id)
{
	struct index_arg	*a = arg;

	return (a->bucket == DIGEST_ALL || digest_bucket(id) == a->bucket);
}

static int
index_one(void *arg, const struct policy_principal_view *v)
{
	struct index_arg	*a = arg;
	struct digest		*d = a->d;
	char			*text;
	int			 rc;

	if ((text = digest_principal_text(v)) == NULL)
		return (-1);
	rc = digest_add(d, v->directory, digest_hash_text(text));
	free(text);

	return (rc);
}

int
digest_index(struct policy_index *idx, int bucket, struct digest *d)
{
	struct index_arg	a;

	a.d = d;
	a.bucket = bucket;

	return (policy_principal_foreach(idx, index_want, index_one, &a) == 0 ?
	    0 : -1);
}

static int
same(const struct digest_dir *x, const struct digest_dir *y)
{
	uint64_t	xc, yc, xh, yh;

	xc = x != NULL ? x->count : 0;
	yc = y != NULL ? y->count : 0;
	xh = x != NULL ? x->hash : 0;
	yh = y != NULL ? y->hash : 0;

	return (xc == yc && xh == yh);
}

void
digest_forget(struct digest *d, const char *dir)
{
	free(hashmap_del(&d->dirs, dir));
}

size_t
digest_compare(const struct digest *a, const struct digest *b,
    void (*cb)(void *, const char *), void *arg)
{
	const struct digest_dir	*e;
	const char		*key;
	size_t			 it, n;
	void			*val;

	n = 0;
	it = 0;
	while (hashmap_next(&a->dirs, &it, &key, &val)) {
		e = val;
		if (!same(e, digest_get(b, key))) {
			n++;
			if (cb != NULL)
				cb(arg, key);
		}
	}
	it = 0;
	while (hashmap_next(&b->dirs, &it, &key, &val)) {
		if (digest_get(a, key) == NULL && !same(NULL, val)) {
			n++;
			if (cb != NULL)
				cb(arg, key);
		}
	}

	return (n);
}
