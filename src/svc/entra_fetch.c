/*
 * entra_fetch.c: see entra_fetch.h.  HTTP/1.0 GET (so no chunked
 * bodies), a verified TLS connection (chain and host name), bounded in
 * size and time.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entra_fetch.h"
#include "entra_token.h"
#include "svc.h"
#include "util.h"

#define FETCH_BODY_MAX		(256 * 1024)
#define FETCH_TIMEOUT_S		5
#define SYSTEM_CA_BUNDLE	"/etc/ssl/certs/ca-certificates.crt"

static SSL_CTX	*client_ctx;

void
entra_fetch_init(const char *ca_file)
{
	const char	*file;

	file = ca_file != NULL && *ca_file != '\0' ? ca_file :
	    SYSTEM_CA_BUNDLE;
	if ((client_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return;
	(void)SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(client_ctx, file, NULL) != 1) {
		svc_log(SVC_LOG_WARN, "entra: cannot load CA certificates "
		    "from %s (setting entra_ca_bundle): key fetches will fail",
		    file);
		ERR_clear_error();
	}
}

struct url {
	char	host[256];
	char	port[8];
	char	path[1024];
};

static int
url_parse(const char *s, struct url *u, char *why, size_t whysize)
{
	const char	*h, *p, *colon;
	size_t		 hl;

	if (strncmp(s, "https://", 8) != 0) {
		(void)snprintf(why, whysize, "not an https:// URL");
		return (-1);
	}
	h = s + 8;
	p = h + strcspn(h, "/?#");
	colon = memchr(h, ':', (size_t)(p - h));
	hl = (size_t)((colon != NULL ? colon : p) - h);
	if (hl == 0 || hl >= sizeof(u->host) || strlen(p) >= sizeof(u->path) ||
	    (colon != NULL && ((size_t)(p - colon - 1) >= sizeof(u->port) ||
	    p - colon - 1 == 0))) {
		(void)snprintf(why, whysize, "unusable URL");
		return (-1);
	}
	(void)snprintf(u->host, sizeof(u->host), "%.*s", (int)hl, h);
	if (colon != NULL)
		(void)snprintf(u->port, sizeof(u->port), "%.*s",
		    (int)(p - colon - 1), colon + 1);
	else
		rc_strlcpy(u->port, "443", sizeof(u->port));
	(void)snprintf(u->path, sizeof(u->path), "%s", *p == '/' ? p : "/");
	if (strpbrk(u->path, " \r\n") != NULL) {
		(void)snprintf(why, whysize, "unusable URL");
		return (-1);
	}
	return (0);
}

static int
tcp_connect(const struct url *u, char *why, size_t whysize)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv;
	int		 fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		(void)snprintf(why, whysize, "cannot resolve %s: %s", u->host,
		    gai_strerror(rc));
		return (-1);
	}
	fd = -1;
	tv.tv_sec = FETCH_TIMEOUT_S;
	tv.tv_usec = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		(void)snprintf(why, whysize, "cannot connect to %s:%s",
		    u->host, u->port);
	return (fd);
}

/* One GET; 0 with *body (NUL-terminated, caller frees), or -1. */
static int
https_get(const char *url, char **body, char *why, size_t whysize)
{
	struct url	 u;
	SSL		*ssl;
	char		 req[1400], *buf, *hdr_end;
	size_t		 len, cap;
	int		 fd, n, status, rc;

	*body = NULL;
	if (client_ctx == NULL) {
		(void)snprintf(why, whysize, "no TLS client context");
		return (-1);
	}
	if (url_parse(url, &u, why, whysize) == -1)
		return (-1);
	if ((fd = tcp_connect(&u, why, whysize)) == -1)
		return (-1);
	rc = -1;
	buf = NULL;
	if ((ssl = SSL_new(client_ctx)) == NULL)
		goto out;
	(void)SSL_set_tlsext_host_name(ssl, u.host);
	(void)SSL_set1_host(ssl, u.host);
	(void)SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		(void)snprintf(why, whysize, "TLS with %s failed: %s", u.host,
		    SSL_get_verify_result(ssl) != X509_V_OK ?
		    X509_verify_cert_error_string(SSL_get_verify_result(ssl)) :
		    "handshake error");
		goto out;
	}
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
	    "Accept: application/json\r\nUser-Agent: rollcall\r\n"
	    "Connection: close\r\n\r\n", u.path, u.host);
	if (n < 0 || (size_t)n >= sizeof(req) || SSL_write(ssl, req, n) != n) {
		(void)snprintf(why, whysize, "cannot send to %s", u.host);
		goto out;
	}
	cap = 16384;
	len = 0;
	if ((buf = malloc(cap + 1)) == NULL)
		goto out;
	for (;;) {
		if (len == cap) {
			if (cap >= FETCH_BODY_MAX + 8192) {
				(void)snprintf(why, whysize, "%s: answer too "
				    "large", u.host);
				goto out;
			}
			cap *= 2;
			if ((*body = realloc(buf, cap + 1)) == NULL)
				goto out;
			buf = *body;
			*body = NULL;
		}
		if ((n = SSL_read(ssl, buf + len, (int)(cap - len))) <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 ||
	    (hdr_end = strstr(buf, "\r\n\r\n")) == NULL) {
		(void)snprintf(why, whysize, "%s: not an HTTP answer", u.host);
		goto out;
	}
	if (status != 200) {
		(void)snprintf(why, whysize, "%s answered %d", url, status);
		goto out;
	}
	hdr_end += 4;
	len -= (size_t)(hdr_end - buf);
	memmove(buf, hdr_end, len + 1);
	*body = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	ERR_clear_error();
	(void)close(fd);
	return (rc);
}

int
entra_fetch_jwks(const char *openid_url, char **jwks, char *why,
    size_t whysize)
{
	struct entra_jwks	*keys;
	json_t			*conf;
	const char		*uri;
	char			*doc, err[160];

	*jwks = NULL;
	if (https_get(openid_url, &doc, why, whysize) == -1)
		return (-1);
	conf = json_loads(doc, 0, NULL);
	free(doc);
	uri = json_string_value(json_object_get(conf, "jwks_uri"));
	if (uri == NULL || strncmp(uri, "https://", 8) != 0) {
		(void)snprintf(why, whysize, "the OpenID configuration has no "
		    "https:// jwks_uri");
		json_decref(conf);
		return (-1);
	}
	if (https_get(uri, &doc, why, whysize) == -1) {
		json_decref(conf);
		return (-1);
	}
	json_decref(conf);
	if ((keys = entra_jwks_parse(doc, strlen(doc), err,
	    sizeof(err))) == NULL) {
		(void)snprintf(why, whysize, "the key set is unusable: %s",
		    err);
		free(doc);
		return (-1);
	}
	entra_jwks_free(keys);
	*jwks = doc;
	return (0);
}
