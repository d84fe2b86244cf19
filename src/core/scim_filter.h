/*
 * scim_filter: RFC 7644 section 3.4.2.2 filters.  A lexer and a
 * recursive-descent parser build an AST, checked against the schema of
 * the resource type; the AST is then evaluated against a JSON resource
 * (or against one element of a multi-valued attribute, for PATCH value
 * filters).  The store compiles the same AST into SQL for the list
 * endpoints (scim_filter_sql.h in src/store); nothing here knows the
 * database.
 *
 * The parser is deliberately bounded (input length, nesting depth,
 * number of terms) because the text comes straight from the query
 * string.  It is tolerant where clients are sloppy in practice: names and
 * operators are case-insensitive, and an unquoted word after an operator
 * (userName sw O, Microsoft's test suite) is taken as a string.
 */

#ifndef RC_SCIM_FILTER_H
#define RC_SCIM_FILTER_H

#include <stddef.h>

#include <jansson.h>

#include "scim_error.h"
#include "scim_schema.h"

#define SCIM_FILTER_MAX_LEN	4096	/* bytes of filter text */
#define SCIM_FILTER_MAX_DEPTH	16	/* nested ( ), [ ] and not */
#define SCIM_FILTER_MAX_TERMS	64	/* attribute expressions */

enum scim_filter_op {
	SCIM_FOP_EQ,
	SCIM_FOP_NE,
	SCIM_FOP_CO,
	SCIM_FOP_SW,
	SCIM_FOP_EW,
	SCIM_FOP_GT,
	SCIM_FOP_GE,
	SCIM_FOP_LT,
	SCIM_FOP_LE,
	SCIM_FOP_PR,
	SCIM_FOP_AND,
	SCIM_FOP_OR,
	SCIM_FOP_NOT,
	SCIM_FOP_VALUEPATH
};

/*
 * An attribute path inside a filter.  For a top-level expression, name is
 * the attribute and sub the optional sub-attribute.  For an expression
 * evaluated against an element (inside brackets, or the trailing part of
 * a value path), relative is set and name is the sub-attribute of the
 * element; name NULL there means "the element itself" ("emails[...] pr").
 * Names are canonical when the schema knows them, else as written.
 */
struct scim_filter_path {
	char			*name;
	char			*sub;
	int			 relative;
	struct scim_attr_ref	 ref;	/* zeroed in schema-less mode */
};

/*
 * AST node.  Comparisons (EQ..LE) use path and value, PR uses path.
 * AND/OR use left and right, NOT uses left.  VALUEPATH ("attr[filter]"
 * optionally followed by ".sub op value") uses path (the multi-valued or
 * complex attribute), left (the bracket filter, relative to one element)
 * and right (NULL, or the relative expression on the same element).
 */
struct scim_filter {
	enum scim_filter_op	 op;
	struct scim_filter_path	 path;
	json_t			*value;	/* owned literal, NULL for pr */
	struct scim_filter	*left;
	struct scim_filter	*right;
	int			 column;	/* 1-based, for messages */
};

/*
 * Parse a filter for a resource type.  On success *out is a new AST the
 * caller frees with scim_filter_free().  On failure returns -1, *out is
 * NULL and err holds 400 invalidFilter with the column and the problem
 * (syntax, limits, unknown attribute, operator not valid for the type).
 */
int	scim_filter_parse(enum scim_resource, const char *text,
	    struct scim_filter **out, struct scim_err *);

/*
 * Parse a value filter (the text between brackets) relative to the
 * elements of attribute ref->attr (multi-valued or complex): names in it
 * are sub-attributes.  Same ownership and errors as scim_filter_parse().
 */
int	scim_filter_parse_value(enum scim_resource,
	    const struct scim_attr_ref *, const char *text,
	    struct scim_filter **out, struct scim_err *);

/* Free an AST (NULL is fine). */
void	scim_filter_free(struct scim_filter *);

/*
 * The attribute a path compares: for a relative path the element's
 * sub-attribute (or the attribute itself when name is NULL), else the
 * sub-attribute or attribute of ref.  NULL in schema-less mode.
 */
const struct scim_attr *scim_filter_path_target(
	    const struct scim_filter_path *);

/*
 * Evaluate a top-level filter against a normalised resource.  Returns 1
 * (match) or 0.  Multi-valued attributes match if any element does;
 * case-exactness and dateTime ordering come from the schema.
 */
int	scim_filter_match(const struct scim_filter *, const json_t *resource);

/*
 * Evaluate a value filter (from scim_filter_parse_value or the left side
 * of a VALUEPATH node) against ONE element of the attribute.  1 or 0.
 */
int	scim_filter_match_element(const struct scim_filter *,
	    const json_t *element);

/*
 * Canonical text of an AST, fully parenthesised, canonical names and JSON
 * literals (for logs and tests).  malloc()ed; caller frees; NULL on
 * allocation failure.
 */
char	*scim_filter_to_string(const struct scim_filter *);

/*
 * A PATCH path (RFC 7644 section 3.5.2): "[URN:]attr[.sub]" or
 * "[URN:]attr[valFilter][.sub]".  filter is the bracket filter or NULL.
 */
struct scim_path {
	struct scim_attr_ref	 ref;	/* attr always set; sub if given */
	struct scim_filter	*filter;	/* owned; relative to elements */
};

/*
 * Parse a PATCH path.  Unknown attributes, trailing garbage, filters
 * on simple attributes: 400 invalidPath; a malformed bracket filter: 400
 * invalidFilter.  On success release with scim_path_clear().
 */
int	scim_path_parse(enum scim_resource, const char *text,
	    struct scim_path *out, struct scim_err *);

/* Free the filter held by a path and zero it (NULL-safe). */
void	scim_path_clear(struct scim_path *);

#endif /* RC_SCIM_FILTER_H */
