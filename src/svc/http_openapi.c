/*
 * http_openapi.c: GET /openapi.json, the OpenAPI 3.1 document of the
 * admin and gateway APIs.  conf/openapi.json in the repository is the
 * single source; it is parsed once (so a broken document is caught at
 * start) and served compact, without authentication.
 *
 * Workers are chrooted in production and cannot open files after
 * start, so the parent loads the document before it forks:
 * kore_parent_configure() calls svc_openapi_load(), and a start
 * without a valid document fails.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "svc.h"
#include "util.h"

#define OPENAPI_PATH	"conf/openapi.json"

int	page_openapi(struct http_request *);

static char	*openapi_doc;		/* compact JSON, inherited at fork */
static size_t	 openapi_len;

/*
 * Reads and checks the document at path (NULL: conf/openapi.json under
 * the working directory); 0, or -1 after logging why.
 */
int
svc_openapi_load(const char *path)
{
	json_error_t	 jerr;
	json_t		*doc;
	char		*text;

	if (path == NULL)
		path = OPENAPI_PATH;
	if ((doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		svc_log(SVC_LOG_ERROR, "openapi: cannot load %s: %s (line %d)",
		    path, jerr.text, jerr.line);
		return (-1);
	}
	if (!json_is_string(json_object_get(doc, "openapi")) ||
	    !json_is_object(json_object_get(doc, "paths"))) {
		json_decref(doc);
		svc_log(SVC_LOG_ERROR, "openapi: %s is not an OpenAPI "
		    "document (no \"openapi\" or \"paths\")", path);
		return (-1);
	}
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL) {
		svc_log(SVC_LOG_ERROR, "openapi: out of memory");
		return (-1);
	}
	free(openapi_doc);
	openapi_doc = text;
	openapi_len = strlen(text);

	return (0);
}

int
page_openapi(struct http_request *req)
{
	if (!svc_method_allowed(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	if (openapi_doc == NULL) {
		svc_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
		    "the API document was not loaded at start; see the log");
		return (KORE_RESULT_OK);
	}
	svc_respond_raw(req, HTTP_STATUS_OK, "application/json", openapi_doc,
	    openapi_len);

	return (KORE_RESULT_OK);
}
