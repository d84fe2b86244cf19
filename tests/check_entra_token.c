/*
 * Unit tests for entra_token: JWKS parsing and access token validation.
 * Tokens are minted here with RSA keys the test makes, shaped like
 * Entra's v1 and v2 access tokens; every refusal reason is produced.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "entra_token.h"
#include "util.h"

#define TENANT	"72f988bf-86f1-41af-91ab-2d7cd011db47"
#define OTHER	"11111111-2222-3333-4444-555555555555"
#define API	"6e74172b-be56-4843-9ff4-e66a39bb12e3"
#define API_URI	"api://rollcall-gateway"
#define NOW	1780000000

static EVP_PKEY	*key_a, *key_b;
static char	 jwks_doc[8192];

static void
b64_bn(EVP_PKEY *pkey, const char *name, char *out, size_t size)
{
	BIGNUM		*bn;
	unsigned char	 raw[1024];
	int		 n;

	bn = NULL;
	ck_assert_int_eq(EVP_PKEY_get_bn_param(pkey, name, &bn), 1);
	n = BN_bn2bin(bn, raw);
	ck_assert(rc_b64url_len((size_t)n) < size);
	rc_b64url_encode(raw, (size_t)n, out);
	BN_free(bn);
}

static void
jwk_append(char *doc, size_t size, EVP_PKEY *pkey, const char *kid)
{
	char	n[1024], e[16];
	size_t	len;

	b64_bn(pkey, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n));
	b64_bn(pkey, OSSL_PKEY_PARAM_RSA_E, e, sizeof(e));
	len = strlen(doc);
	(void)snprintf(doc + len, size - len, "%s{\"kty\":\"RSA\",\"use\":"
	    "\"sig\",\"kid\":\"%s\",\"x5t\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}",
	    doc[len - 1] == '[' ? "" : ",", kid, kid, n, e);
}

static void
keys_setup(void)
{
	if (key_a != NULL)
		return;
	key_a = EVP_RSA_gen(2048);
	key_b = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(key_a);
	ck_assert_ptr_nonnull(key_b);
	/* Entra lists several keys, and keys of other kinds. */
	(void)snprintf(jwks_doc, sizeof(jwks_doc), "{\"keys\":[");
	jwk_append(jwks_doc, sizeof(jwks_doc), key_a, "kid-a");
	(void)strncat(jwks_doc, ",{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":"
	    "\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}", sizeof(jwks_doc) -
	    strlen(jwks_doc) - 1);
	(void)strncat(jwks_doc, "]}", sizeof(jwks_doc) - strlen(jwks_doc) -
	    1);
}

static void
b64_text(const char *s, char *out)
{
	rc_b64url_encode((const unsigned char *)s, strlen(s), out);
}

/* header.payload signed with pkey (RS256), or with sig given verbatim. */
static char *
mint(const char *header, const char *payload, EVP_PKEY *pkey)
{
	EVP_MD_CTX	*md;
	unsigned char	 sig[1024];
	size_t		 siglen;
	char		*tok;
	size_t		 hl, pl;

	hl = rc_b64url_len(strlen(header));
	pl = rc_b64url_len(strlen(payload));
	tok = calloc(1, hl + pl + 2 + rc_b64url_len(sizeof(sig)) + 1);
	ck_assert_ptr_nonnull(tok);
	b64_text(header, tok);
	tok[hl] = '.';
	b64_text(payload, tok + hl + 1);
	siglen = sizeof(sig);
	md = EVP_MD_CTX_new();
	ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
	    pkey), 1);
	ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen,
	    (const unsigned char *)tok, hl + 1 + pl), 1);
	EVP_MD_CTX_free(md);
	tok[hl + 1 + pl] = '.';
	rc_b64url_encode(sig, siglen, tok + hl + 1 + pl + 1);
	return (tok);
}

static const char *const audiences[] = { API, API_URI };

static struct entra_binding
binding(void)
{
	struct entra_binding	b;

	b.tenant_id = TENANT;
	b.audiences = audiences;
	b.naudiences = 2;
	b.accept_v1 = 1;
	b.accept_v2 = 1;
	b.skew_s = 120;
	return (b);
}

