/*
 * settings: see settings.h.  Table driven so that the file parser, the
 * environment and the documentation agree on one list of names.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision_log.h"
#include "settings.h"
#include "util.h"

enum setting_kind {
	SETTING_STRING,
	SETTING_INT,
	SETTING_LONG,
	SETTING_LISTEN,
	SETTING_URL,
	SETTING_LOGLEVEL,
	SETTING_DECISIONLOG,
	SETTING_FRACTION,
};

struct setting_def {
	const char		*name;
	enum setting_kind	 kind;
	size_t			 offset;
	size_t			 size;
	long long		 min;
	long long		 max;
};

#define FIELD(f)	offsetof(struct settings, f), sizeof(((struct settings *)0)->f)

static const struct setting_def	setting_defs[] = {
	{ "database_url",	SETTING_STRING,	FIELD(database_url),	0, 0 },
	{ "listen",		SETTING_LISTEN,	0, 0,			0, 0 },
	{ "public_url",		SETTING_URL,	FIELD(public_url),	0, 0 },
	{ "instance",		SETTING_STRING,	FIELD(instance),	0, 0 },
	{ "log_level",		SETTING_LOGLEVEL, FIELD(log_level),	0, 0 },
	{ "workers",		SETTING_INT,	FIELD(workers),		1, 64 },
	{ "db_threads",		SETTING_INT,	FIELD(db_threads),	1, 32 },
	{ "db_wait_s",		SETTING_INT,	FIELD(db_wait_s),	0, 3600 },
	{ "statement_timeout_ms", SETTING_INT,	FIELD(statement_timeout_ms),
	    100, 600000 },
	{ "decision_ttl_s",	SETTING_INT,	FIELD(decision_ttl_s),	0, 86400 },
	{ "body_max",		SETTING_LONG,	FIELD(body_max),	1024,
	    256L * 1024 * 1024 },
	{ "token_slots",	SETTING_INT,	FIELD(token_slots),	64,
	    1 << 20 },
	{ "change_ring_mb",	SETTING_INT,	FIELD(change_ring_mb),	1,
	    4096 },
	{ "failure_audit_s",	SETTING_INT,	FIELD(failure_audit_s),	1,
	    86400 },
	{ "policy_max_staleness_s", SETTING_INT,
	    FIELD(policy_max_staleness_s), 2, 3600 },
	{ "antientropy_s",	SETTING_INT,	FIELD(antientropy_s),	0,
	    86400 },
	{ "group_nesting_depth", SETTING_INT,	FIELD(group_nesting_depth),
	    1, 64 },
	{ "extauthz_subject_header", SETTING_STRING,
	    FIELD(extauthz_subject_header), 0, 0 },
	{ "extauthz_server_header", SETTING_STRING,
	    FIELD(extauthz_server_header), 0, 0 },
	{ "extauthz_tool_header", SETTING_STRING,
	    FIELD(extauthz_tool_header), 0, 0 },
	{ "extauthz_method_header", SETTING_STRING,
	    FIELD(extauthz_method_header), 0, 0 },
	{ "decision_log",	SETTING_DECISIONLOG, FIELD(decision_log), 0, 0 },
	{ "decision_log_allow_sample", SETTING_FRACTION,
	    FIELD(decision_log_allow_sample), 0, 1 },
	{ "decision_log_path",	SETTING_STRING,	FIELD(decision_log_path),
	    0, 0 },
	{ "extauthz_token_header", SETTING_STRING,
	    FIELD(extauthz_token_header), 0, 0 },
	{ "entra_token_cache",	SETTING_INT,	FIELD(entra_token_cache), 16,
	    1 << 20 },
	{ "entra_refresh_s",	SETTING_INT,	FIELD(entra_refresh_s),	10,
	    86400 },
	{ "entra_unknown_kid_s", SETTING_INT,	FIELD(entra_unknown_kid_s), 1,
	    3600 },
	{ "entra_ca_bundle",	SETTING_STRING,	FIELD(entra_ca_bundle),	0, 0 },
	{ "entra_admin_role",	SETTING_STRING,	FIELD(entra_admin_role), 0, 0 },
	{ "console_entra_client_id", SETTING_STRING,
	    FIELD(console_entra_client_id), 0, 0 },
	{ "console_entra_tenant", SETTING_STRING, FIELD(console_entra_tenant),
	    0, 0 },
	{ "console_entra_scope", SETTING_STRING, FIELD(console_entra_scope),
	    0, 0 },
	{ "console_entra_redirect_uri", SETTING_STRING,
	    FIELD(console_entra_redirect_uri), 0, 0 },
	{ "console_entra_authority", SETTING_STRING,
	    FIELD(console_entra_authority), 0, 0 },
};

#define NSETTINGS	(sizeof(setting_defs) / sizeof(setting_defs[0]))

static const char *const	setting_names[NSETTINGS + 1] = {
	"database_url", "listen", "public_url", "instance", "log_level",
	"workers", "db_threads", "db_wait_s", "statement_timeout_ms",
	"decision_ttl_s", "body_max", "token_slots", "change_ring_mb",
	"failure_audit_s", "policy_max_staleness_s", "antientropy_s",
	"group_nesting_depth",
	"extauthz_subject_header",
	"extauthz_server_header", "extauthz_tool_header",
	"extauthz_method_header", "decision_log",
	"decision_log_allow_sample", "decision_log_path",
	"extauthz_token_header", "entra_token_cache", "entra_refresh_s",
	"entra_unknown_kid_s", "entra_ca_bundle", "entra_admin_role", "console_entra_client_id",
	"console_entra_tenant", "console_entra_scope",
	"console_entra_redirect_uri", "console_entra_authority", NULL
};

static int	set_listen(struct settings *, const char *,
		    struct settings_err *);
static char	*trim(char *);
static int	too_long(const struct setting_def *, struct settings_err *);
static int	parse_fraction(const char *, double *);

/* A plain decimal from 0 to 1 ("0", "1", "0.05", ".5"); 0 or -1. */
static int
parse_fraction(const char *value, double *out)
{
	char	*end;
	double	 v;

	/* No signs, exponents, hex, inf or nan: digits and one dot. */
	if (*value == '\0' || strspn(value, "0123456789.") != strlen(value))
		return (-1);
	if (strchr(value, '.') != strrchr(value, '.'))
		return (-1);
	errno = 0;
	v = strtod(value, &end);
	if (errno != 0 || *end != '\0' || end == value || v < 0.0 || v > 1.0)
		return (-1);
	*out = v;
	return (0);
}

