/*
 * Fuzzes the PATCH engine.
 *
 * Input: a JSON object {"type": "user"|"group", "source": document,
 * "ops": [operations]} (the vectors of tests/fixtures/patch-entra.json),
 * or with "body": a whole PatchOp body instead of "ops".  A missing or
 * invalid source is replaced by a fixed document of the type.  Anything
 * that is not such an object is used as the raw PATCH body against the
 * fixed User.
 *
 * Properties:
 *   - a PATCH that fails (other than running out of memory) leaves the
 *     document byte-for-byte as it was (serialised before and after) and
 *     the result empty;
 *   - a PATCH that succeeds with changed == 0 left the document as it
 *     was, and one with changed == 1 did change it.
 */
#include <jansson.h>

#include "fuzz.h"
#include "scim_patch.h"

static const char	*user_json =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"u1\",\"externalId\":\"alice\",\"userName\":"
    "\"alice@contoso.com\",\"displayName\":\"Alice\",\"active\":true,"
    "\"name\":{\"givenName\":\"Alice\",\"familyName\":\"Smith\"},"
    "\"emails\":[{\"type\":\"work\",\"value\":\"alice@contoso.com\","
    "\"primary\":true},{\"type\":\"home\",\"value\":\"a@example.org\"}],"
    "\"addresses\":[{\"type\":\"work\",\"locality\":\"Paris\"}],"
    "\"phoneNumbers\":[{\"type\":\"mobile\",\"value\":\"+33 1\"}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
    "{\"department\":\"Sales\",\"manager\":{\"value\":\"m1\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"version\":\"W/\\\"1\\\"\"}}";

static const char	*group_json =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
    "\"id\":\"g1\",\"externalId\":\"sales\",\"displayName\":\"Sales\","
    "\"meta\":{\"resourceType\":\"Group\",\"version\":\"W/\\\"1\\\"\"}}";

static char *
dump(const json_t *doc)
{
	char	*s;

	if ((s = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		abort();
	return (s);
}

/* The document to patch: the input's source if it normalises. */
static json_t *
document(enum scim_resource type, const json_t *source)
{
	struct scim_err	 err;
	json_t		*doc;

	if (json_is_object(source)) {
		doc = json_deep_copy(source);
		scim_err_init(&err);
		if (doc != NULL && scim_schema_normalize(type, doc, &err) == 0)
			return (doc);
		json_decref(doc);
	}
	doc = json_loads(type == SCIM_RES_GROUP ? group_json : user_json, 0,
	    NULL);
	if (doc == NULL)
		abort();
	return (doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scim_patch_result	 res;
	struct scim_err			 err;
	enum scim_resource		 type;
	json_t				*in, *doc, *body;
	const char			*t;
	char				*before, *after;
	int				 rc;

	in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	type = SCIM_RES_USER;
	body = NULL;
	if (json_is_object(in) && (json_object_get(in, "ops") != NULL ||
	    json_object_get(in, "body") != NULL)) {
		t = json_string_value(json_object_get(in, "type"));
		if (t != NULL && strcmp(t, "group") == 0)
			type = SCIM_RES_GROUP;
		doc = document(type, json_object_get(in, "source"));
		if ((body = json_object_get(in, "body")) != NULL)
			json_incref(body);
		else
			body = json_pack("{s:[s], s:O}", "schemas",
			    "urn:ietf:params:scim:api:messages:2.0:PatchOp",
			    "Operations", json_object_get(in, "ops"));
	} else {
		doc = document(type, NULL);
		body = in != NULL ? json_incref(in) : NULL;
	}
	if (body == NULL) {
		json_decref(doc);
		json_decref(in);
		return (0);
	}

	before = dump(doc);
	scim_err_init(&err);
	rc = scim_patch_apply(type, doc, body, &res, &err);
	after = dump(doc);
	if (rc == -1) {
		FUZZ_ASSERT(err.status >= 400 && err.status < 600,
		    "failed with status %d", err.status);
		if (err.status != 500) {
			FUZZ_ASSERT(strcmp(before, after) == 0, "a failed PATCH "
			    "(%d %s) changed the document:\n%s\n%s",
			    err.status, err.detail, before, after);
			FUZZ_ASSERT(!res.changed && !res.members.clear &&
			    res.members.nadd == 0 && res.members.nremove == 0,
			    "a failed PATCH left a result");
		}
	} else if (res.changed) {
		FUZZ_ASSERT(strcmp(before, after) != 0, "changed, yet the "
		    "document is the same:\n%s", before);
	} else {
		FUZZ_ASSERT(strcmp(before, after) == 0, "not changed, yet the "
		    "document differs:\n%s\n%s", before, after);
	}
	scim_patch_result_cleanup(&res);
	free(before);
	free(after);
	json_decref(body);
	json_decref(doc);
	json_decref(in);

	return (0);
}