static char *
payload_v2(const char *extra)
{
	static char	buf[2048];

	(void)snprintf(buf, sizeof(buf), "{\"aud\":\"" API "\",\"iss\":"
	    "\"https://login.microsoftonline.com/" TENANT "/v2.0\",\"iat\":%d,"
	    "\"nbf\":%d,\"exp\":%d,\"oid\":\"0b5e0d2a-0000-4000-8000-"
	    "00000000000a\",\"tid\":\"" TENANT "\",\"azp\":\"client-2\","
	    "\"scp\":\"tools.call\",\"ver\":\"2.0\"%s}", NOW - 60, NOW - 60,
	    NOW + 3600, extra);
	return (buf);
}

static enum entra_token_status
verify(const char *tok, const struct entra_binding *b,
    struct entra_claims *c)
{
	struct entra_jwks	*set;
	enum entra_token_status	 st;
	char			 err[128];

	set = entra_jwks_parse(jwks_doc, strlen(jwks_doc), err, sizeof(err));
	ck_assert_msg(set != NULL, "%s", err);
	st = entra_token_verify(tok, b, set, NOW, c);
	entra_jwks_free(set);
	return (st);
}

static enum entra_token_status
verify_payload(const char *payload)
{
	struct entra_binding	b;
	struct entra_claims	c;
	enum entra_token_status	st;
	char			*tok;

	b = binding();
	tok = mint("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"kid-a\"}",
	    payload, key_a);
	st = verify(tok, &b, &c);
	entra_claims_clear(&c);
	free(tok);
	return (st);
}

#define HDR	"{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"kid-a\"}"

START_TEST(test_valid_v1_and_v2)
{
	struct entra_binding	b;
	struct entra_claims	c;
	char			*tok, v1[1024];

	keys_setup();
	b = binding();
	tok = mint(HDR, payload_v2(""), key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_OK);
	ck_assert_int_eq(c.version, 2);
	ck_assert_str_eq(c.oid, "0b5e0d2a-0000-4000-8000-00000000000a");
	ck_assert_str_eq(c.tid, TENANT);
	ck_assert_str_eq(c.app_id, "client-2");
	ck_assert_str_eq(c.scp, "tools.call");
	ck_assert_int_eq(c.app_only, 0);
	ck_assert_int_eq(c.exp, NOW + 3600);
	entra_claims_clear(&c);
	entra_claims_clear(&c);
	free(tok);

	/* v1: sts.windows.net issuer, App ID URI audience, appid. */
	(void)snprintf(v1, sizeof(v1), "{\"aud\":\"" API_URI "\",\"iss\":"
	    "\"https://sts.windows.net/" TENANT "/\",\"exp\":%d,\"oid\":"
	    "\"u1\",\"tid\":\"" TENANT "\",\"appid\":\"client-1\",\"idtyp\":"
	    "\"app\",\"roles\":[\"Tools.Call\"],\"ver\":\"1.0\"}", NOW + 60);
	tok = mint("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"kid-a\","
	    "\"kid\":\"kid-a\"}", v1, key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_OK);
	ck_assert_int_eq(c.version, 1);
	ck_assert_str_eq(c.app_id, "client-1");
	ck_assert_int_eq(c.app_only, 1);
	entra_claims_clear(&c);
	/* The binding decides which versions count. */
	b.accept_v1 = 0;
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_WRONG_ISSUER);
	ck_assert_ptr_null(c.payload);
	free(tok);
}
END_TEST

START_TEST(test_peek_tid)
{
	char	*tok, tid[64];

	keys_setup();
	tok = mint(HDR, payload_v2(""), key_a);
	ck_assert_int_eq(entra_token_peek_tid(tok, tid, sizeof(tid)), 0);
	ck_assert_str_eq(tid, TENANT);
	/* Too small a buffer, no payload, not a token. */
	ck_assert_int_eq(entra_token_peek_tid(tok, tid, 8), -1);
	free(tok);
	ck_assert_int_eq(entra_token_peek_tid("a.b.c", tid, sizeof(tid)), -1);
	ck_assert_int_eq(entra_token_peek_tid("nodots", tid, sizeof(tid)),
	    -1);
}
END_TEST