void
settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	rc_strlcpy(s->database_url, "hostaddr=127.0.0.1 port=5432 "
	    "dbname=rollcall user=rollcall sslmode=prefer gssencmode=disable "
	    "connect_timeout=5", sizeof(s->database_url));
	rc_strlcpy(s->listen_addr, "127.0.0.1", sizeof(s->listen_addr));
	rc_strlcpy(s->listen_port, "8080", sizeof(s->listen_port));
	rc_strlcpy(s->console_entra_authority,
	    "https://login.microsoftonline.com",
	    sizeof(s->console_entra_authority));
	rc_strlcpy(s->public_url, "http://127.0.0.1:8080",
	    sizeof(s->public_url));
	rc_strlcpy(s->log_level, "info", sizeof(s->log_level));
	s->log_level_num = 1;
	s->workers = 2;
	s->db_threads = 4;
	s->db_wait_s = 30;
	s->statement_timeout_ms = 10000;
	s->decision_ttl_s = 30;
	s->body_max = 4L * 1024 * 1024;
	s->token_slots = 4096;
	s->change_ring_mb = 64;
	s->failure_audit_s = 60;
	s->policy_max_staleness_s = 5;
	s->group_nesting_depth = 8;	/* POLICY_NEST_DEPTH_DEFAULT */
	s->antientropy_s = 60;
	rc_strlcpy(s->extauthz_subject_header, "x-user",
	    sizeof(s->extauthz_subject_header));
	rc_strlcpy(s->extauthz_server_header, "x-mcp-server",
	    sizeof(s->extauthz_server_header));
	rc_strlcpy(s->extauthz_tool_header, "x-mcp-tool",
	    sizeof(s->extauthz_tool_header));
	rc_strlcpy(s->extauthz_method_header, "x-mcp-method",
	    sizeof(s->extauthz_method_header));
	rc_strlcpy(s->decision_log, "all", sizeof(s->decision_log));
	s->decision_log_mode = DECISION_LOG_ALL;
	s->decision_log_allow_sample = 1.0;
	rc_strlcpy(s->extauthz_token_header, "x-forwarded-authorization",
	    sizeof(s->extauthz_token_header));
	s->entra_token_cache = 4096;
	s->entra_refresh_s = 3600;
	s->entra_unknown_kid_s = 30;
}

