/*
 * settings: rollcall's application settings (database, listen address,
 * workers, limits, logging).  Read from a "key = value" file, then from
 * ROLLCALL_<KEY> environment variables, which win (containers).  Every
 * value is validated; an error names the setting so a bad deployment
 * fails at start with a message an operator can act on.
 */
#ifndef RC_SETTINGS_H
#define RC_SETTINGS_H

#include <stddef.h>

#define SETTINGS_STR_MAX	1024

struct settings {
	char	database_url[SETTINGS_STR_MAX];
	char	listen_addr[64];		/* from "listen" */
	char	listen_port[8];
	char	public_url[SETTINGS_STR_MAX];
	char	instance[64];
	char	log_level[8];
	int	log_level_num;			/* 0 debug .. 3 error */
	int	workers;
	int	db_threads;
	int	db_wait_s;
	int	statement_timeout_ms;		/* per database statement */
	int	decision_ttl_s;
	long	body_max;
	int	token_slots;
	int	change_ring_mb;
	int	failure_audit_s;
	int	policy_max_staleness_s;
	int	antientropy_s;
	int	group_nesting_depth;		/* policy.h, nested groups */
	/* ext_authz: request headers a gateway sets ("" = not used). */
	char	extauthz_subject_header[64];
	char	extauthz_server_header[64];
	char	extauthz_tool_header[64];
	char	extauthz_method_header[64];
	/*
	 * Decision log (decision_log.h): "off", "denies" or "all"; the
	 * share of allows written in "all" (0 to 1); the destination file,
	 * "" for stdout.
	 */
	char	decision_log[8];
	int	decision_log_mode;	/* decision_log_mode */
	double	decision_log_allow_sample;
	char	decision_log_path[SETTINGS_STR_MAX];
	/* The header carrying the caller's Entra access token to ext_authz. */
	char	extauthz_token_header[64];
	/* Entra access tokens (README, "Entra access tokens"). */
	int	entra_token_cache;		/* validated tokens per worker */
	int	entra_refresh_s;		/* scheduled key refresh */
	int	entra_unknown_kid_s;		/* refreshes on unknown kid, at most one per */
	char	entra_ca_bundle[256];		/* "" = the system's CAs */
	char	entra_admin_role[128];		/* "": Entra tokens not admins */
	/* The console's "Sign in with Microsoft" (README); "" client id: off. */
	char	console_entra_client_id[64];
	char	console_entra_tenant[64];
	char	console_entra_scope[256];
	char	console_entra_redirect_uri[512];	/* "": public_url/console/ */
	char	console_entra_authority[256];	/* https://login.microsoftonline.com */
	int	public_url_set;			/* 0: follows listen */
};

struct settings_err {
	char	msg[512];
};

/* Fills s with the documented defaults. */
void	settings_defaults(struct settings *s);

/*
 * Applies the file at path over s.  A missing file is not an error when
 * optional is 1.  Returns 0, or -1 with err naming the line and setting.
 */
int	settings_load_file(struct settings *s, const char *path, int optional,
	    struct settings_err *err);

/*
 * Applies ROLLCALL_<KEY> variables from envp (NULL-terminated, like
 * environ) over s.  ROLLCALL_<KEY>_FILE names a file whose content
 * (without trailing white space) is the value, for secrets mounted as
 * files; giving both forms of one key is an error.  ROLLCALL_SETTINGS
 * (the file's path) is skipped; any other unknown ROLLCALL_ variable is
 * an error.  Returns 0 or -1 with err.
 *
 * Until public_url is set, it follows listen (http://address:port).
 */
int	settings_load_env(struct settings *s, char *const *envp,
	    struct settings_err *err);

/* Sets one setting by name from text; 0 or -1 with err. */
int	settings_set(struct settings *s, const char *key, const char *value,
	    struct settings_err *err);

/* The setting names, NULL-terminated, in documentation order. */
const char *const	*settings_names(void);

#endif
