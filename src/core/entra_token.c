/*
 * entra_token: Entra ID access token validation (see entra_token.h).
 *
 * OpenSSL does the RSA arithmetic (EVP_DigestVerify with SHA-256 and
 * PKCS#1 v1.5 padding, which is what RS256 names); jansson reads the
 * JSON.  A JWK's modulus and exponent become an EVP_PKEY through
 * EVP_PKEY_fromdata, so no certificate parsing is needed.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entra_token.h"
#include "util.h"

#define KID_MAX		128
#define RSA_MIN_BITS	2048
#define RSA_MAX_BYTES	1024	/* 8192-bit keys at most */

struct entra_key {
	char		 kid[KID_MAX];
	EVP_PKEY	*pkey;
};

struct entra_jwks {
	struct entra_key	keys[ENTRA_JWKS_KEYS_MAX];
	size_t			n;
};

static const char *const status_names[ENTRA_TOKEN_STATUS_COUNT] = {
	"token_valid",
	"token_malformed",
	"token_alg_refused",
	"token_unknown_key",
	"token_bad_signature",
	"token_wrong_issuer",
	"token_wrong_tenant",
	"token_wrong_audience",
	"token_expired",
	"token_not_yet_valid",
};

const char *
entra_token_status_str(enum entra_token_status st)
{
	if ((int)st < 0 || st >= ENTRA_TOKEN_STATUS_COUNT)
		return ("token_malformed");
	return (status_names[st]);
}

static void
jwks_err(char *err, size_t size, const char *msg, size_t i)
{
	if (err != NULL && size > 0)
		(void)snprintf(err, size, "%s (keys[%zu])", msg, i);
}

/* Decodes one base64url member of a JWK into a fresh BIGNUM. */
static BIGNUM *
jwk_bignum(const json_t *jwk, const char *name)
{
	unsigned char	 raw[RSA_MAX_BYTES];
	const char	*s;
	size_t		 len;

	if ((s = json_string_value(json_object_get(jwk, name))) == NULL)
		return (NULL);
	if (rc_b64url_decode(s, strlen(s), raw, sizeof(raw), &len) == -1 ||
	    len == 0)
		return (NULL);
	return (BN_bin2bn(raw, (int)len, NULL));
}

static EVP_PKEY *
jwk_rsa_key(const json_t *jwk)
{
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params;
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*pkey;
	BIGNUM		*n, *e;

	pkey = NULL;
	params = NULL;
	ctx = NULL;
	n = jwk_bignum(jwk, "n");
	e = jwk_bignum(jwk, "e");
	bld = OSSL_PARAM_BLD_new();
	if (n == NULL || e == NULL || bld == NULL ||
	    BN_num_bits(n) < RSA_MIN_BITS || !BN_is_odd(e) ||
	    BN_is_one(e))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return (pkey);
}

struct entra_jwks *
entra_jwks_parse(const char *json, size_t len, char *err, size_t errsize)
{
	struct entra_jwks	*set;
	json_error_t		 jerr;
	json_t			*doc, *keys, *jwk;
	const char		*kty, *use, *alg, *kid;
	size_t			 i, j;

	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		if (err != NULL && errsize > 0)
			(void)snprintf(err, errsize, "not JSON: %s", jerr.text);
		return (NULL);
	}
	if (!json_is_array(keys = json_object_get(doc, "keys"))) {
		if (err != NULL && errsize > 0)
			(void)snprintf(err, errsize, "no \"keys\" array");
		json_decref(doc);
		return (NULL);
	}
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		json_decref(doc);
		return (NULL);
	}
	json_array_foreach(keys, i, jwk) {
		kty = json_string_value(json_object_get(jwk, "kty"));
		use = json_string_value(json_object_get(jwk, "use"));
		alg = json_string_value(json_object_get(jwk, "alg"));
		/* Not ours to judge: encryption keys, EC keys, other algs. */
		if (kty == NULL || strcmp(kty, "RSA") != 0 ||
		    (use != NULL && strcmp(use, "sig") != 0) ||
		    (alg != NULL && strcmp(alg, "RS256") != 0))
			continue;
		kid = json_string_value(json_object_get(jwk, "kid"));
		if (kid == NULL || *kid == '\0' || strlen(kid) >= KID_MAX) {
			jwks_err(err, errsize, "an RSA key without a usable "
			    "kid", i);
			goto fail;
		}
		for (j = 0; j < set->n; j++) {
			if (strcmp(set->keys[j].kid, kid) == 0)
				break;
		}
		if (j < set->n) {
			jwks_err(err, errsize, "a kid listed twice", i);
			goto fail;
		}
		if (set->n == ENTRA_JWKS_KEYS_MAX) {
			jwks_err(err, errsize, "too many keys", i);
			goto fail;
		}
		if ((set->keys[set->n].pkey = jwk_rsa_key(jwk)) == NULL) {
			jwks_err(err, errsize, "an RSA key whose n or e is "
			    "malformed or under 2048 bits", i);
			goto fail;
		}
		(void)rc_strlcpy(set->keys[set->n].kid, kid, KID_MAX);
		set->n++;
	}
	if (set->n == 0) {
		if (err != NULL && errsize > 0)
			(void)snprintf(err, errsize, "no RSA signing key");
		goto fail;
	}
	json_decref(doc);
	return (set);
