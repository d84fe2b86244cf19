/*
 * scim_store_impl: what the scim_store*.c files share, private to them
 * (the public surface is scim_store.h).
 *
 *   scim_store.c          reads: one resource, a list page, and the
 *                         helpers every file uses (ss_sx, ss_load,
 *                         ss_row_resource)
 *   scim_store_members.c  a group's memberships, set-based
 *   scim_store_write.c    create, replace, patch and delete: row locks,
 *                         the derived columns, change records, audit
 *
 * Concurrency: a write locks the resource's row (SELECT ... FOR UPDATE)
 * before it reads the document it changes, so two PATCHes of one group
 * apply one after the other and neither loses the other's members.
 * Users named as new members are locked FOR SHARE, so a concurrent
 * DELETE of one of them either happens first (and the PATCH answers
 * 400) or waits until the membership exists (and then removes it).
 * Member changes are set-based (one statement per kind of change with
 * the ids as a uuid[] parameter) so ten thousand members cost a few
 * statements, not ten thousand.
 *
 * Every function here returns 0, or -1 with err set in SCIM terms (and
 * rq->retry set on a serialisation failure); none begins, commits or
 * rolls back: the scim_store_* entry point that called it does.
 */
#ifndef RC_STORE_SCIM_STORE_IMPL_H
#define RC_STORE_SCIM_STORE_IMPL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "scim_store.h"

#define TS(c)	"to_char(" c " AT TIME ZONE 'UTC', " \
		"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define COLS	"id, doc, " TS("created_at") ", " TS("updated_at") \
		", version"


enum member_mode {
	MEMBERS_ONLY,		/* delete the listed ids */
	MEMBERS_ALL,		/* delete every member */
	MEMBERS_EXCEPT		/* delete every member not listed */
};

/* store_exec with the outcome in SCIM terms (rq->retry on a retry). */
int		 ss_sx(PGconn *, struct scim_store_req *, const char *, int,
		    const char *const *, PGresult **, struct scim_err *);
/* "users" / "groups", and "user" / "group" for messages. */
const char	*ss_tbl(enum scim_resource);
const char	*ss_kind(enum scim_resource);
/* The resource in row i of res (COLS, then optionally refs): new ref. */
json_t		*ss_row_resource(enum scim_resource, const char *, PGresult *,
		    int);
/* One live resource by id (*out: new reference), 404 when none. */
int		 ss_load(PGconn *, struct scim_store_req *, enum scim_resource,
		    const char *, int, json_t **, struct scim_err *);

/* Frees n strings and the vector. */
void		 ss_strv_free(char **, size_t);
/* A uuid[] literal (malloc'd, caller frees) of ids; *n: ids kept. */
char		*ss_uuid_array(char *const *, size_t, int, struct scim_err *,
		    size_t *);
/* 400 unless every id of the uuid[] literal is a live user (FOR SHARE). */
int		 ss_members_check(PGconn *, struct scim_store_req *,
		    const char *, struct scim_err *);
/* Adds / removes memberships of group gid, queuing change records. */
int		 ss_members_add(PGconn *, struct scim_store_req *, const char *,
		    const char *, long *, struct scim_err *);
int		 ss_members_remove(PGconn *, struct scim_store_req *,
		    const char *, enum member_mode, const char *, long *,
		    struct scim_err *);
/* The member ids of a normalised group document (*ids: ss_strv_free). */
int		 ss_doc_members(const json_t *, char ***, size_t *,
		    struct scim_err *);

#endif
