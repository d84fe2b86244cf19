/*
 * scim_filter_sql: compiles a SCIM filter, parsed and type-checked by
 * scim_filter_parse() (scim_filter.h), into a parameterised PostgreSQL
 * boolean expression for the list endpoints (scim_store_list()).
 *
 * This is the only place where a filter meets the schema: the
 * expression is written over one row of the users or groups table of
 * the migrations in sql/, with no table alias, and names these columns:
 *   users:       id, external_id, display_name, user_name_key, active,
 *                emails_key, created_at, updated_at, doc
 *   groups:      id, external_id, display_name, created_at, updated_at,
 *                doc
 *   memberships: group_id, user_id (for members / groups filters)
 * A migration that changes one of them changes this module and its test
 * (tests/check_scim_filter_sql.c).
 *
 * Client values only ever travel as parameters; the text holds nothing
 * but fixed SQL, the columns above and attribute names from the static
 * schema tables (scim_schema.c).  The expression answers what
 * scim_filter_match() answers for the stored document, with one
 * difference by design: members (groups) and groups (users) live in the
 * memberships table, so only "who is in it" questions are accepted
 * there.
 *
 * Pure text generation: no libpq call and no connection.
 */
#ifndef RC_SCIM_FILTER_SQL_H
#define RC_SCIM_FILTER_SQL_H

#include <stddef.h>

#include "scim_error.h"
#include "scim_filter.h"
#include "scim_schema.h"

/*
 * Generated SQL: text with $n placeholders and its text parameters.
 * Owns every string in it; release with scim_sql_clear().
 */
struct scim_sql {
	char	*text;
	char	**params;	/* nparams NUL-terminated strings */
	size_t	 nparams;
};

/*
 * Compile a top-level filter (borrowed) into a SQL boolean expression
 * over the users or groups table, placeholders numbered from
 * first_param.  out is filled on success (release with
 * scim_sql_clear()); on failure returns -1 with 400 invalidFilter (e.g.
 * gt on a boolean, a filter on members other than by value), or 500 when
 * out of memory or type is neither users nor groups; out is left empty.
 */
int	scim_filter_to_sql(const struct scim_filter *, enum scim_resource,
	    struct scim_sql *out, int first_param, struct scim_err *);

/* Free what scim_filter_to_sql() put in sql and zero it (NULL-safe). */
void	scim_sql_clear(struct scim_sql *);

#endif /* RC_SCIM_FILTER_SQL_H */
