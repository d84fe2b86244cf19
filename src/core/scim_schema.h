/*
 * scim_schema: the attribute definitions rollcall serves (RFC 7643 core
 * User, Enterprise User extension, core Group, plus the common id,
 * externalId, meta and schemas) and the operations that need them:
 * path lookup, normalisation of client documents, value coercion and
 * attributes/excludedAttributes projection.
 *
 * Everything is case-insensitive on names, as Entra and RFC 7643 section
 * 2.1 require; documents are rewritten to the canonical spelling once, on
 * the way in, so the rest of the server can use exact keys.  Enterprise
 * attributes live under the extension URN key of the document.
 *
 * The tables are static and immutable: every pointer handed out here is
 * valid for the life of the process and must not be freed.
 */

#ifndef RC_SCIM_SCHEMA_H
#define RC_SCIM_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "scim_error.h"

#define SCIM_SCHEMA_USER	"urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_SCHEMA_GROUP	"urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIM_SCHEMA_ENTERPRISE	\
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

/*
 * Resource type a document, path or filter belongs to.  SCIM_RES_NONE is
 * schema-less: any attribute name is accepted and compared exactly; it
 * exists for filter tests and generic evaluation, never for requests.
 */
enum scim_resource {
	SCIM_RES_USER,
	SCIM_RES_GROUP,
	SCIM_RES_NONE
};

enum scim_attr_type {
	SCIM_TYPE_STRING,
	SCIM_TYPE_BOOLEAN,
	SCIM_TYPE_DECIMAL,
	SCIM_TYPE_INTEGER,
	SCIM_TYPE_DATETIME,
	SCIM_TYPE_REFERENCE,
	SCIM_TYPE_BINARY,
	SCIM_TYPE_COMPLEX
};

enum scim_mutability {
	SCIM_MUT_READWRITE,
	SCIM_MUT_READONLY,
	SCIM_MUT_IMMUTABLE,
	SCIM_MUT_WRITEONLY
};

enum scim_returned {
	SCIM_RET_DEFAULT,
	SCIM_RET_ALWAYS,
	SCIM_RET_NEVER,
	SCIM_RET_REQUEST
};

enum scim_uniqueness {
	SCIM_UNIQ_NONE,
	SCIM_UNIQ_SERVER,
	SCIM_UNIQ_GLOBAL
};

struct scim_attr {
	const char		*name;		/* canonical spelling */
	enum scim_attr_type	 type;
	int			 multi_valued;
	int			 case_exact;
	enum scim_mutability	 mutability;
	enum scim_returned	 returned;
	enum scim_uniqueness	 uniqueness;
	int			 required;
	const struct scim_attr	*subs;		/* sub-attributes, or NULL */
	size_t			 nsubs;
};

struct scim_schema {
	const char		*urn;
	const char		*name;		/* "User", "EnterpriseUser", ... */
	int			 extension;	/* lives under doc[urn] */
	const struct scim_attr	*attrs;
	size_t			 nattrs;
};

/* A resolved attribute path: schema, top-level attribute, optional sub. */
struct scim_attr_ref {
	const struct scim_schema	*schema;
	const struct scim_attr		*attr;
	const struct scim_attr		*sub;	/* NULL: the whole attribute */
};

/*
 * Resolve "[URN:]attr[.sub]" for a resource type, case-insensitively.
 * A URN prefix is matched against the longest known schema URN (so the
 * dots in "2.0" never split); an unqualified name is looked up in the
 * core schema first, then in the extensions.  Returns 0 and fills *out,
 * or -1 when the path names nothing we know (out is zeroed).  Brackets
 * are not accepted here; see scim_path_parse() in scim_filter.h.
 */
int	scim_schema_lookup(enum scim_resource, const char *path,
	    struct scim_attr_ref *out);

/*
 * The schema a URN names for this resource type (case-insensitive), or
 * NULL.  Used for document keys like "urn:...:enterprise:2.0:User".
 */
const struct scim_schema *scim_schema_by_urn(enum scim_resource,
	    const char *urn);

/* Core schema of a resource type (NULL for SCIM_RES_NONE). */
const struct scim_schema *scim_schema_core(enum scim_resource);

/*
 * Extension schemas of a resource type: *n gets the count, the return is
 * a static array of pointers (NULL when there are none).
 */
const struct scim_schema *const *scim_schema_extensions(enum scim_resource,
	    size_t *n);

/* Sub-attribute of a complex attribute by name, case-insensitive. */
const struct scim_attr *scim_attr_sub(const struct scim_attr *,
	    const char *name);