fail:
	json_decref(doc);
	entra_jwks_free(set);
	return (NULL);
}

void
entra_jwks_free(struct entra_jwks *set)
{
	size_t	i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		EVP_PKEY_free(set->keys[i].pkey);
	free(set);
}

size_t
entra_jwks_count(const struct entra_jwks *set)
{
	return (set == NULL ? 0 : set->n);
}

static EVP_PKEY *
jwks_find(const struct entra_jwks *set, const char *kid)
{
	size_t	i;

	if (set == NULL)
		return (NULL);
	for (i = 0; i < set->n; i++) {
		if (strcmp(set->keys[i].kid, kid) == 0)
			return (set->keys[i].pkey);
	}
	return (NULL);
}

int
entra_jwks_has(const struct entra_jwks *set, const char *kid)
{
	return (kid != NULL && jwks_find(set, kid) != NULL);
}

/* The three dot-separated parts of a compact JWS. */
struct jws_parts {
	const char	*part[3];
	size_t		 len[3];
};

static int
jws_split(const char *token, struct jws_parts *p)
{
	const char	*s, *dot;
	size_t		 total;
	int		 i;

	if (token == NULL)
		return (-1);
	total = strnlen(token, ENTRA_TOKEN_MAX + 1);
	if (total == 0 || total > ENTRA_TOKEN_MAX)
		return (-1);
	s = token;
	for (i = 0; i < 3; i++) {
		dot = strchr(s, '.');
		if ((i < 2) != (dot != NULL))
			return (-1);
		p->part[i] = s;
		p->len[i] = dot != NULL ? (size_t)(dot - s) : strlen(s);
		/*
		 * An empty signature is the unsecured form ("alg":"none"):
		 * split, so that the header refuses it by its alg.
		 */
		if (i < 2 && p->len[i] == 0)
			return (-1);
		s = dot != NULL ? dot + 1 : s;
	}
	return (0);
}

/* Decodes a base64url JSON object; NULL when it is anything else. */
static json_t *
jws_json(const char *b64, size_t len)
{
	unsigned char	*raw;
	json_t		*v;
	size_t		 n;

	if ((raw = malloc(len)) == NULL)
		return (NULL);
	v = NULL;
	if (rc_b64url_decode(b64, len, raw, len, &n) == 0)
		v = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES,
		    NULL);
	free(raw);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return (v);
}

/* The header's alg and kid; ALG_REFUSED for anything but RS256. */
static enum entra_token_status
jws_header(const struct jws_parts *p, char *kid, size_t kidsize)
{
	json_t		*h;
	const char	*alg, *k;
	enum entra_token_status st;

	if ((h = jws_json(p->part[0], p->len[0])) == NULL)
		return (ENTRA_TOKEN_MALFORMED);
	alg = json_string_value(json_object_get(h, "alg"));
	k = json_string_value(json_object_get(h, "kid"));
	if (alg == NULL)
		st = ENTRA_TOKEN_MALFORMED;
	else if (strcmp(alg, "RS256") != 0)
		st = ENTRA_TOKEN_ALG_REFUSED;
	else if (json_object_get(h, "crit") != NULL)
		st = ENTRA_TOKEN_MALFORMED;	/* extensions we cannot honour */
	else if (k == NULL || *k == '\0' || strlen(k) >= kidsize)
		st = ENTRA_TOKEN_MALFORMED;
	else {
		(void)rc_strlcpy(kid, k, kidsize);
		st = ENTRA_TOKEN_OK;
	}
	json_decref(h);
	return (st);
}

