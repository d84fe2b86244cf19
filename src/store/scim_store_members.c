/*
 * scim_store_members: a group's memberships, set-based (one statement
 * per kind of change, the ids as one uuid[] parameter); see
 * scim_store_impl.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scim_patch.h"
#include "scim_store.h"
#include "scim_store_impl.h"
#include "util.h"

static int	 uuid_cmp(const void *, const void *);
static int	 nest_remove(PGconn *, struct scim_store_req *, const char *,
		    enum member_mode, const char *, long *,
		    struct scim_err *);
static int	 nest_revoke(PGconn *, struct scim_store_req *, const char *,
		    const char *, struct scim_err *);


void
ss_strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * A PostgreSQL uuid[] literal of ids.  With strict, an id that is not a
 * UUID is 400 (it cannot name a user); otherwise it is skipped (it
 * cannot be a member either).  *n gets the number of ids kept.
 */
char *
ss_uuid_array(char *const *ids, size_t nids, int strict, struct scim_err *err,
    size_t *n)
{
	char	*out, *o;
	size_t	 i, j;

	*n = 0;
	if ((out = malloc(nids * 37 + 3)) == NULL) {
		(void)scim_err_set(err, 500, NULL, "Out of memory.");
		return (NULL);
	}
	o = out;
	*o++ = '{';
	for (i = 0; i < nids; i++) {
		if (!rc_is_uuid(ids[i])) {
			if (!strict)
				continue;
			free(out);
			(void)scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "Member '%.64s' is not a user id of this "
			    "directory; members are added by the id the user "
			    "got when it was created.", ids[i]);
			return (NULL);
		}
		if (*n > 0)
			*o++ = ',';
		/* Lower case, as PostgreSQL prints uuids. */
		for (j = 0; j < 36; j++)
			*o++ = (char)tolower((unsigned char)ids[i][j]);
		(*n)++;
	}
	*o++ = '}';
	*o = '\0';
	return (out);
}

static int
uuid_cmp(const void *a, const void *b)
{
	return (strncmp(*(const char *const *)a, *(const char *const *)b, 36));
}

/*
 * 400 unless every id in arr (n ids, lower case) is a live user or a
 * live group of the directory (a group member may be a group: nested
 * groups); those rows stay locked FOR SHARE until COMMIT.  The ids
 * found come back and the first missing one is found here by a sorted
 * merge: no anti-join whose plan depends on fresh statistics.
 */
int
ss_members_check(PGconn *conn, struct scim_store_req *rq, const char *arr,
    struct scim_err *err)
{
	PGresult	*res, *gres;
	const char	*p[2], **want, **have, *missing;
	char		 dir[24];
	size_t		 nwant, nhave, nusers, i, j, k, unknown;

	(void)snprintf(dir, sizeof(dir), "%lld", (long long)rq->directory_id);
	p[0] = arr;
	p[1] = dir;
	if (ss_sx(conn, rq, "SELECT id::text FROM users WHERE id = "
	    "ANY($1::uuid[]) AND directory_id = $2 AND deleted_at IS NULL "
	    "FOR SHARE", 2, p, &res, err) == -1)
		return (-1);
	/* FOR SHARE cannot lock through a UNION: a second statement. */
	if (ss_sx(conn, rq, "SELECT id::text FROM groups WHERE id = "
	    "ANY($1::uuid[]) AND directory_id = $2 AND deleted_at IS NULL "
	    "FOR SHARE", 2, p, &gres, err) == -1) {
		PQclear(res);
		return (-1);
	}

	/* arr is "{id,id,...}" with 36-byte ids. */
	nwant = (strlen(arr) - 1) / 37;
	nusers = (size_t)PQntuples(res);
	nhave = nusers + (size_t)PQntuples(gres);
	want = calloc(nwant + 1, sizeof(*want));
	have = calloc(nhave + 1, sizeof(*have));
	if (want == NULL || have == NULL) {
		free(want);
		free(have);
		PQclear(res);
		PQclear(gres);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}
	for (i = 0; i < nwant; i++)
		want[i] = arr + 1 + i * 37;
	for (i = 0; i < nusers; i++)
		have[i] = PQgetvalue(res, (int)i, 0);
	for (i = nusers; i < nhave; i++)
		have[i] = PQgetvalue(gres, (int)(i - nusers), 0);
	qsort(want, nwant, sizeof(*want), uuid_cmp);
	qsort(have, nhave, sizeof(*have), uuid_cmp);