/* Small predicates used by filter and PATCH; all accept NULL (-> 0). */
int	scim_attr_is_multi(const struct scim_attr *);
int	scim_attr_is_complex(const struct scim_attr *);
int	scim_attr_is_boolean(const struct scim_attr *);
int	scim_attr_is_readonly(const struct scim_attr *);
int	scim_attr_is_immutable(const struct scim_attr *);

/* The attribute a ref finally designates: ref->sub if set, else attr. */
const struct scim_attr *scim_attr_ref_target(const struct scim_attr_ref *);

/*
 * Write "[urn:]attr[.sub]" for a ref into buf (for error details).
 * The URN is included for extension attributes only.  Returns buf.
 */
const char *scim_attr_ref_name(const struct scim_attr_ref *, char *buf,
	    size_t len);

/*
 * The JSON object that holds ref->attr inside a resource document: the
 * document itself for core attributes, doc[urn] for extension ones.
 * With create set, a missing extension object is added (and its URN
 * appended to "schemas").  Borrowed; NULL when absent (or on failure).
 */
json_t	*scim_schema_container(json_t *doc, const struct scim_attr_ref *,
	    int create);

/*
 * Coerce one client value destined for the attribute a ref designates
 * (scim_attr_ref_target): key case canonicalised, string booleans
 * ("True", "false", any case) made JSON booleans, nulls, unknown and
 * readOnly sub-attributes dropped, a bare scalar for a complex attribute
 * with a "value" sub-attribute wrapped as {"value": x} (Entra's manager,
 * group members).  For a multi-valued attribute an array is coerced
 * element by element and a non-array is coerced as ONE element (the
 * caller decides whether to wrap it).  JSON null comes back as null.
 * Returns a new reference; NULL with err set (400 invalidValue naming
 * the attribute) when the type is wrong.  value is not consumed.
 */
json_t	*scim_schema_coerce(const struct scim_attr_ref *, const json_t *value,
	    struct scim_err *);

/*
 * Normalise a client-supplied User or Group document in place (POST,
 * PUT): canonical key case everywhere, string booleans coerced, explicit
 * nulls and readOnly attributes (id, meta, groups, ...) dropped, unknown
 * attributes dropped, URN-qualified top-level keys moved under their
 * extension object, "schemas" kept (unknown URNs included) with the core
 * URN and used extension URNs guaranteed.  Fails with 400 invalidValue
 * (wrong type, missing userName / displayName) or invalidSyntax (doc not
 * an object).  Returns 0 or -1; on -1 doc may be partly rewritten.
 */
int	scim_schema_normalize(enum scim_resource, json_t *doc,
	    struct scim_err *);

/*
 * What a principal may hold (policy.h, policy_check_value; README "What
 * a principal may hold"), checked on the final document of a write
 * before anything is stored.  Users: userName at most
 * SCIM_NAME_CHARS characters and POLICY_NAME_MAX bytes, externalId and
 * every emails[].value non-empty and at most POLICY_NAME_MAX bytes, at
 * most POLICY_LIST_MAX emails; none of them may hold a control
 * character (C0, DEL, C1).  Groups: displayName at most SCIM_NAME_CHARS
 * characters (the index keeps no group names).  Only attributes that
 * differ from old are checked (old NULL on create), so a row written
 * before this rule can still be disabled or deleted.  0, or -1 with
 * 400 invalidValue naming the attribute.
 */
#define SCIM_NAME_CHARS	512	/* userName, group displayName (sql/) */
int	scim_schema_check_stored(enum scim_resource, const json_t *old,
	    const json_t *doc, struct scim_err *);

/*
 * RFC 7644 section 3.9 projection of a stored resource.  attributes and
 * excluded are the raw comma-separated query values (either may be NULL
 * or empty; if both are set, attributes wins as the RFC requires one or
 * the other).  Names are case-insensitive, may be URN-qualified and may
 * name sub-attributes; a bracket filter after a name ("emails[type eq
 * "work"]", sent by Microsoft's test suite) is ignored and the whole
 * attribute returned.  Attributes with returned "always" (id, schemas,
 * meta's parts ...) survive; "never" ones never appear.  Unknown names
 * are ignored.  Returns a new reference (deep copy), NULL on allocation
 * failure.  resource is not modified.
 */
json_t	*scim_schema_project(enum scim_resource, const json_t *resource,
	    const char *attributes, const char *excluded);

/*
 * Parse an xsd:dateTime as SCIM uses it ("2011-05-13T04:42:34Z", any
 * number of fraction digits, "Z" or +hh:mm offset; a bare date means
 * midnight UTC) into seconds since the epoch plus nanoseconds.
 * Returns 0, or -1 when s is not such a timestamp.
 */
int	scim_datetime_parse(const char *s, int64_t *secs, long *nsec);

#endif /* RC_SCIM_SCHEMA_H */