START_TEST(test_has_role)
{
	char	*tok;

	keys_setup();
	tok = mint(HDR, payload_v2(",\"roles\":[\"Tools.Call\","
	    "\"rollcall.admin\"]"), key_a);
	ck_assert_int_eq(entra_token_has_role(tok, "rollcall.admin"), 1);
	/* Exact and case-sensitive; an empty role names nothing. */
	ck_assert_int_eq(entra_token_has_role(tok, "rollcall.Admin"), 0);
	ck_assert_int_eq(entra_token_has_role(tok, "rollcall"), 0);
	ck_assert_int_eq(entra_token_has_role(tok, ""), 0);
	free(tok);
	/* No roles, roles as a string, not a token. */
	tok = mint(HDR, payload_v2(""), key_a);
	ck_assert_int_eq(entra_token_has_role(tok, "rollcall.admin"), 0);
	free(tok);
	tok = mint(HDR, payload_v2(",\"roles\":\"rollcall.admin\""), key_a);
	ck_assert_int_eq(entra_token_has_role(tok, "rollcall.admin"), 0);
	free(tok);
	ck_assert_int_eq(entra_token_has_role("nodots", "rollcall.admin"), 0);
}
END_TEST

START_TEST(test_alg_confusion)
{
	struct entra_binding	 b;
	struct entra_claims	 c;
	unsigned char		 mac[EVP_MAX_MD_SIZE], pub[600];
	unsigned int		 maclen;
	char			*tok, h[256], p[2048], s[128];
	BIGNUM			*n;
	int			 publen;

	keys_setup();
	b = binding();
	/* alg none, with and without a signature part. */
	b64_text("{\"alg\":\"none\",\"kid\":\"kid-a\"}", h);
	b64_text(payload_v2(""), p);
	tok = calloc(1, strlen(h) + strlen(p) + 8);
	(void)sprintf(tok, "%s.%s.x", h, p);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_ALG_REFUSED);
	/* The unsecured form (RFC 7519 6.1) is refused for its alg too. */
	(void)sprintf(tok, "%s.%s.", h, p);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_ALG_REFUSED);
	free(tok);
	/* RS256 with no signature at all. */
	b64_text(HDR, h);
	tok = calloc(1, strlen(h) + strlen(p) + 8);
	(void)sprintf(tok, "%s.%s.", h, p);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_MALFORMED);
	free(tok);

	/* HS256 keyed with the public key's bytes: the classic confusion. */
	n = NULL;
	ck_assert_int_eq(EVP_PKEY_get_bn_param(key_a, OSSL_PKEY_PARAM_RSA_N,
	    &n), 1);
	publen = BN_bn2bin(n, pub);
	BN_free(n);
	b64_text("{\"alg\":\"HS256\",\"kid\":\"kid-a\"}", h);
	tok = calloc(1, strlen(h) + strlen(p) + sizeof(s) + 4);
	(void)sprintf(tok, "%s.%s", h, p);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), pub, publen,
	    (unsigned char *)tok, strlen(tok), mac, &maclen));
	rc_b64url_encode(mac, maclen, s);
	(void)strcat(tok, ".");
	(void)strcat(tok, s);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_ALG_REFUSED);
	free(tok);

	/* Other RSA and case variants are refused too. */
	tok = mint("{\"alg\":\"RS384\",\"kid\":\"kid-a\"}", payload_v2(""),
	    key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_ALG_REFUSED);
	free(tok);
	tok = mint("{\"alg\":\"rs256\",\"kid\":\"kid-a\"}", payload_v2(""),
	    key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_ALG_REFUSED);
	free(tok);
	tok = mint("{\"kid\":\"kid-a\"}", payload_v2(""), key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_MALFORMED);
	free(tok);
	/* A critical extension we cannot honour. */
	tok = mint("{\"alg\":\"RS256\",\"kid\":\"kid-a\",\"crit\":[\"b64\"],"
	    "\"b64\":false}", payload_v2(""), key_a);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_MALFORMED);
	free(tok);
}
END_TEST

