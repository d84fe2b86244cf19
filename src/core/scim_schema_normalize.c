/*
 * scim_schema_normalize: a client's document coerced to the attribute
 * tables and normalised (scim_schema_coerce, scim_schema_normalize), the
 * bounds a stored document must keep (scim_schema_check_stored), and
 * the RFC 3339 dateTime parser; see scim_schema.h.
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

static const char		*type_word(enum scim_attr_type);
static json_t			*coerce_one(const struct scim_attr *,
				    const json_t *, const char *,
				    struct scim_err *);
static int			 json_nonempty(const json_t *);
static int			 normalize_attr(enum scim_resource, json_t *,
				    const struct scim_attr_ref *,
				    const json_t *, struct scim_err *);

static const char *
type_word(enum scim_attr_type t)
{
	switch (t) {
	case SCIM_TYPE_STRING:
		return ("a string");
	case SCIM_TYPE_BOOLEAN:
		return ("a boolean (true or false)");
	case SCIM_TYPE_DECIMAL:
		return ("a number");
	case SCIM_TYPE_INTEGER:
		return ("an integer");
	case SCIM_TYPE_DATETIME:
		return ("a dateTime string such as \"2024-05-13T04:42:34Z\"");
	case SCIM_TYPE_REFERENCE:
		return ("a reference (URI string)");
	case SCIM_TYPE_BINARY:
		return ("a base64 string");
	case SCIM_TYPE_COMPLEX:
		return ("an object");
	}
	return ("a value");
}

static const char *
json_word(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	default:
		return ("null");
	}
}

/*
 * Coerce one value (never an array of a multi-valued attribute: the
 * caller iterates) to attr's type.  label names it in errors.
 */
static json_t *
coerce_one(const struct scim_attr *attr, const json_t *v, const char *label,
    struct scim_err *err)
{
	const struct scim_attr	*sub;
	const char		*key, *s;
	json_t			*out, *cv;
	const json_t		*val;
	void			*iter;
	char			 sublabel[160];
	int64_t			 secs;
	long			 nsec;

	if (json_is_null(v))
		return (json_null());

	switch (attr->type) {
	case SCIM_TYPE_COMPLEX:
		if (!json_is_object(v)) {
			/* Entra sends manager and members as a bare id. */
			if ((json_is_string(v) || json_is_integer(v)) &&
			    (sub = scim_attr_sub(attr, "value")) != NULL) {
				if ((cv = coerce_one(sub, v, label, err)) == NULL)
					return (NULL);
				if ((out = json_object()) == NULL) {
					json_decref(cv);
					goto nomem;
				}
				if (json_object_set_new(out, "value", cv) == -1) {
					json_decref(out);
					goto nomem;
				}
				return (out);
			}
			break;
		}
		if ((out = json_object()) == NULL)
			goto nomem;
		/* Cast: jansson's iterator API is not const-correct. */
		iter = json_object_iter((json_t *)(uintptr_t)v);
		while (iter != NULL) {
			key = json_object_iter_key(iter);
			val = json_object_iter_value(iter);
			iter = json_object_iter_next((json_t *)(uintptr_t)v,
			    iter);
			if ((sub = scim_attr_sub(attr, key)) == NULL ||
			    sub->mutability == SCIM_MUT_READONLY ||
			    json_is_null(val))
				continue;
			(void)snprintf(sublabel, sizeof(sublabel), "%s.%s",
			    label, sub->name);
			if ((cv = coerce_one(sub, val, sublabel, err)) == NULL) {
				json_decref(out);
				return (NULL);
			}
			if (json_object_set_new(out, sub->name, cv) == -1) {
				json_decref(out);
				goto nomem;
			}
		}
		return (out);
	case SCIM_TYPE_BOOLEAN:
		if (json_is_boolean(v))
			return (json_deep_copy(v));
		if (json_is_string(v)) {
			s = json_string_value(v);
			if (strcasecmp(s, "true") == 0)
				return (json_true());
			if (strcasecmp(s, "false") == 0)
				return (json_false());
		}
		break;
	case SCIM_TYPE_INTEGER:
		if (json_is_integer(v))
			return (json_deep_copy(v));
		break;
	case SCIM_TYPE_DECIMAL:
		if (json_is_number(v))
			return (json_deep_copy(v));
		break;
	case SCIM_TYPE_DATETIME:
		if (json_is_string(v)) {
			if (scim_datetime_parse(json_string_value(v), &secs,
			    &nsec) == 0)
				return (json_deep_copy(v));
			scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
			    "Attribute '%s' must be %s; \"%.60s\" is not.",
			    label, type_word(attr->type), json_string_value(v));
			return (NULL);
		}
		break;
	case SCIM_TYPE_STRING:
	case SCIM_TYPE_REFERENCE:
	case SCIM_TYPE_BINARY:
		if (json_is_string(v))
			return (json_deep_copy(v));
		break;
	}

	scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
	    "Attribute '%s' must be %s%s, not %s; fix the attribute mapping "
	    "for it.", label, attr->multi_valued ? "a list of " : "",
	    type_word(attr->type), json_word(v));
	return (NULL);