static int
rs256_verify(EVP_PKEY *pkey, const struct jws_parts *p)
{
	EVP_MD_CTX	*md;
	unsigned char	*sig;
	size_t		 siglen, signedlen;
	int		 ok;

	if ((sig = malloc(p->len[2])) == NULL)
		return (0);
	ok = 0;
	/* The signed input is "header.payload", as it stands in the token. */
	signedlen = (size_t)(p->part[2] - p->part[0]) - 1;
	if (rc_b64url_decode(p->part[2], p->len[2], sig, p->len[2],
	    &siglen) == 0 && (md = EVP_MD_CTX_new()) != NULL) {
		if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
		    pkey) == 1 &&
		    EVP_DigestVerify(md, sig, siglen,
		    (const unsigned char *)p->part[0], signedlen) == 1)
			ok = 1;
		EVP_MD_CTX_free(md);
	}
	free(sig);
	return (ok);
}

int
entra_token_kid(const char *token, char *kid, size_t size)
{
	struct jws_parts	p;
	json_t			*h;
	const char		*k;
	int			 rc;

	if (jws_split(token, &p) == -1 ||
	    (h = jws_json(p.part[0], p.len[0])) == NULL)
		return (-1);
	k = json_string_value(json_object_get(h, "kid"));
	rc = -1;
	if (k != NULL && *k != '\0' && strlen(k) < size) {
		(void)rc_strlcpy(kid, k, size);
		rc = 0;
	}
	json_decref(h);
	return (rc);
}

int
entra_token_peek_tid(const char *token, char *tid, size_t size)
{
	struct jws_parts	p;
	json_t			*b;
	const char		*t;
	int			 rc;

	if (jws_split(token, &p) == -1 ||
	    (b = jws_json(p.part[1], p.len[1])) == NULL)
		return (-1);
	t = json_string_value(json_object_get(b, "tid"));
	rc = -1;
	if (t != NULL && *t != '\0' && strlen(t) < size) {
		(void)rc_strlcpy(tid, t, size);
		rc = 0;
	}
	json_decref(b);
	return (rc);
}

int
entra_token_has_role(const char *token, const char *role)
{
	struct jws_parts	p;
	json_t			*b;
	const json_t		*roles, *r;
	size_t			 i;
	int			 found;

	if (role == NULL || *role == '\0' || jws_split(token, &p) == -1 ||
	    (b = jws_json(p.part[1], p.len[1])) == NULL)
		return (0);
	found = 0;
	roles = json_object_get(b, "roles");
	/* Entra sends an array; anything else names no role. */
	json_array_foreach(roles, i, r) {
		if (json_is_string(r) && strcmp(json_string_value(r),
		    role) == 0) {
			found = 1;
			break;
		}
	}
	json_decref(b);
	return (found);
}

/* A NumericDate claim; -1 when absent, -2 when not a number. */
static int64_t
claim_time(const json_t *payload, const char *name)
{
	const json_t	*v;
	double		 d;

	if ((v = json_object_get(payload, name)) == NULL)
		return (-1);
	if (!json_is_number(v))
		return (-2);
	d = json_number_value(v);
	if (d < 0 || d > 253402300799.0)	/* year 9999 */
		return (-2);
	return ((int64_t)d);
}

static int
audience_ok(const json_t *aud, const struct entra_binding *b)
{
	const json_t	*v;
	const char	*s;
	size_t		 i, j;

	if (json_is_string(aud)) {
		s = json_string_value(aud);
		for (j = 0; j < b->naudiences; j++)
			if (strcmp(s, b->audiences[j]) == 0)
				return (1);
		return (0);
	}
	if (!json_is_array(aud))
		return (0);
	json_array_foreach(aud, i, v) {
		if (json_is_string(v) && audience_ok(v, b))
			return (1);
	}
	return (0);
}