START_TEST(test_keys_and_signatures)
{
	struct entra_binding	 b;
	struct entra_claims	 c;
	struct entra_jwks	*set;
	char			*tok, kid[64], err[128];
	size_t			 len;

	keys_setup();
	b = binding();
	/* Signed by a key the tenant does not list, under a listed kid. */
	tok = mint(HDR, payload_v2(""), key_b);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_BAD_SIGNATURE);
	free(tok);
	/* An unknown kid: the caller may refresh (rate-limited). */
	tok = mint("{\"alg\":\"RS256\",\"kid\":\"kid-b\"}", payload_v2(""),
	    key_b);
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_UNKNOWN_KEY);
	ck_assert_int_eq(entra_token_kid(tok, kid, sizeof(kid)), 0);
	ck_assert_str_eq(kid, "kid-b");
	ck_assert_int_eq(entra_token_verify(tok, &b, NULL, NOW, &c),
	    ENTRA_TOKEN_UNKNOWN_KEY);
	/* After a rollover the new key is listed: the token is good. */
	len = strlen(jwks_doc);
	jwks_doc[len - 2] = '\0';
	jwk_append(jwks_doc, sizeof(jwks_doc), key_b, "kid-b");
	(void)strncat(jwks_doc, "]}", sizeof(jwks_doc) - strlen(jwks_doc) -
	    1);
	set = entra_jwks_parse(jwks_doc, strlen(jwks_doc), err, sizeof(err));
	ck_assert_msg(set != NULL, "%s", err);
	ck_assert_uint_eq(entra_jwks_count(set), 2);
	ck_assert(entra_jwks_has(set, "kid-a") && entra_jwks_has(set, "kid-b"));
	ck_assert(!entra_jwks_has(set, "ec"));
	ck_assert_int_eq(entra_token_verify(tok, &b, set, NOW, &c),
	    ENTRA_TOKEN_OK);
	entra_claims_clear(&c);
	entra_jwks_free(set);
	/* The payload changed after signing. */
	tok[strlen(tok) / 2] ^= 1;
	ck_assert_int_ne(verify(tok, &b, &c), ENTRA_TOKEN_OK);
	free(tok);
	/* The signature cut short. */
	tok = mint(HDR, payload_v2(""), key_a);
	tok[strlen(tok) - 4] = '\0';
	ck_assert_int_eq(verify(tok, &b, &c), ENTRA_TOKEN_BAD_SIGNATURE);
	free(tok);
}
END_TEST

START_TEST(test_claims)
{
	char	p[2048];

	keys_setup();
	ck_assert_int_eq(verify_payload(payload_v2("")), ENTRA_TOKEN_OK);
	/* Another tenant's issuer. */
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//login.microsoftonline.com/" OTHER "/v2.0\",\"exp\":%d,\"tid\":"
	    "\"" OTHER "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_ISSUER);
	/* The right issuer, another tid. */
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//login.microsoftonline.com/" TENANT "/v2.0\",\"exp\":%d,\"tid\":"
	    "\"" OTHER "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_TENANT);
	/* Issuer look-alikes. */
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//login.microsoftonline.com/" TENANT "/v2.0/\",\"exp\":%d,"
	    "\"tid\":\"" TENANT "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_ISSUER);
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "\",\"exp\":%d,\"tid\":\"" TENANT
	    "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_ISSUER);
	/* Audiences: another API; an array with ours; a non-string. */
	(void)snprintf(p, sizeof(p), "{\"aud\":\"00000003-0000-0000-c000-"
	    "000000000000\",\"iss\":\"https://sts.windows.net/" TENANT "/\","
	    "\"exp\":%d,\"tid\":\"" TENANT "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_AUDIENCE);
	(void)snprintf(p, sizeof(p), "{\"aud\":[\"x\",\"" API_URI "\"],"
	    "\"iss\":\"https://sts.windows.net/" TENANT "/\",\"exp\":%d,"
	    "\"tid\":\"" TENANT "\"}", NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_OK);
	(void)snprintf(p, sizeof(p), "{\"aud\":7,\"iss\":\"https://sts."
	    "windows.net/" TENANT "/\",\"exp\":%d,\"tid\":\"" TENANT "\"}",
	    NOW + 60);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_WRONG_AUDIENCE);
	/* Time, with 120 s of skew. */
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "/\",\"exp\":%d,\"tid\":\"" TENANT
	    "\"}", NOW - 121);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_EXPIRED);
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "/\",\"exp\":%d,\"tid\":\"" TENANT
	    "\"}", NOW - 119);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_OK);
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "/\",\"exp\":%d,\"nbf\":%d,\"tid\":\""
	    TENANT "\"}", NOW + 900, NOW + 121);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_NOT_YET_VALID);
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "/\",\"nbf\":%d,\"tid\":\"" TENANT
	    "\"}", NOW);
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_MALFORMED);
	(void)snprintf(p, sizeof(p), "{\"aud\":\"" API "\",\"iss\":\"https:"
	    "//sts.windows.net/" TENANT "/\",\"exp\":\"soon\",\"tid\":\""
	    TENANT "\"}");
	ck_assert_int_eq(verify_payload(p), ENTRA_TOKEN_MALFORMED);
	/* A payload that is not an object. */
	ck_assert_int_eq(verify_payload("[1,2]"), ENTRA_TOKEN_MALFORMED);
}
END_TEST

