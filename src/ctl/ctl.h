/*
 * ctl.h: what rollcallctl's command files share.
 */
#ifndef RC_CTL_H
#define RC_CTL_H

#include <jansson.h>
#include <libpq-fe.h>

#include "settings.h"
#include "store.h"

extern struct settings		settings;
extern struct store_actor	actor;

/* Prints "rollcallctl: ..." to stderr and exits 1. */
void	 die(const char *, ...) __attribute__((noreturn,
	    format(printf, 1, 2)));

/* Connects with the database_url setting, or dies. */
PGconn	*db_connect(void);

/* Prints a JSON value, indented, or dies. */
void	 print_json(json_t *);

/* Prints rows (objects) as an aligned table of the named columns. */
void	 print_table(json_t *rows, const char *const *cols);

/* ctl_policy.c: answers from an index built here, like the server's. */
int	 cmd_effective(int, char **);
int	 cmd_explain(int, char **);
int	 cmd_revoke_all(int, char **);
int	 cmd_quarantine(int, char **);

/* ctl_entra.c: a directory's Entra tenant binding. */
int	 cmd_entra(int, char **);

/* ctl_admin.c: servers, tools, rules, grants, service principals. */
int	 cmd_admin(int, char **);

#endif
