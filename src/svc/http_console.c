/*
 * http_console.c: GET /console/, the admin console: a few static files
 * (conf/console/) that call the documented admin API from the browser.
 *
 * Like the OpenAPI document, the files are read by the parent before it
 * forks (workers are chrooted and cannot open files later) and served
 * from memory.  A missing console file is not fatal: the API works
 * without the console, and /console/ then says why it is unavailable.
 *
 * Every answer carries a strict Content-Security-Policy (scripts and
 * styles only from this origin, no inline code, nothing framed) plus
 * X-Frame-Options, Referrer-Policy and nosniff, and is not cached, so a
 * new release is picked up at the next load.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "svc.h"
#include "util.h"

#define CONSOLE_DIR	"conf/console"
#define CONSOLE_MAX	(1024 * 1024)

int	page_console(struct http_request *);

struct console_file {
	const char	*name;		/* under CONSOLE_DIR, and in the URL */
	const char	*ctype;
	char		*body;		/* loaded by the parent */
	size_t		 len;
};

static struct console_file	console_files[] = {
	{ "index.html",	"text/html; charset=utf-8", NULL, 0 },
	{ "console.js",	"text/javascript; charset=utf-8", NULL, 0 },
	{ "console.css", "text/css; charset=utf-8", NULL, 0 },
};

#define NFILES	(sizeof(console_files) / sizeof(console_files[0]))

static char *
read_file(const char *path, size_t *len)
{
	FILE	*fp;
	char	*buf;
	size_t	 n;

	if ((fp = fopen(path, "rb")) == NULL)
		return (NULL);
	if ((buf = malloc(CONSOLE_MAX)) == NULL) {
		(void)fclose(fp);
		return (NULL);
	}
	n = fread(buf, 1, CONSOLE_MAX, fp);
	if (ferror(fp) || n == CONSOLE_MAX) {
		free(buf);
		(void)fclose(fp);
		return (NULL);
	}
	(void)fclose(fp);
	*len = n;
	return (buf);
}

void
svc_console_load(void)
{
	char	path[256];
	size_t	i;

	for (i = 0; i < NFILES; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", CONSOLE_DIR,
		    console_files[i].name);
		free(console_files[i].body);
		console_files[i].body = read_file(path,
		    &console_files[i].len);
		if (console_files[i].body == NULL)
			svc_log(SVC_LOG_WARN, "console: cannot read %s (over "
			    "1 MiB or missing): /console/ is unavailable",
			    path);
	}
}

/*
 * The origin (scheme://host[:port]) of the Entra authority the console
 * signs in with, into out; 0, or -1 when sign-in is off or the setting
 * is not a plain https origin (http only on the loopback, for tests),
 * so nothing odd can reach the CSP header.
 */
static int
entra_origin(char *out, size_t size)
{
	const char	*a, *host, *end;
	size_t		 len, i;

	a = svc.settings.console_entra_authority;
	if (svc.settings.console_entra_client_id[0] == '\0' ||
	    svc.settings.console_entra_tenant[0] == '\0')
		return (-1);
	if (strncmp(a, "https://", 8) == 0)
		host = a + 8;
	else if (strncmp(a, "http://127.0.0.1:", 17) == 0 ||
	    strncmp(a, "http://localhost:", 17) == 0)
		host = a + 7;
	else
		return (-1);
	if ((end = strchr(host, '/')) == NULL)
		end = host + strlen(host);
	if (end == host)
		return (-1);
	for (i = 0; host + i < end; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:", host[i]) == NULL)
			return (-1);
	}
	len = (size_t)(end - a);
	if (len >= size)
		return (-1);
	memcpy(out, a, len);
	out[len] = '\0';
	return (0);
}

static void
console_headers(struct http_request *req)
{
	char	origin[256], csp[768];

	/*
	 * The browser itself redeems the sign-in code at the authority's
	 * token endpoint (a public client with PKCE; README, "Sign in with
	 * Microsoft"): that one origin joins connect-src, nothing else.
	 */
	if (entra_origin(origin, sizeof(origin)) == -1)
		origin[0] = '\0';
	(void)snprintf(csp, sizeof(csp),
	    "default-src 'self'; script-src 'self'; style-src 'self'; "
	    "img-src 'self' data:; connect-src 'self'%s%s; object-src 'none'; "
	    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	    origin[0] != '\0' ? " " : "", origin);
	http_response_header(req, "content-security-policy", csp);
	http_response_header(req, "x-frame-options", "DENY");
	http_response_header(req, "referrer-policy", "no-referrer");
	http_response_header(req, "x-content-type-options", "nosniff");
}

/*
 * GET /console/signin.json: what the console needs to offer "Sign in
 * with Microsoft", or {"entra": null} when it is off.  Public: it holds
 * no secret (a public client has none).
 */
static void
signin_config(struct http_request *req)
{
	json_t		*body;
	char		 origin[256], redirect[SETTINGS_STR_MAX + 16];
	const char	*ru;

	console_headers(req);
	if (entra_origin(origin, sizeof(origin)) == -1) {
		body = json_pack("{s:n}", "entra");
	} else {
		ru = svc.settings.console_entra_redirect_uri;
		if (ru[0] == '\0') {
			(void)snprintf(redirect, sizeof(redirect),
			    "%s/console/", svc.settings.public_url);
			ru = redirect;
		}
		body = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}}", "entra",
		    "authority", svc.settings.console_entra_authority,
		    "tenant", svc.settings.console_entra_tenant,
		    "client_id", svc.settings.console_entra_client_id,
		    "scope", svc.settings.console_entra_scope,
		    "redirect_uri", ru);
	}
	if (body == NULL) {
		svc_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal_error",
		    "out of memory");
		return;
	}
	svc_respond_json(req, HTTP_STATUS_OK, body);
	json_decref(body);
}

int
page_console(struct http_request *req)
{
	const char	*name;
	size_t		 i;

	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	/* /console and /console/ are the page; /console/<file> its parts. */
	name = req->path + strlen("/console");
	while (*name == '/')
		name++;
	if (*name == '\0')
		name = "index.html";
	if (strcmp(name, "signin.json") == 0) {
		signin_config(req);
		return (KORE_RESULT_OK);
	}
	for (i = 0; i < NFILES; i++) {
		if (strcmp(console_files[i].name, name) == 0)
			break;
	}
	if (i == NFILES) {
		svc_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no such console file");
		return (KORE_RESULT_OK);
	}
	if (console_files[i].body == NULL) {
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the console files were not found at start; see the log");
		return (KORE_RESULT_OK);
	}
	console_headers(req);
	svc_respond_raw(req, HTTP_STATUS_OK, console_files[i].ctype,
	    console_files[i].body, console_files[i].len);

	return (KORE_RESULT_OK);
}
