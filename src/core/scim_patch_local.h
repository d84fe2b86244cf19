/*
 * scim_patch_local: the PATCH engine's private layout, shared by its four
 * files and by nothing else (scim_patch.h is the interface):
 *   scim_patch.c          the entry point, the result, the dispatch of
 *                         one operation by path, and the small helpers
 *                         every file uses (patch_nomem, patch_work_charge,
 *                         patch_json_blank, patch_obj_get_ci);
 *   scim_patch_attr.c     one operation on one attribute: whole, one
 *                         sub-attribute, or the elements a value filter
 *                         selects;
 *   scim_patch_value.c    a client value checked and shaped against the
 *                         schema, and the elements of multi-valued
 *                         attributes (match, seed, append, primary);
 *   scim_patch_members.c  group members, folded into the net change set.
 *
 * Every function works on ctx->doc, the working copy; one that fails
 * sets ctx->err and returns -1, and the copy is then thrown away by
 * scim_patch_apply().  Values passed in are borrowed; a json_t * handed
 * back is a new reference the caller owns.
 */
#ifndef RC_SCIM_PATCH_LOCAL_H
#define RC_SCIM_PATCH_LOCAL_H

#include <stddef.h>

#include <jansson.h>

#include "hashmap.h"
#include "scim_error.h"
#include "scim_filter.h"
#include "scim_patch.h"
#include "scim_schema.h"

#define PATCH_NAME_MAX		192
#define PATCH_VALUE_DEPTH	8
#define PATCH_SMALL_ADD		4	/* below this, dedup without hashing */

enum patch_op {
	PATCH_ADD,
	PATCH_REPLACE,
	PATCH_REMOVE
};

enum member_state {
	MEMBER_NONE,
	MEMBER_ADD,
	MEMBER_REMOVE
};

struct member_ent {
	char			*id;
	enum member_state	 state;
};

struct patch_ctx {
	enum scim_resource	 type;
	json_t			*doc;		/* the working copy */
	struct scim_err		*err;
	struct hashmap		 mmap;		/* id -> index + 1 */
	struct member_ent	*ments;
	size_t			 nments;
	size_t			 cments;
	int			 clear;
	size_t			 work;		/* element visits so far */
};

/* scim_patch.c: the small helpers. */
int		 patch_nomem(struct patch_ctx *);	/* 500, -1 */
int		 patch_work_charge(struct patch_ctx *, size_t); /* 413 */
int		 patch_json_blank(const json_t *);	/* "unassigned" */
json_t		*patch_obj_get_ci(const json_t *, const char *); /* borrowed */

/* scim_patch_attr.c: one operation on one attribute. */
int		 patch_whole(struct patch_ctx *, enum patch_op,
		    const struct scim_attr_ref *, const json_t *);
int		 patch_sub(struct patch_ctx *, enum patch_op,
		    const struct scim_attr_ref *, const json_t *);
int		 patch_filtered(struct patch_ctx *, enum patch_op,
		    const struct scim_path *, const json_t *);

/* scim_patch_value.c: values and multi-valued elements. */
json_t		*patch_value_prepare(struct patch_ctx *,
		    const struct scim_attr_ref *, const json_t *, int, int *);
void		 patch_value_prune(json_t *);
int		 patch_value_merge(json_t *, const json_t *);
int		 patch_elem_is_empty(const json_t *);
int		 patch_elem_subset(const json_t *, const json_t *,
		    const struct scim_attr *);
int		 patch_elem_seed(struct patch_ctx *,
		    const struct scim_attr_ref *, const struct scim_filter *,
		    json_t *);
int		 patch_multi_append(struct patch_ctx *,
		    const struct scim_attr_ref *, json_t *, const json_t *);
void		 patch_primary_claim(json_t *, const json_t *);
void		 patch_drop_empty(json_t *);

/* scim_patch_members.c: the member change set. */
int		 patch_members(struct patch_ctx *, enum patch_op,
		    const struct scim_path *, const json_t *);
int		 patch_member_export(struct patch_ctx *,
		    struct scim_patch_members *);

#endif