nomem:
	scim_err_set(err, 500, NULL, "Out of memory coercing '%s'.", label);
	return (NULL);
}

static int
json_nonempty(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return (0);
	if (json_is_array(v))
		return (json_array_size(v) > 0);
	if (json_is_object(v))
		return (json_object_size(v) > 0);
	return (1);
}

json_t *
scim_schema_coerce(const struct scim_attr_ref *ref, const json_t *value,
    struct scim_err *err)
{
	const struct scim_attr	*attr;
	json_t			*out, *cv;
	size_t			 i;
	char			 label[160];

	if ((attr = scim_attr_ref_target(ref)) == NULL || value == NULL) {
		scim_err_set(err, 400, SCIM_ERR_INVALID_PATH,
		    "No attribute to coerce the value for.");
		return (NULL);
	}
	(void)scim_attr_ref_name(ref, label, sizeof(label));

	if (!attr->multi_valued || !json_is_array(value))
		return (coerce_one(attr, value, label, err));

	if ((out = json_array()) == NULL) {
		scim_err_set(err, 500, NULL, "Out of memory.");
		return (NULL);
	}
	for (i = 0; i < json_array_size(value); i++) {
		cv = coerce_one(attr, json_array_get(value, i), label, err);
		if (cv == NULL) {
			json_decref(out);
			return (NULL);
		}
		if (!json_nonempty(cv)) {
			json_decref(cv);
			continue;
		}
		if (json_array_append_new(out, cv) == -1) {
			json_decref(out);
			scim_err_set(err, 500, NULL, "Out of memory.");
			return (NULL);
		}
	}
	return (out);
}

/*
 * Coerce value for ref and store it in the new document out (merging
 * into an existing complex value when a dotted key supplied part of it).
 */
static int
normalize_attr(enum scim_resource type, json_t *out,
    const struct scim_attr_ref *ref, const json_t *value,
    struct scim_err *err)
{
	json_t		*container, *cv, *wrap, *cur;

	(void)type;
	if (json_is_null(value) || ref->attr->mutability == SCIM_MUT_READONLY)
		return (0);
	if (ref->sub != NULL && ref->sub->mutability == SCIM_MUT_READONLY)
		return (0);

	if ((cv = scim_schema_coerce(ref, value, err)) == NULL)
		return (-1);
	if (!json_nonempty(cv)) {
		json_decref(cv);
		return (0);
	}
	if (ref->attr->multi_valued && ref->sub == NULL && !json_is_array(cv)) {
		if ((wrap = json_array()) == NULL ||
		    json_array_append_new(wrap, cv) == -1) {
			json_decref(wrap);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
		cv = wrap;
	}

	if ((container = scim_schema_container(out, ref, 1)) == NULL) {
		json_decref(cv);
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	}

	if (ref->sub == NULL) {
		cur = json_object_get(container, ref->attr->name);
		if (json_is_object(cur) && json_is_object(cv)) {
			/* "name" after "name.givenName": merge, last wins. */
			if (json_object_update(cur, cv) == -1) {
				json_decref(cv);
				return (scim_err_set(err, 500, NULL,
				    "Out of memory."));
			}
			json_decref(cv);
			return (0);
		}
		if (json_object_set_new(container, ref->attr->name, cv) == -1)
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		return (0);
	}

	/* Dotted key such as "name.givenName" (Entra's flagged dialect). */
	if (ref->attr->multi_valued) {
		json_decref(cv);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute '%s.%s' addresses a multi-valued attribute; "
		    "send '%s' as a list of objects instead.", ref->attr->name,
		    ref->sub->name, ref->attr->name));
	}
	cur = json_object_get(container, ref->attr->name);
	if (!json_is_object(cur)) {
		if ((cur = json_object()) == NULL ||
		    json_object_set_new(container, ref->attr->name, cur) == -1) {
			json_decref(cv);
			return (scim_err_set(err, 500, NULL, "Out of memory."));
		}
	}
	if (json_object_set_new(cur, ref->sub->name, cv) == -1)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	return (0);
}