const char *const *
settings_names(void)
{
	return (setting_names);
}

int
settings_set(struct settings *s, const char *key, const char *value,
    struct settings_err *err)
{
	const struct setting_def	*d;
	char				*field;
	long long			 v;
	double				 f;
	size_t				 i, len;

	for (i = 0, d = NULL; i < NSETTINGS; i++) {
		if (strcmp(setting_defs[i].name, key) == 0) {
			d = &setting_defs[i];
			break;
		}
	}
	if (d == NULL) {
		(void)snprintf(err->msg, sizeof(err->msg),
		    "unknown setting '%s'", key);
		return (-1);
	}

	field = (char *)s + d->offset;
	switch (d->kind) {
	case SETTING_LISTEN:
		return (set_listen(s, value, err));
	case SETTING_URL:
		/*
		 * Trailing slashes would double up in resource locations:
		 * all of them go, and what is left must still be a URL (so
		 * the stored value is one this function accepts again).
		 */
		s->public_url_set = 1;
		len = strlen(value);
		while (len > 0 && value[len - 1] == '/')
			len--;
		/* Spaces and controls have no place in a location. */
		for (i = 0; i < len; i++)
			if ((unsigned char)value[i] <= ' ' ||
			    (unsigned char)value[i] == 0x7f)
				break;
		if ((strncmp(value, "http://", 7) != 0 &&
		    strncmp(value, "https://", 8) != 0) || len < 10 ||
		    i < len) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "setting public_url: '%s' is not an http(s) URL",
			    value);
			return (-1);
		}
		if (len >= d->size)
			return (too_long(d, err));
		memcpy(field, value, len);
		field[len] = '\0';
		return (0);
	case SETTING_STRING:
		if (strlen(value) >= d->size)
			return (too_long(d, err));
		rc_strlcpy(field, value, d->size);
		return (0);
	case SETTING_LOGLEVEL:
		if (strcmp(value, "debug") == 0)
			s->log_level_num = 0;
		else if (strcmp(value, "info") == 0)
			s->log_level_num = 1;
		else if (strcmp(value, "warn") == 0)
			s->log_level_num = 2;
		else if (strcmp(value, "error") == 0)
			s->log_level_num = 3;
		else {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "setting log_level: '%s' is not one of debug, "
			    "info, warn, error", value);
			return (-1);
		}
		rc_strlcpy(s->log_level, value, sizeof(s->log_level));
		return (0);
	case SETTING_DECISIONLOG:
		if (strcmp(value, "off") == 0)
			s->decision_log_mode = DECISION_LOG_OFF;
		else if (strcmp(value, "denies") == 0)
			s->decision_log_mode = DECISION_LOG_DENIES;
		else if (strcmp(value, "all") == 0)
			s->decision_log_mode = DECISION_LOG_ALL;
		else {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "setting decision_log: '%.64s' is not one of off, "
			    "denies, all", value);
			return (-1);
		}
		rc_strlcpy(s->decision_log, value, sizeof(s->decision_log));
		return (0);
	case SETTING_FRACTION:
		if (parse_fraction(value, &f) == -1) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "setting %s: '%.64s' is not a number from 0 to 1 "
			    "(such as 0.05)", d->name, value);
			return (-1);
		}
		*(double *)(void *)field = f;
		return (0);
	case SETTING_INT:
	case SETTING_LONG:
		if (rc_parse_int(value, d->min, d->max, &v) == -1) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "setting %s: '%.64s' is not a whole number from "
			    "%lld to %lld", d->name, value, d->min, d->max);
			return (-1);
		}
		if (d->kind == SETTING_INT)
			*(int *)(void *)field = (int)v;
		else
			*(long *)(void *)field = (long)v;
		return (0);
	}

	return (-1);
}