	missing = NULL;
	unknown = 0;
	for (i = j = 0; i < nwant; i = k) {
		/* Skip repeats of want[i]. */
		for (k = i + 1; k < nwant && strncmp(want[k], want[i], 36) == 0;
		    k++)
			;
		while (j < nhave && strncmp(have[j], want[i], 36) < 0)
			j++;
		if (j < nhave && strncmp(have[j], want[i], 36) == 0)
			continue;
		if (missing == NULL)
			missing = want[i];
		unknown++;
	}
	if (missing != NULL)
		(void)scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "No user "
		    "or group with id '%.36s' in this directory (%zu unknown "
		    "id%s in all); nothing was changed.  Provision the users "
		    "and groups before adding them to the group.", missing,
		    unknown, unknown == 1 ? "" : "s");
	free(want);
	free(have);
	PQclear(res);
	PQclear(gres);
	return (missing != NULL ? -1 : 0);
}

int
ss_members_add(PGconn *conn, struct scim_store_req *rq, const char *gid,
    const char *arr, long *added, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2];
	int		 i;

	p[0] = gid;
	p[1] = arr;
	/* Ids are checked (ss_members_check): each is a user or a group. */
	if (strcasestr(arr, gid) != NULL)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "A "
		    "group cannot be a member of itself; nothing was "
		    "changed."));
	if (ss_sx(conn, rq, "INSERT INTO memberships (group_id, user_id) "
	    "SELECT $1::uuid, u FROM unnest($2::uuid[]) u "
	    "JOIN users ON users.id = u "
	    "ON CONFLICT DO NOTHING RETURNING user_id::text", 2, p, &res,
	    err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++)
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "member", "group", gid, "user",
		    PQgetvalue(res, i, 0), "present", 1));
	*added += PQntuples(res);
	PQclear(res);
	/* Members that are groups: nested (policy.h, nested groups). */
	if (ss_sx(conn, rq, "INSERT INTO group_nestings (group_id, "
	    "member_group_id) SELECT $1::uuid, u FROM unnest($2::uuid[]) u "
	    "JOIN groups ON groups.id = u "
	    "ON CONFLICT DO NOTHING RETURNING member_group_id::text", 2, p,
	    &res, err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++)
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "nest", "group", gid, "member",
		    PQgetvalue(res, i, 0), "present", 1));
	*added += PQntuples(res);
	PQclear(res);
	return (0);
}

/* Removes nested groups from gid, like ss_members_remove does users. */
static int
nest_remove(PGconn *conn, struct scim_store_req *rq, const char *gid,
    enum member_mode mode, const char *arr, long *removed,
    struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2], *sql, *cid;
	int		 i;

	p[0] = gid;
	p[1] = arr;
	switch (mode) {
	case MEMBERS_ALL:
		sql = "DELETE FROM group_nestings WHERE group_id = $1::uuid "
		    "RETURNING member_group_id::text";
		break;
	case MEMBERS_EXCEPT:
		sql = "DELETE FROM group_nestings n WHERE n.group_id = "
		    "$1::uuid AND NOT EXISTS (SELECT 1 FROM "
		    "unnest($2::uuid[]) u WHERE u = n.member_group_id) "
		    "RETURNING n.member_group_id::text";
		break;
	default:
		sql = "DELETE FROM group_nestings n USING unnest($2::uuid[]) u "
		    "WHERE n.group_id = $1::uuid AND n.member_group_id = u "
		    "RETURNING n.member_group_id::text";
		break;
	}
	if (ss_sx(conn, rq, sql, mode == MEMBERS_ALL ? 1 : 2, p, &res,
	    err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++) {
		cid = PQgetvalue(res, i, 0);
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "nest", "group", gid, "member", cid,
		    "present", 0));
		if (nest_revoke(conn, rq, gid, cid, err) == -1) {
			PQclear(res);
			return (-1);
		}
	}
	*removed += PQntuples(res);
	PQclear(res);
	return (0);
}

