/*
 * ctl_entra.c: rollcallctl entra: a directory's Entra tenant binding,
 * through the same store calls as the admin API (validation, audit,
 * the NOTIFY that running servers reload on).
 *
 *   rollcallctl entra bind DIRECTORY --tenant TID --audience AUD
 *       [--audience AUD ...] [--versions v1,v2] [--skew-s N]
 *       [--openid-url URL | --jwks-file FILE]
 *   rollcallctl entra show DIRECTORY [--json]
 *   rollcallctl entra unbind DIRECTORY
 */
#include <sys/types.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "entra_store.h"
#include "util.h"

#define JWKS_FILE_MAX	(256 * 1024)

static char *
read_file(const char *path)
{
	FILE	*fp;
	char	*buf;
	size_t	 n;

	if ((fp = fopen(path, "r")) == NULL)
		die("cannot open %s", path);
	if ((buf = malloc(JWKS_FILE_MAX + 1)) == NULL)
		die("out of memory");
	n = fread(buf, 1, JWKS_FILE_MAX + 1, fp);
	(void)fclose(fp);
	if (n > JWKS_FILE_MAX)
		die("%s is larger than %d bytes", path, JWKS_FILE_MAX);
	buf[n] = '\0';
	return (buf);
}

static int
entra_bind(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "audience", required_argument, NULL, 'a' },
		{ "versions", required_argument, NULL, 'v' },
		{ "skew-s", required_argument, NULL, 's' },
		{ "openid-url", required_argument, NULL, 'o' },
		{ "jwks-file", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_entra_binding	 b;
	struct store_err		 err;
	PGconn				*conn;
	json_t				*auds, *out;
	const char			*dir;
	char				*jwks, url[1100];
	long long			 skew;
	int64_t				 id;
	int				 c;

	if (argc < 3 || argv[2][0] == '-')
		die("usage: rollcallctl entra bind DIRECTORY --tenant TID "
		    "--audience AUD ...");
	dir = argv[2];
	memset(&b, 0, sizeof(b));
	b.accept_v1 = b.accept_v2 = 1;
	b.skew_s = 120;
	auds = json_array();
	jwks = NULL;
	optind = 3;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			b.tenant_id = optarg;
			break;
		case 'a':
			(void)json_array_append_new(auds, json_string(optarg));
			break;
		case 'v':
			b.accept_v1 = strstr(optarg, "v1") != NULL ||
			    strstr(optarg, "1.0") != NULL;
			b.accept_v2 = strstr(optarg, "v2") != NULL ||
			    strstr(optarg, "2.0") != NULL;
			break;
		case 's':
			if (rc_parse_int(optarg, 0, 300, &skew) == -1)
				die("--skew-s must be 0 to 300");
			b.skew_s = (int)skew;
			break;
		case 'o':
			b.openid_url = optarg;
			break;
		case 'j':
			jwks = read_file(optarg);
			b.jwks = jwks;
			break;
		default:
			die("unknown option; see rollcallctl --help");
		}
	}
	b.audiences = auds;
	if (b.openid_url == NULL && b.jwks == NULL && b.tenant_id != NULL &&
	    strlen(b.tenant_id) < 64) {
		(void)snprintf(url, sizeof(url), "https://login."
		    "microsoftonline.com/%s/v2.0/.well-known/"
		    "openid-configuration", b.tenant_id);
		b.openid_url = url;
	}
	conn = db_connect();
	if (store_directory_id(conn, dir, &id, NULL, 0, &err) == -1 ||
	    store_entra_bind(conn, &actor, id, &b, &out, &err) == -1)
		die("%s", err.msg);
	printf("bound directory %s to tenant %s\n", dir, b.tenant_id);
	json_decref(out);
	json_decref(auds);
	free(jwks);
	PQfinish(conn);
	return (0);
}

int
cmd_entra(int argc, char **argv)
{
	struct store_err	 err;
	PGconn			*conn;
	json_t			*out;
	int64_t			 id;

	if (argc < 3)
		die("usage: rollcallctl entra bind|show|unbind DIRECTORY ...");
	if (strcmp(argv[1], "bind") == 0)
		return (entra_bind(argc, argv));
	conn = db_connect();
	if (store_directory_id(conn, argv[2], &id, NULL, 0, &err) == -1)
		die("%s", err.msg);
	if (strcmp(argv[1], "show") == 0) {
		if (store_entra_get(conn, id, &out, &err) == -1)
			die("%s", err.msg);
		print_json(out);
		json_decref(out);
	} else if (strcmp(argv[1], "unbind") == 0) {
		if (store_entra_unbind(conn, &actor, id, &err) == -1)
			die("%s", err.msg);
		printf("unbound directory %s\n", argv[2]);
	} else {
		die("usage: rollcallctl entra bind|show|unbind DIRECTORY ...");
	}
	PQfinish(conn);
	return (0);
}
