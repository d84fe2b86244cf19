/*
 * scim_schema_project: a stored document projected for a reply, by the
 * "attributes" or "excludedAttributes" the client named (RFC 7644
 * section 3.9); see scim_schema.h.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "policy.h"
#include "scim_error.h"
#include "scim_schema.h"
#include "scim_schema_local.h"

/* Projection selection marks (see scim_schema_project). */
#define SEL_NONE	0
#define SEL_ALL		1
#define SEL_SUBS	2
#define SEL_MAX_ATTRS	32

struct sel {
	const struct scim_schema	*schema;
	unsigned char			 mark[SEL_MAX_ATTRS];
	uint32_t			 subs[SEL_MAX_ATTRS];
};

static int			 sel_parse(enum scim_resource, const char *,
				    struct sel *, size_t);
static struct sel		*sel_find(struct sel *, size_t,
				    const struct scim_schema *);
static json_t			*project_value(const struct scim_attr *,
				    const json_t *, uint32_t, int);
static int			 project_schema(json_t *,
				    const struct scim_schema *, const json_t *,
				    struct sel *, int, int);

static struct sel *
sel_find(struct sel *sels, size_t n, const struct scim_schema *schema)
{
	size_t		i;

	for (i = 0; i < n; i++) {
		if (sels[i].schema == schema)
			return (&sels[i]);
	}
	return (NULL);
}

/*
 * Mark the names of a comma-separated attributes list in sels.  A whole
 * extension URN marks every attribute of that extension.
 */
static int
sel_parse(enum scim_resource type, const char *list, struct sel *sels,
    size_t nsels)
{
	const struct scim_schema	*schema;
	struct scim_attr_ref		 ref;
	struct sel			*s;
	const char			*p, *end;
	char				 name[256], *br;
	size_t				 len, idx, sidx, i;

	for (p = list; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		len = (size_t)(end - p);
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(name))
			continue;
		memcpy(name, p, len);
		name[len] = '\0';

		/* Microsoft's suite sends attributes=emails[type eq "work"]. */
		if ((br = strchr(name, '[')) != NULL)
			*br = '\0';

		if ((schema = scim_schema_by_urn(type, name)) != NULL) {
			if ((s = sel_find(sels, nsels, schema)) == NULL)
				continue;
			for (i = 0; i < schema->nattrs; i++)
				s->mark[i] = SEL_ALL;
			continue;
		}
		if (scim_schema_lookup(type, name, &ref) == -1)
			continue;
		if ((s = sel_find(sels, nsels, ref.schema)) == NULL)
			continue;
		idx = (size_t)(ref.attr - ref.schema->attrs);
		if (idx >= SEL_MAX_ATTRS)
			continue;
		if (ref.sub == NULL) {
			s->mark[idx] = SEL_ALL;
		} else if (s->mark[idx] != SEL_ALL) {
			sidx = (size_t)(ref.sub - ref.attr->subs);
			if (sidx < 32) {
				s->mark[idx] = SEL_SUBS;
				s->subs[idx] |= (uint32_t)1 << sidx;
			}
		}
	}
	return (0);
}

/*
 * Copy a complex value (object, or array of objects) keeping (include)
 * or dropping (!include) the sub-attributes in mask.  NULL when nothing
 * is left (or on allocation failure, which projection treats alike).
 */
static json_t *
project_value(const struct scim_attr *attr, const json_t *v, uint32_t mask,
    int include)
{
	const struct scim_attr	*sub;
	const char		*key;
	json_t			*out, *e, *obj;
	void			*iter;
	size_t			 i, sidx;
	int			 in;

	if (json_is_array(v)) {
		if ((out = json_array()) == NULL)
			return (NULL);
		for (i = 0; i < json_array_size(v); i++) {
			e = project_value(attr, json_array_get(v, i), mask,
			    include);
			if (e != NULL && json_array_append_new(out, e) == -1) {
				json_decref(out);
				return (NULL);
			}
		}
		if (json_array_size(out) == 0) {
			json_decref(out);
			return (NULL);
		}
		return (out);
	}
	if (!json_is_object(v))
		return (include ? NULL : json_deep_copy(v));

	obj = (json_t *)(uintptr_t)v;
	if ((out = json_object()) == NULL)
		return (NULL);
	for (iter = json_object_iter(obj); iter != NULL;
	    iter = json_object_iter_next(obj, iter)) {
		key = json_object_iter_key(iter);
		if ((sub = scim_attr_sub(attr, key)) == NULL) {
			in = !include;
		} else {
			sidx = (size_t)(sub - attr->subs);
			in = (sidx < 32 && (mask & ((uint32_t)1 << sidx))) ?
			    include : !include;
			if (sub->returned == SCIM_RET_ALWAYS)
				in = 1;
			if (sub->returned == SCIM_RET_NEVER)
				in = 0;
		}
		if (!in)
			continue;
		if (json_object_set_new(out, key,
		    json_deep_copy(json_object_iter_value(iter))) == -1) {
			json_decref(out);
			return (NULL);
		}
	}
	if (json_object_size(out) == 0) {
		json_decref(out);
		return (NULL);
	}
	return (out);
}

