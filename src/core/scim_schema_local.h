/*
 * scim_schema_local: what the scim_schema files share, private to them
 * (scim_schema.h is the interface):
 *   scim_schema.c            the RFC 7643 attribute tables and lookup;
 *   scim_schema_normalize.c  a client document coerced and normalised
 *                            against the tables, the bounds of what is
 *                            stored, and the dateTime parser;
 *   scim_schema_project.c    a stored document projected for a reply
 *                            (attributes / excludedAttributes).
 * The tables are static and read-only; nothing here allocates.
 */
#ifndef RC_SCIM_SCHEMA_LOCAL_H
#define RC_SCIM_SCHEMA_LOCAL_H

#include <stddef.h>

#include <jansson.h>

#include "scim_schema.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The attribute of schema s named by the n bytes at name, or NULL. */
const struct scim_attr	*schema_attr(const struct scim_schema *,
			    const char *, size_t);
/* 1 when the document's "schemas" array lists urn. */
int			 schema_schemas_has(const json_t *, const char *);

#endif
