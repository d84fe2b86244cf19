/*
 * scim_error: the error value every SCIM core module fills in, and the
 * RFC 7644 section 3.12 error body built from it.
 *
 * Core modules never talk HTTP; they return -1 and leave a status, an
 * optional scimType keyword and a human-readable detail here.  The glue
 * turns that into the response.  Entra copies the body verbatim into its
 * provisioning log, so the detail is written for the tenant admin: it
 * names the attribute or the filter column and says what to change.
 */

#ifndef RC_SCIM_ERROR_H
#define RC_SCIM_ERROR_H

#include <jansson.h>

#define SCIM_ERR_DETAIL_MAX	256

/* RFC 7644 section 3.12 scimType keywords. */
#define SCIM_ERR_INVALID_FILTER	"invalidFilter"
#define SCIM_ERR_TOO_MANY	"tooMany"
#define SCIM_ERR_UNIQUENESS	"uniqueness"
#define SCIM_ERR_MUTABILITY	"mutability"
#define SCIM_ERR_INVALID_SYNTAX	"invalidSyntax"
#define SCIM_ERR_INVALID_PATH	"invalidPath"
#define SCIM_ERR_NO_TARGET	"noTarget"
#define SCIM_ERR_INVALID_VALUE	"invalidValue"
#define SCIM_ERR_INVALID_VERS	"invalidVers"
#define SCIM_ERR_SENSITIVE	"sensitive"

#define SCIM_ERROR_URN		"urn:ietf:params:scim:api:messages:2.0:Error"

struct scim_err {
	int		 status;	/* HTTP status, 0 while unset */
	const char	*scim_type;	/* one of SCIM_ERR_*, or NULL */
	char		 detail[SCIM_ERR_DETAIL_MAX];
};

/* Reset to "no error" (status 0, no type, empty detail). */
void	scim_err_init(struct scim_err *);

/*
 * Record an error; detail is printf-formatted and truncated to fit.
 * scim_type must be a static string (one of SCIM_ERR_*) or NULL.
 * err may be NULL (then nothing is recorded).  Always returns -1 so
 * callers can write "return (scim_err_set(...));".
 */
int	scim_err_set(struct scim_err *, int status, const char *scim_type,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Build the RFC 7644 Error resource: schemas, status (as a string),
 * scimType when set, detail when non-empty.  An unset status becomes 500.
 * Returns a new reference the caller json_decref()s, NULL on allocation
 * failure.
 */
json_t	*scim_error_json(const struct scim_err *);

#endif /* RC_SCIM_ERROR_H */
