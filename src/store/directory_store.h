/*
 * directory_store: read-only views of what SCIM provisions (users,
 * groups, memberships, owned service principals) for the admin API and
 * rollcallctl.  Every call is scoped to a directory (0: all, for global
 * admin tokens); rows of other directories and deleted rows are
 * invisible (404).  Lists use keyset pagination on (sort key, id) where
 * the position is the last row's id: the sort key is looked up again,
 * so positions stay small whatever the names are.
 */
#ifndef RC_DIRECTORY_STORE_H
#define RC_DIRECTORY_STORE_H

#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "store.h"

#define DIRECTORY_STORE_LIMIT_MAX	1000

enum directory_sort {
	DIRECTORY_SORT_CREATED,
	DIRECTORY_SORT_USERNAME,	/* users only */
	DIRECTORY_SORT_DISPLAYNAME,
};

/* Filters, order and position of one page; NULL / -1 mean "any". */
struct directory_query {
	int64_t			 directory_id;	/* 0: every directory */
	const char		*user_name;	/* users: by identity key */
	const char		*email;		/* users: by identity key */
	const char		*external_id;
	const char		*display_name;	/* groups: case-insensitive */
	const char		*group;		/* users: member of (uuid) */
	int			 active;	/* users/members: -1, 0, 1 */
	enum directory_sort	 sort;
	int			 descending;
	const char		*after;		/* uuid of the last row seen */
	int			 limit;		/* 1..LIMIT_MAX below */
};

/* One page: *rows is a new array (caller decrefs), more when rows follow. */
struct directory_page {
	json_t	*rows;
	int	 more;
	char	 last[37];			/* id of the page's last row */
};

/* Users matching q (users of group q->group when set). */
int	directory_store_users(PGconn *, const struct directory_query *q,
	    struct directory_page *, struct store_err *);

/*
 * One user by id or userName, with "groups" (first 100 by name),
 * "group_count", "service_principals" it owns, and its SCIM document
 * ("scim").  *out is new (caller decrefs); 404 when not visible.
 */
int	directory_store_user(PGconn *, int64_t directory_id, const char *key,
	    json_t **out, struct store_err *);

/* The groups of user id (order by group id; uses q->after, q->limit). */
int	directory_store_user_groups(PGconn *, const struct directory_query *q,
	    const char *id, struct directory_page *, struct store_err *);

/* Groups matching q, each with its live member count. */
int	directory_store_groups(PGconn *, const struct directory_query *q,
	    struct directory_page *, struct store_err *);

/*
 * One group with its member count and its direct nestings
 * (member_groups, member_of: [{id, displayName}], live groups of its
 * directory, at most 500 each); 404 when not visible.
 */
int	directory_store_group(PGconn *, int64_t directory_id, const char *id,
	    json_t **out, struct store_err *);

/* Members of group id (order by user id; q->active, q->after, q->limit). */
int	directory_store_group_members(PGconn *,
	    const struct directory_query *q, const char *id,
	    struct directory_page *, struct store_err *);

#endif