static int
too_long(const struct setting_def *d, struct settings_err *err)
{
	(void)snprintf(err->msg, sizeof(err->msg),
	    "setting %s: value longer than %zu bytes", d->name, d->size - 1);
	return (-1);
}

static int
set_listen(struct settings *s, const char *value, struct settings_err *err)
{
	const char	*colon;
	long long	 port;
	size_t		 hostlen;
	char		 host[sizeof(s->listen_addr)];
	unsigned char	 addr[sizeof(struct in6_addr)];

	/* host:port, where host is a numeric IPv4 or [IPv6] address. */
	if ((colon = strrchr(value, ':')) == NULL ||
	    rc_parse_int(colon + 1, 1, 65535, &port) == -1) {
		(void)snprintf(err->msg, sizeof(err->msg),
		    "setting listen: '%.64s' is not address:port", value);
		return (-1);
	}
	hostlen = (size_t)(colon - value);
	if (hostlen > 2 && value[0] == '[' && value[hostlen - 1] == ']') {
		value++;
		hostlen -= 2;
	}
	if (hostlen == 0 || hostlen >= sizeof(s->listen_addr)) {
		(void)snprintf(err->msg, sizeof(err->msg),
		    "setting listen: bad address in '%.64s'", value);
		return (-1);
	}
	memcpy(host, value, hostlen);
	host[hostlen] = '\0';
	/* Workers resolve no names (chroot, seccomp): numeric only. */
	if (inet_pton(AF_INET, host, addr) != 1 &&
	    inet_pton(AF_INET6, host, addr) != 1) {
		(void)snprintf(err->msg, sizeof(err->msg),
		    "setting listen: '%.64s' is not a numeric IPv4 or IPv6 "
		    "address", host);
		return (-1);
	}
	memcpy(s->listen_addr, host, hostlen + 1);
	(void)snprintf(s->listen_port, sizeof(s->listen_port), "%lld", port);
	/* Links and banners must name where we really listen. */
	if (!s->public_url_set)
		(void)snprintf(s->public_url, sizeof(s->public_url),
		    strchr(s->listen_addr, ':') != NULL ? "http://[%s]:%s" :
		    "http://%s:%s", s->listen_addr, s->listen_port);

	return (0);
}

static char *
trim(char *p)
{
	char	*end;

	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';

	return (p);
}

int
settings_load_file(struct settings *s, const char *path, int optional,
    struct settings_err *err)
{
	FILE			*fp;
	char			 line[2048], *p, *eq, *key, *value;
	struct settings_err	 lerr;
	int			 lineno, rc;

	if ((fp = fopen(path, "r")) == NULL) {
		if (optional && errno == ENOENT)
			return (0);
		(void)snprintf(err->msg, sizeof(err->msg),
		    "settings file %s: %s", path, strerror(errno));
		return (-1);
	}