int
scim_schema_normalize(enum scim_resource type, json_t *doc,
    struct scim_err *err)
{
	const struct scim_schema	*core, *ext;
	const struct scim_attr		*attr;
	struct scim_attr_ref		 ref;
	json_t				*out, *schemas, *val, *sv;
	const char			*key, *subkey, *req;
	void				*siter;
	size_t				 i;

	if ((core = scim_schema_core(type)) == NULL)
		return (scim_err_set(err, 500, NULL, "No schema for resource."));
	if (!json_is_object(doc))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_SYNTAX,
		    "The request body must be a JSON object (a SCIM %s "
		    "resource).", core->name));

	if ((out = json_object()) == NULL)
		return (scim_err_set(err, 500, NULL, "Out of memory."));
	if ((schemas = json_array()) == NULL ||
	    json_object_set_new(out, "schemas", schemas) == -1)
		goto nomem;

	json_object_foreach(doc, key, val) {
		if (strcasecmp(key, "schemas") != 0)
			continue;
		if (json_is_null(val))
			continue;
		if (!json_is_array(val))
			goto badschemas;
		for (i = 0; i < json_array_size(val); i++) {
			sv = json_array_get(val, i);
			if (!json_is_string(sv))
				goto badschemas;
			/* Unknown URNs (Microsoft's ADSCIM one) are kept. */
			if (schema_schemas_has(schemas, json_string_value(sv)))
				continue;
			if (json_array_append(schemas, sv) == -1)
				goto nomem;
		}
	}
	if (!schema_schemas_has(schemas, core->urn)) {
		if (json_array_insert_new(schemas, 0,
		    json_string(core->urn)) == -1)
			goto nomem;
	}

	json_object_foreach(doc, key, val) {
		if (strcasecmp(key, "schemas") == 0 || json_is_null(val))
			continue;

		if ((ext = scim_schema_by_urn(type, key)) != NULL) {
			if (ext == core)
				continue;
			if (!json_is_object(val)) {
				json_decref(out);
				return (scim_err_set(err, 400,
				    SCIM_ERR_INVALID_VALUE, "'%s' must be an "
				    "object holding the extension's "
				    "attributes, not %s.", ext->urn,
				    json_word(val)));
			}
			siter = json_object_iter(val);
			while (siter != NULL) {
				subkey = json_object_iter_key(siter);
				sv = json_object_iter_value(siter);
				siter = json_object_iter_next(val, siter);
				memset(&ref, 0, sizeof(ref));
				ref.schema = ext;
				if ((attr = schema_attr(ext, subkey,
				    strlen(subkey))) == NULL)
					continue;
				ref.attr = attr;
				if (normalize_attr(type, out, &ref, sv,
				    err) == -1) {
					json_decref(out);
					return (-1);
				}
			}
			continue;
		}

		if (scim_schema_lookup(type, key, &ref) == -1)
			continue;
		if (ref.attr->mutability == SCIM_MUT_READONLY)
			continue;
		if (normalize_attr(type, out, &ref, val, err) == -1) {
			json_decref(out);
			return (-1);
		}
	}

	req = (type == SCIM_RES_USER) ? "userName" : "displayName";
	val = json_object_get(out, req);
	if (!json_is_string(val) || json_string_length(val) == 0) {
		json_decref(out);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "Attribute '%s' is required and must be a non-empty "
		    "string; map a source attribute to %s.", req, req));
	}

	json_object_clear(doc);
	if (json_object_update(doc, out) == -1)
		goto nomem;
	json_decref(out);
	return (0);

badschemas:
	json_decref(out);
	return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
	    "Attribute 'schemas' must be a list of schema URN strings, e.g. "
	    "[\"%s\"].", core->urn));
nomem:
	json_decref(out);
	return (scim_err_set(err, 500, NULL, "Out of memory."));
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