/* 1 or 2 when iss is the bound tenant's issuer of an accepted version. */
static int
issuer_version(const char *iss, const struct entra_binding *b)
{
	char	want[256];

	if (iss == NULL || b->tenant_id == NULL)
		return (0);
	if (b->accept_v1) {
		(void)snprintf(want, sizeof(want),
		    "https://sts.windows.net/%s/", b->tenant_id);
		if (strcmp(iss, want) == 0)
			return (1);
	}
	if (b->accept_v2) {
		(void)snprintf(want, sizeof(want),
		    "https://login.microsoftonline.com/%s/v2.0", b->tenant_id);
		if (strcmp(iss, want) == 0)
			return (2);
	}
	return (0);
}

static enum entra_token_status
check_claims(json_t *payload, const struct entra_binding *b, int64_t now,
    struct entra_claims *c)
{
	const char	*iss, *tid, *idtyp;
	int64_t		 exp, nbf;
	int		 skew, version;

	skew = b->skew_s < 0 ? 0 : b->skew_s > ENTRA_SKEW_MAX_S ?
	    ENTRA_SKEW_MAX_S : b->skew_s;
	iss = json_string_value(json_object_get(payload, "iss"));
	if ((version = issuer_version(iss, b)) == 0)
		return (ENTRA_TOKEN_WRONG_ISSUER);
	tid = json_string_value(json_object_get(payload, "tid"));
	if (tid == NULL || strcmp(tid, b->tenant_id) != 0)
		return (ENTRA_TOKEN_WRONG_TENANT);
	if (!audience_ok(json_object_get(payload, "aud"), b))
		return (ENTRA_TOKEN_WRONG_AUDIENCE);
	exp = claim_time(payload, "exp");
	nbf = claim_time(payload, "nbf");
	if (exp < 0 || nbf == -2)
		return (ENTRA_TOKEN_MALFORMED);
	if (now >= exp + skew)
		return (ENTRA_TOKEN_EXPIRED);
	if (nbf >= 0 && now + skew < nbf)
		return (ENTRA_TOKEN_NOT_YET_VALID);

	c->version = version;
	c->exp = exp;
	c->tid = tid;
	c->oid = json_string_value(json_object_get(payload, "oid"));
	c->app_id = json_string_value(json_object_get(payload,
	    version == 1 ? "appid" : "azp"));
	c->scp = json_string_value(json_object_get(payload, "scp"));
	idtyp = json_string_value(json_object_get(payload, "idtyp"));
	c->app_only = (idtyp != NULL && strcmp(idtyp, "app") == 0) ||
	    (idtyp == NULL && c->scp == NULL);
	return (ENTRA_TOKEN_OK);
}

enum entra_token_status
entra_token_verify(const char *token, const struct entra_binding *b,
    const struct entra_jwks *keys, int64_t now_s, struct entra_claims *c)
{
	struct jws_parts	 p;
	enum entra_token_status	 st;
	EVP_PKEY		*pkey;
	json_t			*payload;
	char			 kid[KID_MAX];

	memset(c, 0, sizeof(*c));
	if (b == NULL || b->tenant_id == NULL || jws_split(token, &p) == -1)
		return (ENTRA_TOKEN_MALFORMED);
	if ((st = jws_header(&p, kid, sizeof(kid))) != ENTRA_TOKEN_OK)
		return (st);
	if (p.len[2] == 0)
		return (ENTRA_TOKEN_MALFORMED);
	if ((pkey = jwks_find(keys, kid)) == NULL)
		return (ENTRA_TOKEN_UNKNOWN_KEY);
	if (!rs256_verify(pkey, &p))
		return (ENTRA_TOKEN_BAD_SIGNATURE);
	if ((payload = jws_json(p.part[1], p.len[1])) == NULL)
		return (ENTRA_TOKEN_MALFORMED);
	if ((st = check_claims(payload, b, now_s, c)) != ENTRA_TOKEN_OK) {
		json_decref(payload);
		memset(c, 0, sizeof(*c));
		return (st);
	}
	c->payload = payload;
	return (ENTRA_TOKEN_OK);
}

void
entra_claims_clear(struct entra_claims *c)
{
	json_decref(c->payload);
	memset(c, 0, sizeof(*c));
}