START_TEST(test_malformed)
{
	struct entra_binding	 b;
	struct entra_claims	 c;
	char			*big, kid[8];
	static const char	*bad[] = {
		"", ".", "..", "a.b", "a.b.c.d", "a..c", "!!!.eyJ9.c",
		"eyJhbGciOiJSUzI1NiJ9.eyJ9.c d",
	};
	size_t			 i;

	keys_setup();
	b = binding();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(verify(bad[i], &b, &c) == ENTRA_TOKEN_MALFORMED,
		    "%s", bad[i]);
	ck_assert_int_eq(entra_token_verify(NULL, &b, NULL, NOW, &c),
	    ENTRA_TOKEN_MALFORMED);
	big = malloc(ENTRA_TOKEN_MAX + 2);
	memset(big, 'A', ENTRA_TOKEN_MAX + 1);
	big[10] = '.';
	big[20] = '.';
	big[ENTRA_TOKEN_MAX + 1] = '\0';
	ck_assert_int_eq(verify(big, &b, &c), ENTRA_TOKEN_MALFORMED);
	free(big);
	ck_assert_int_eq(entra_token_kid("a.b.c", kid, sizeof(kid)), -1);
	ck_assert_str_eq(entra_token_status_str(ENTRA_TOKEN_EXPIRED),
	    "token_expired");
	ck_assert_str_eq(entra_token_status_str(ENTRA_TOKEN_STATUS_COUNT),
	    "token_malformed");
}
END_TEST

START_TEST(test_jwks_refusals)
{
	char		 err[128], doc[4096], small[64];
	const char	*bad[] = {
		"not json", "{}", "{\"keys\":{}}", "{\"keys\":[]}",
		"{\"keys\":[{\"kty\":\"EC\",\"kid\":\"x\"}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AQAB\","
		    "\"e\":\"AQAB\"}]}",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"A=\","
		    "\"e\":\"AQAB\"}]}",
	};
	struct entra_jwks	*set;
	EVP_PKEY	*weak;
	size_t		 i;

	keys_setup();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(entra_jwks_parse(bad[i], strlen(bad[i]), err,
		    sizeof(err)) == NULL, "%s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
	}
	/* A 1024-bit key is too weak to trust. */
	weak = EVP_RSA_gen(1024);
	(void)snprintf(doc, sizeof(doc), "{\"keys\":[");
	jwk_append(doc, sizeof(doc), weak, "weak");
	(void)strncat(doc, "]}", sizeof(doc) - strlen(doc) - 1);
	ck_assert_ptr_null(entra_jwks_parse(doc, strlen(doc), err,
	    sizeof(err)));
	EVP_PKEY_free(weak);
	/* The same kid twice is ambiguous. */
	(void)snprintf(doc, sizeof(doc), "{\"keys\":[");
	jwk_append(doc, sizeof(doc), key_a, "dup");
	jwk_append(doc, sizeof(doc), key_b, "dup");
	(void)strncat(doc, "]}", sizeof(doc) - strlen(doc) - 1);
	ck_assert_ptr_null(entra_jwks_parse(doc, strlen(doc), err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "twice"));
	/* Encryption keys are skipped, not fatal. */
	(void)snprintf(doc, sizeof(doc), "{\"keys\":[");
	jwk_append(doc, sizeof(doc), key_a, "sig");
	(void)snprintf(small, sizeof(small), "]}");
	(void)strncat(doc, ",{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"e\"}",
	    sizeof(doc) - strlen(doc) - 1);
	(void)strncat(doc, small, sizeof(doc) - strlen(doc) - 1);
	set = entra_jwks_parse(doc, strlen(doc), err, sizeof(err));
	ck_assert_msg(set != NULL, "%s", err);
	ck_assert_uint_eq(entra_jwks_count(set), 1);
	entra_jwks_free(set);
}
END_TEST

static Suite *
entra_token_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("entra_token");
	tc = tcase_create("verify");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_valid_v1_and_v2);
	tcase_add_test(tc, test_alg_confusion);
	tcase_add_test(tc, test_peek_tid);
	tcase_add_test(tc, test_keys_and_signatures);
	tcase_add_test(tc, test_claims);
	tcase_add_test(tc, test_has_role);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_jwks_refusals);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	return (check_run(entra_token_suite()));
}