static int
digits(const char **pp, int n, int *out)
{
	const char	*p = *pp;
	int		 i, v;

	for (i = 0, v = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return (-1);
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return (0);
}

int
scim_datetime_parse(const char *s, int64_t *secs, long *nsec)
{
	const char	*p = s;
	int		 y, mo, d, h, mi, sec, oh, om, ndig, sign;
	long		 frac;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	h = mi = sec = 0;
	frac = 0;
	if (digits(&p, 4, &y) == -1 || *p++ != '-' ||
	    digits(&p, 2, &mo) == -1 || *p++ != '-' ||
	    digits(&p, 2, &d) == -1)
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return (-1);
	if (mo == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (-1);

	oh = om = 0;
	sign = 1;
	if (*p == '\0')
		goto done;
	if (*p != 'T' && *p != 't')
		return (-1);
	p++;
	if (digits(&p, 2, &h) == -1 || *p++ != ':' ||
	    digits(&p, 2, &mi) == -1 || *p++ != ':' ||
	    digits(&p, 2, &sec) == -1)
		return (-1);
	if (h > 23 || mi > 59 || sec > 60)
		return (-1);
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return (-1);
		for (ndig = 0; isdigit((unsigned char)*p); p++, ndig++) {
			if (ndig < 9)
				frac = frac * 10 + (*p - '0');
		}
		for (; ndig < 9; ndig++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = (*p == '-') ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) == -1 || *p++ != ':' ||
		    digits(&p, 2, &om) == -1 || oh > 23 || om > 59)
			return (-1);
	}
	/* No offset at all: xsd:dateTime allows it; we read it as UTC. */
	if (*p != '\0')
		return (-1);

done:
	*secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	*nsec = frac;
	return (0);
}

/* Code points in a UTF-8 string (continuation bytes not counted). */
static size_t
utf8_chars(const char *s)
{
	size_t	n;

	for (n = 0; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

/* One string attribute under the rule; what names it in the error. */
static int
check_string(const json_t *v, size_t max_chars, int optional,
    const char *what, struct scim_err *err)
{
	struct policy_err	perr;

	if (v == NULL || json_is_null(v)) {
		if (optional)
			return (0);
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s is required.", what));
	}
	if (!json_is_string(v))
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s must be a string.", what));
	if (max_chars > 0 && utf8_chars(json_string_value(v)) > max_chars)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "%s is longer than %zu characters.", what, max_chars));
	memset(&perr, 0, sizeof(perr));
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    policy_check_value(json_string_value(v), POLICY_NAME_MAX, 0, what,
	    &perr) == -1)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE, "%s.",
		    perr.msg[0] != '\0' ? perr.msg :
		    "a value contains a control character"));
	return (0);
}

/* 1 when attribute key differs between old (may be NULL) and doc. */
static int
changed(const json_t *old, const json_t *doc, const char *key)
{
	const json_t	*a, *b;

	if (old == NULL)
		return (1);
	a = json_object_get(old, key);
	b = json_object_get(doc, key);
	if (a == NULL || b == NULL)
		return (a != b);
	return (!json_equal(a, b));
}

int
scim_schema_check_stored(enum scim_resource type, const json_t *old,
    const json_t *doc, struct scim_err *err)
{
	const json_t	*emails, *e;
	size_t		 i;

	if (type == SCIM_RES_GROUP) {
		if (changed(old, doc, "displayName"))
			return (check_string(json_object_get(doc,
			    "displayName"), SCIM_NAME_CHARS, 0, "displayName",
			    err) == -1 ? -1 : 0);
		return (0);
	}
	if (changed(old, doc, "userName") &&
	    check_string(json_object_get(doc, "userName"), SCIM_NAME_CHARS, 0,
	    "userName", err) == -1)
		return (-1);
	if (changed(old, doc, "externalId") &&
	    check_string(json_object_get(doc, "externalId"), 0, 1,
	    "externalId", err) == -1)
		return (-1);
	if (!changed(old, doc, "emails"))
		return (0);
	emails = json_object_get(doc, "emails");
	if (json_array_size(emails) > POLICY_LIST_MAX)
		return (scim_err_set(err, 400, SCIM_ERR_INVALID_VALUE,
		    "emails holds more than %d values.", POLICY_LIST_MAX));
	json_array_foreach(emails, i, e) {
		/* Entries without a value hold no alias (see scim_store). */
		if (json_object_get(e, "value") == NULL ||
		    json_is_null(json_object_get(e, "value")))
			continue;
		if (check_string(json_object_get(e, "value"), 0, 0,
		    "emails.value", err) == -1)
			return (-1);
	}
	return (0);
}
