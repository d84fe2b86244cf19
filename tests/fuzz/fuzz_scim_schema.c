/*
 * Fuzzes schema normalisation (what every POST and PUT body goes
 * through) and projection.
 *
 * Input: byte 0 picks User (even) or Group (odd); the rest is the JSON
 * document a client would send.
 *
 * Properties:
 *   - normalising a normalised document succeeds and changes nothing
 *     (same serialisation, key order included): normalisation is
 *     idempotent, so a stored document never drifts when it is read
 *     back and written again;
 *   - a failure is a 400 with a detail;
 *   - projecting a normalised document answers an object and leaves the
 *     document as it was.
 */
#include <jansson.h>

#include "fuzz.h"
#include "scim_schema.h"

static char *
dump(const json_t *doc)
{
	char	*s;

	if ((s = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		abort();
	return (s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*lists[][2] = {
		{ "userName,emails.value", NULL },
		{ NULL, "emails,urn:ietf:params:scim:schemas:extension:"
		  "enterprise:2.0:User:manager" },
		{ "displayName,members[value eq \"x\"],meta.created", "id" },
	};
	enum scim_resource	 type;
	struct scim_err		 err;
	json_t			*doc, *again, *p;
	char			*once, *twice;
	size_t			 i;

	if (size < 1)
		return (0);
	type = data[0] & 1 ? SCIM_RES_GROUP : SCIM_RES_USER;
	doc = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY,
	    NULL);
	if (doc == NULL)
		return (0);
	scim_err_init(&err);
	if (scim_schema_normalize(type, doc, &err) == -1) {
		FUZZ_ASSERT(err.status == 400 && err.detail[0] != '\0',
		    "normalise failed with %d", err.status);
		json_decref(doc);
		return (0);
	}
	once = dump(doc);
	if ((again = json_deep_copy(doc)) == NULL)
		abort();
	scim_err_init(&err);
	FUZZ_ASSERT(scim_schema_normalize(type, again, &err) == 0,
	    "a normalised document does not normalise again: %s\n%s",
	    err.detail, once);
	twice = dump(again);
	FUZZ_ASSERT(strcmp(once, twice) == 0, "normalising twice changed "
	    "the document:\n%s\n%s", once, twice);

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		p = scim_schema_project(type, doc, lists[i][0], lists[i][1]);
		FUZZ_ASSERT(json_is_object(p), "projection %zu is not an "
		    "object", i);
		json_decref(p);
	}
	free(twice);
	twice = dump(doc);
	FUZZ_ASSERT(strcmp(once, twice) == 0, "projection changed the "
	    "document");
	free(once);
	free(twice);
	json_decref(again);
	json_decref(doc);

	return (0);
}