/*
 * Copy the attributes of one schema from src (the resource or its
 * extension object) into dst.  mode: 0 none given, 1 attributes,
 * 2 excludedAttributes.
 */
static int
project_schema(json_t *dst, const struct scim_schema *schema,
    const json_t *src, struct sel *s, int mode, int core)
{
	const struct scim_attr	*attr;
	const char		*key;
	json_t			*obj, *cv;
	void			*iter;
	size_t			 idx;
	int			 mark;

	obj = (json_t *)(uintptr_t)src;
	for (iter = json_object_iter(obj); iter != NULL;
	    iter = json_object_iter_next(obj, iter)) {
		key = json_object_iter_key(iter);
		if (core && strncasecmp(key, "urn:", 4) == 0)
			continue;	/* extension objects: caller */
		attr = schema_attr(schema, key, strlen(key));
		if (attr == NULL) {
			/* Not ours to judge; only a positive list drops it. */
			if (mode == 1)
				continue;
			cv = json_deep_copy(json_object_iter_value(iter));
		} else {
			idx = (size_t)(attr - schema->attrs);
			mark = (idx < SEL_MAX_ATTRS && s != NULL) ?
			    s->mark[idx] : SEL_NONE;
			if (attr->returned == SCIM_RET_NEVER)
				continue;
			if (attr->returned == SCIM_RET_ALWAYS)
				mark = (mode == 1) ? SEL_ALL : SEL_NONE;
			if (mode == 1) {
				if (mark == SEL_NONE)
					continue;
				if (mark == SEL_ALL)
					cv = json_deep_copy(
					    json_object_iter_value(iter));
				else
					cv = project_value(attr,
					    json_object_iter_value(iter),
					    s->subs[idx], 1);
			} else {
				if (attr->returned == SCIM_RET_REQUEST &&
				    mark == SEL_NONE)
					continue;
				if (mode == 2 && mark == SEL_ALL)
					continue;
				if (mode == 2 && mark == SEL_SUBS)
					cv = project_value(attr,
					    json_object_iter_value(iter),
					    s->subs[idx], 0);
				else
					cv = json_deep_copy(
					    json_object_iter_value(iter));
			}
		}
		if (cv == NULL)
			continue;
		if (json_object_set_new(dst, attr != NULL ? attr->name : key,
		    cv) == -1)
			return (-1);
	}
	return (0);
}

json_t *
scim_schema_project(enum scim_resource type, const json_t *resource,
    const char *attributes, const char *excluded)
{
	const struct scim_schema		*core, *schema;
	const struct scim_schema *const		*exts;
	struct sel				 sels[4];
	json_t					*out, *ext_out;
	const json_t				*ext_src;
	const char				*key;
	void					*iter;
	size_t					 i, n, nsels;
	int					 mode;

	if (!json_is_object(resource))
		return (NULL);
	if ((core = scim_schema_core(type)) == NULL)
		return (json_deep_copy(resource));

	mode = 0;
	if (attributes != NULL && attributes[0] != '\0')
		mode = 1;
	else if (excluded != NULL && excluded[0] != '\0')
		mode = 2;

	memset(sels, 0, sizeof(sels));
	nsels = 0;
	sels[nsels++].schema = core;
	exts = scim_schema_extensions(type, &n);
	for (i = 0; i < n && nsels < NELEM(sels); i++)
		sels[nsels++].schema = exts[i];
	if (mode != 0)
		(void)sel_parse(type, mode == 1 ? attributes : excluded, sels,
		    nsels);

	if ((out = json_object()) == NULL)
		return (NULL);
	if (project_schema(out, core, resource, &sels[0], mode, 1) == -1)
		goto fail;

	iter = json_object_iter((json_t *)(uintptr_t)resource);
	for (; iter != NULL; iter = json_object_iter_next(
	    (json_t *)(uintptr_t)resource, iter)) {
		key = json_object_iter_key(iter);
		if (strncasecmp(key, "urn:", 4) != 0)
			continue;
		ext_src = json_object_iter_value(iter);
		schema = scim_schema_by_urn(type, key);
		if (schema == NULL || schema == core ||
		    !json_is_object(ext_src)) {
			if (mode != 1 && json_object_set_new(out, key,
			    json_deep_copy(ext_src)) == -1)
				goto fail;
			continue;
		}
		if ((ext_out = json_object()) == NULL)
			goto fail;
		if (project_schema(ext_out, schema, ext_src,
		    sel_find(sels, nsels, schema), mode, 0) == -1) {
			json_decref(ext_out);
			goto fail;
		}
		if (json_object_size(ext_out) == 0) {
			json_decref(ext_out);
			continue;
		}
		if (json_object_set_new(out, schema->urn, ext_out) == -1)
			goto fail;
	}
	return (out);

fail:
	json_decref(out);
	return (NULL);
}