/*
 * Every user in cid or in a group nested (at any depth) in it may lose
 * access with cid's nesting in gid: a revocation event for each, so
 * gateways drop what they cached for them (README, "Caching").
 */
static int
nest_revoke(PGconn *conn, struct scim_store_req *rq, const char *gid,
    const char *cid, struct scim_err *err)
{
	PGresult	*res;
	const char	*p[1];
	int		 i;

	p[0] = cid;
	if (ss_sx(conn, rq, "WITH RECURSIVE below(g, d) AS (SELECT $1::uuid, "
	    "1 UNION SELECT n.member_group_id, below.d + 1 FROM "
	    "group_nestings n JOIN below ON n.group_id = below.g WHERE "
	    "below.d < 64) SELECT DISTINCT m.user_id::text FROM memberships "
	    "m JOIN below ON m.group_id = below.g", 1, p, &res, err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++)
		store_changes_revoke(rq->changes, rq->directory_id,
		    "membership.removed", PQgetvalue(res, i, 0),
		    json_pack("{s:s, s:s}", "group", gid, "member_group",
		    cid));
	PQclear(res);
	return (0);
}

int
ss_members_remove(PGconn *conn, struct scim_store_req *rq, const char *gid,
    enum member_mode mode, const char *arr, long *removed,
    struct scim_err *err)
{
	PGresult	*res;
	const char	*p[2], *sql, *uid;
	int		 i;

	p[0] = gid;
	p[1] = arr;
	switch (mode) {
	case MEMBERS_ALL:
		sql = "DELETE FROM memberships WHERE group_id = $1::uuid "
		    "RETURNING user_id::text";
		break;
	case MEMBERS_EXCEPT:
		sql = "DELETE FROM memberships m WHERE m.group_id = $1::uuid "
		    "AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[]) u WHERE "
		    "u = m.user_id) RETURNING m.user_id::text";
		break;
	default:
		/* A join, not "= ANY": that scans the array per row. */
		sql = "DELETE FROM memberships m USING unnest($2::uuid[]) u "
		    "WHERE m.group_id = $1::uuid AND m.user_id = u "
		    "RETURNING m.user_id::text";
		break;
	}
	if (ss_sx(conn, rq, sql, mode == MEMBERS_ALL ? 1 : 2, p, &res,
	    err) == -1)
		return (-1);
	for (i = 0; i < PQntuples(res); i++) {
		uid = PQgetvalue(res, i, 0);
		store_changes_add(rq->changes, json_pack("{s:s, s:s, s:s, "
		    "s:b}", "kind", "member", "group", gid, "user", uid,
		    "present", 0));
		store_changes_revoke(rq->changes, rq->directory_id,
		    "membership.removed", uid, json_pack("{s:s}", "group",
		    gid));
	}
	*removed += PQntuples(res);
	PQclear(res);
	return (nest_remove(conn, rq, gid, mode, arr, removed, err));
}

/* The member ids of a normalised group document (PUT, POST). */
int
ss_doc_members(const json_t *doc, char ***ids, size_t *n, struct scim_err *err)
{
	const json_t	*members, *m, *v;
	size_t		 i;

	*ids = NULL;
	*n = 0;
	members = json_object_get(doc, "members");
	if (!json_is_array(members) || json_array_size(members) == 0)
		return (0);
	if (json_array_size(members) > SCIM_PATCH_MAX_MEMBERS)
		return (scim_err_set(err, 413, SCIM_ERR_TOO_MANY, "At most %d "
		    "members may be sent in one request.",
		    SCIM_PATCH_MAX_MEMBERS));
	if ((*ids = calloc(json_array_size(members), sizeof(**ids))) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	json_array_foreach(members, i, m) {
		v = json_object_get(m, "value");
		if (!json_is_string(v)) {
			ss_strv_free(*ids, *n);
			*ids = NULL;
			*n = 0;
			return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "members[%zu] needs a \"value\" with the user's "
			    "or group's id.", i));
		}
		if (((*ids)[*n] = strdup(json_string_value(v))) == NULL) {
			ss_strv_free(*ids, *n);
			*ids = NULL;
			*n = 0;
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		(*n)++;
	}
	return (0);
}