	rc = 0;
	lineno = 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (++lineno > 99999)
			break;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "%s:%d: expected 'key = value'", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(p);
		value = trim(eq + 1);
		if (settings_set(s, key, value, &lerr) == -1) {
			(void)snprintf(err->msg, sizeof(err->msg), "%.256s:%d: "
			    "%.170s", path, lineno, lerr.msg);
			rc = -1;
			break;
		}
	}
	(void)fclose(fp);

	return (rc);
}

/*
 * Reads a secret's value from path into buf: the whole file without
 * trailing white space (a file written by echo ends in a newline).
 */
static int
value_from_file(const char *var, const char *path, char *buf, size_t len,
    struct settings_err *err)
{
	FILE	*fp;
	size_t	 n;

	if ((fp = fopen(path, "r")) == NULL) {
		(void)snprintf(err->msg, sizeof(err->msg), "%s: cannot read "
		    "%.200s: %s", var, path, strerror(errno));
		return (-1);
	}
	n = fread(buf, 1, len, fp);
	(void)fclose(fp);
	if (n == len) {
		(void)snprintf(err->msg, sizeof(err->msg), "%s: %.200s is "
		    "longer than %zu bytes", var, path, len - 1);
		return (-1);
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';

	return (0);
}

/* 1 if envp also holds ROLLCALL_<KEY>, key being upper-cased name. */
static int
env_has(char *const *envp, const char *name, size_t len)
{
	size_t	i, n;

	for (i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], "ROLLCALL_", 9) != 0)
			continue;
		for (n = 0; n < len; n++) {
			if (toupper((unsigned char)name[n]) !=
			    envp[i][9 + n])
				break;
		}
		if (n == len && envp[i][9 + len] == '=')
			return (1);
	}

	return (0);
}

int
settings_load_env(struct settings *s, char *const *envp,
    struct settings_err *err)
{
	char		 key[64], var[80], *value;
	const char	*name, *eq;
	size_t		 i, n, len;
	int		 from_file, rc;

	for (i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strncmp(envp[i], "ROLLCALL_", 9) != 0)
			continue;
		name = envp[i] + 9;
		if ((eq = strchr(name, '=')) == NULL)
			continue;
		len = (size_t)(eq - name);
		if (len == 0 || len >= sizeof(key))
			continue;
		for (n = 0; n < len; n++)
			key[n] = (char)tolower((unsigned char)name[n]);
		key[len] = '\0';
		if (strcmp(key, "settings") == 0)
			continue;
		from_file = len > 5 && strcmp(key + len - 5, "_file") == 0;
		if (from_file) {
			len -= 5;
			key[len] = '\0';
		}
		for (n = 0; setting_names[n] != NULL; n++) {
			if (strcmp(setting_names[n], key) == 0)
				break;
		}
		if (setting_names[n] == NULL) {
			/* A typo must not silently fall back to a default. */
			(void)snprintf(err->msg, sizeof(err->msg),
			    "unknown setting in environment: ROLLCALL_%.*s",
			    (int)(eq - name), name);
			return (-1);
		}
		if (!from_file) {
			if (settings_set(s, key, eq + 1, err) == -1)
				return (-1);
			continue;
		}
		(void)snprintf(var, sizeof(var), "ROLLCALL_%.*s_FILE",
		    (int)len, name);
		if (env_has(envp, key, len)) {
			(void)snprintf(err->msg, sizeof(err->msg), "both "
			    "ROLLCALL_%.*s and %s are set: give one", (int)len,
			    name, var);
			return (-1);
		}
		if ((value = malloc(SETTINGS_STR_MAX + 1)) == NULL) {
			(void)snprintf(err->msg, sizeof(err->msg),
			    "out of memory");
			return (-1);
		}
		rc = value_from_file(var, eq + 1, value, SETTINGS_STR_MAX + 1,
		    err);
		if (rc == 0)
			rc = settings_set(s, key, value, err);
		explicit_bzero(value, SETTINGS_STR_MAX + 1);
		free(value);
		if (rc == -1)
			return (-1);
	}

	return (0);
}
