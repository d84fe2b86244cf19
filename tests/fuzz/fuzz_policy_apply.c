/*
 * Fuzzes the change-record decoder of the policy index:
 * policy_store_apply() (src/store/policy_store.c), which every worker
 * runs on each record a committed write publishes (changes.h lists the
 * shapes).  No database: applying a record needs none.
 *
 * Input: a JSON array of change records (or one record).
 *
 * Properties:
 *   - a record the index accepts can be applied again at once and
 *     changes nothing (workers see the same record from the ring and
 *     from NOTIFY);
 *   - a record that changed the index, applied again even without the
 *     last-writer-wins bookkeeping, changes nothing more: records carry
 *     the entity's full state;
 *   - every directory the index knows maps to an id some record gave;
 *   - the accepted records, re-encoded as JSON text and applied to a new
 *     index, are all accepted again and give the same index: the same
 *     counts, version, directories, principals and decisions.  A refused
 *     record leaves one trace on purpose: a refused user or service
 *     principal record stays the newest applied for its id, so an older
 *     record of that id, arriving late or again, is skipped and cannot
 *     lift the quarantine.  Such a skipped record must change nothing but
 *     the version, and the replay gets it as the version mark it was
 *     (see held_back()).
 * "The same index" is compared through a fingerprint: policy_stats,
 * the version, the directory names, every principal named anywhere in
 * the input looked up by id and by its aliases, and the decision for
 * each (principal, server, tool) the input names.
 */
#include <jansson.h>

#include "fuzz.h"
#include "policy_store.h"

#define RECORDS_MAX	64
#define NAMES_MAX	6
#define NOW_MS		1750000000000LL

struct names {
	const char	*principals[NAMES_MAX];
	const char	*aliases[NAMES_MAX];
	const char	*servers[NAMES_MAX];
	const char	*tools[NAMES_MAX];
	size_t		 np, na, ns, nt;
};

static void
add(const char **list, size_t *n, const json_t *v)
{
	const char	*s;
	size_t		 i;

	if ((s = json_string_value(v)) == NULL || *n == NAMES_MAX)
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(list[i], s) == 0)
			return;
	list[(*n)++] = s;
}

/* The names the fingerprint asks about, borrowed from the records. */
static void
collect(const json_t *records, struct names *nm)
{
	const json_t	*r, *v;
	size_t		 i, j;

	memset(nm, 0, sizeof(*nm));
	json_array_foreach(records, i, r) {
		add(nm->principals, &nm->np, json_object_get(r, "user"));
		add(nm->principals, &nm->np, json_object_get(r, "principal"));
		add(nm->principals, &nm->np, json_object_get(r, "subject_id"));
		if (json_is_string(json_object_get(r, "kind")) &&
		    (strcmp(json_string_value(json_object_get(r, "kind")),
		    "user") == 0 || strcmp(json_string_value(
		    json_object_get(r, "kind")), "sp") == 0))
			add(nm->principals, &nm->np, json_object_get(r, "id"));
		add(nm->aliases, &nm->na, json_object_get(r, "userName"));
		add(nm->aliases, &nm->na, json_object_get(r, "appId"));
		json_array_foreach(json_object_get(r, "emails"), j, v)
			add(nm->aliases, &nm->na, v);
		add(nm->servers, &nm->ns, json_object_get(r, "slug"));
		add(nm->servers, &nm->ns, json_object_get(r, "server"));
		add(nm->tools, &nm->nt, json_object_get(r, "name"));
		add(nm->tools, &nm->nt, json_object_get(r, "selector"));
	}
}

static void
print_principal(FILE *fp, const struct policy_index *idx,
    enum policy_alias by, const char *value)
{
	struct policy_principal_info	info;
	struct policy_subject		subj;

	subj.by = by;
	subj.value = value;
	subj.directory = NULL;
	if (policy_principal_lookup(idx, &subj, &info) == -1) {
		fprintf(fp, "%d:%s unknown\n", (int)by, value);
		return;
	}
	fprintf(fp, "%d:%s id=%s dir=%s kind=%d user=%s app=%s owner=%s "
	    "active=%d deleted=%d revoked=%d state=%d epoch=%llu groups=%zu\n",
	    (int)by, value, info.id, info.directory ? info.directory : "-",
	    (int)info.kind, info.user_name ? info.user_name : "-",
	    info.app_id ? info.app_id : "-",
	    info.owner_id ? info.owner_id : "-", info.active, info.deleted,
	    info.revoked_all, (int)info.state,
	    (unsigned long long)info.subject_epoch, info.ngroups);
}

/* Every decision for a quarantined principal is principal_unavailable. */
static void
denies_unavailable(const struct policy_index *idx, const struct names *nm,
    const char *id)
{
	struct policy_result	r;
	struct policy_subject	subj;
	size_t			j, k;

	subj.by = POLICY_BY_ID;
	subj.value = id;
	subj.directory = NULL;
	for (j = 0; j < nm->ns; j++) {
		for (k = 0; k < nm->nt; k++) {
			(void)policy_evaluate(idx, &subj, nm->servers[j],
			    nm->tools[k], NOW_MS, &r);
			FUZZ_ASSERT(r.decision == POLICY_DENY &&
			    r.reason == POLICY_R_PRINCIPAL_UNAVAILABLE,
			    "quarantined %s: %s on %s/%s", id,
			    policy_reason_str(r.reason), nm->servers[j],
			    nm->tools[k]);
		}
	}
}

/* Everything observable about idx and dirs, as text (malloc()ed). */
static char *
fingerprint(const struct policy_index *idx, const struct policy_dirs *dirs,
    const struct names *nm, int with_version)
{
	static const enum policy_alias	 aliases[] = { POLICY_BY_USERNAME,
	    POLICY_BY_EMAIL, POLICY_BY_APP_ID, POLICY_BY_EXTERNAL_ID };
	struct policy_stats		 st;
	struct policy_result		 r;
	struct policy_subject		 subj;
	FILE				*fp;
	char				*buf, *d;
	size_t				 len, i, j, k;

	buf = NULL;
	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	policy_stats(idx, &st);
	fprintf(fp, "principals=%zu groups=%zu memberships=%zu nestings=%zu "
	    "servers=%zu tools=%zu rules=%zu grants=%zu placeholders=%zu\n",
	    st.principals, st.groups, st.memberships, st.nestings, st.servers,
	    st.tools, st.rules, st.grants, st.placeholders);
	if (with_version)
		fprintf(fp, "version=%llu\n",
		    (unsigned long long)policy_version(idx));
	d = json_dumps(dirs->by_name, JSON_COMPACT | JSON_SORT_KEYS);
	fprintf(fp, "dirs=%s\n", d ? d : "?");
	free(d);
	for (i = 0; i < nm->np; i++)
		print_principal(fp, idx, POLICY_BY_ID, nm->principals[i]);
	for (i = 0; i < nm->na; i++)
		for (k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++)
			print_principal(fp, idx, aliases[k], nm->aliases[i]);
	for (i = 0; i < nm->np; i++) {
		subj.by = POLICY_BY_ID;
		subj.value = nm->principals[i];
		subj.directory = NULL;
		for (j = 0; j < nm->ns; j++) {
			for (k = 0; k < nm->nt; k++) {
				(void)policy_evaluate(idx, &subj,
				    nm->servers[j], nm->tools[k], NOW_MS, &r);
				fprintf(fp, "%s %s %s: %d %s rule=%s group=%s "
				    "role=%s nest=%d grant=%s max=%lld "
				    "epoch=%llu", subj.value,
				    nm->servers[j], nm->tools[k],
				    (int)r.decision,
				    policy_reason_str(r.reason),
				    r.rule_id ? r.rule_id : "-",
				    r.group_id ? r.group_id : "-",
				    r.role ? r.role : "-", r.nest_exceeded,
				    r.grant_id ? r.grant_id : "-",
				    (long long)r.max_grant_ms,
				    (unsigned long long)r.subject_epoch);
				if (with_version)
					fprintf(fp, " v=%llu", (unsigned long
					    long)r.policy_version);
				fputc('\n', fp);
			}
		}
	}
	if (fclose(fp) != 0)
		abort();
	return (buf);
}

/* Every id in dirs is the directory_id of some record. */
static void
check_dirs(const struct policy_dirs *dirs, const json_t *records)
{
	const json_t	*rec, *v, *id;
	const char	*key;
	char		 buf[32];
	size_t		 i;
	int		 found;

	json_object_foreach(dirs->by_name, key, v) {
		found = 0;
		json_array_foreach(records, i, rec) {
			id = json_object_get(rec, "directory_id");
			if (json_is_integer(id)) {
				(void)snprintf(buf, sizeof(buf), "%lld",
				    (long long)json_integer_value(id));
				found |= json_is_string(v) &&
				    strcmp(json_string_value(v), buf) == 0;
			} else if (json_is_string(id))
				found |= json_equal(v, id);
		}
		FUZZ_ASSERT(found, "directory %s maps to an id no record "
		    "gave", key);
	}
}

/*
 * Last-writer-wins, modelled for user and service principal records:
 * for each (kind, id), the newest (version, seq) the index has seen
 * (refused records included: policy_store_apply keeps them) and the
 * newest one the replay will see.
 */
struct lww_model {
	const char	*kind;
	const char	*id;
	json_int_t	 va, sa;	/* index a: every record */
	json_int_t	 vb, sb;	/* the replay: records passed on */
};

struct lww_models {
	struct lww_model	e[RECORDS_MAX];
	size_t			n;
};

/* The model entry of a user or sp record the index orders, or NULL. */
static struct lww_model *
lww_entry(struct lww_models *h, const json_t *rec, json_int_t *v,
    json_int_t *s)
{
	const char	*kind, *id;
	size_t		 i;

	kind = json_string_value(json_object_get(rec, "kind"));
	id = json_string_value(json_object_get(rec, "id"));
	*v = json_integer_value(json_object_get(rec, "version"));
	*s = json_integer_value(json_object_get(rec, "seq"));
	if (kind == NULL || id == NULL || *v <= 0 ||
	    (strcmp(kind, "user") != 0 && strcmp(kind, "sp") != 0))
		return (NULL);
	for (i = 0; i < h->n; i++)
		if (strcmp(h->e[i].kind, kind) == 0 &&
		    strcmp(h->e[i].id, id) == 0)
			return (&h->e[i]);
	if (h->n == RECORDS_MAX)
		abort();
	memset(&h->e[h->n], 0, sizeof(h->e[h->n]));
	h->e[h->n].kind = kind;
	h->e[h->n].id = id;
	return (&h->e[h->n++]);
}

/* (v, s) is not newer than (lv, ls): the index skips it. */
static int
not_newer(json_int_t v, json_int_t s, json_int_t lv, json_int_t ls)
{
	return (lv > v || (lv == v && ls >= s));
}

/*
 * 1 when index a skipped the accepted record (v, s) of e only because
 * of a refused record of the same id (not newer than what a saw, newer
 * than everything the replay saw).  Updates the model.
 */
static int
held_back(struct lww_model *e, json_int_t v, json_int_t s)
{
	int	held;

	held = not_newer(v, s, e->va, e->sa) &&
	    !not_newer(v, s, e->vb, e->sb);
	if (!held && !not_newer(v, s, e->vb, e->sb)) {
		e->vb = v;
		e->sb = s;
	}
	return (held);
}

static void
seen(struct lww_model *e, json_int_t v, json_int_t s)
{
	if (!not_newer(v, s, e->va, e->sa)) {
		e->va = v;
		e->sa = s;
	}
}

struct state {
	struct policy_index	*idx;
	struct policy_dirs	 dirs;
	struct policy_lww	*lww;
};

static void
state_init(struct state *s)
{
	s->idx = policy_new();
	s->dirs.by_name = json_object();
	s->lww = policy_lww_new();
	if (s->idx == NULL || s->dirs.by_name == NULL || s->lww == NULL)
		abort();
}

static void
state_free(struct state *s)
{
	policy_free(s->idx);
	policy_dirs_cleanup(&s->dirs);
	policy_lww_free(s->lww);
}

static void
same(const char *what, const char *a, const char *b, const json_t *rec)
{
	char	*r;

	if (strcmp(a, b) == 0)
		return;
	r = json_dumps(rec, JSON_COMPACT);
	FUZZ_ASSERT(0, "%s (record %s):\n--- before\n%s--- after\n%s", what,
	    r ? r : "?", a, b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state		 a, b;
	struct policy_lww	*scratch;
	struct names		 nm;
	struct policy_refusal	 ref;
	struct lww_models	 models;
	struct lww_model	*e;
	json_t			*in, *records, *accepted, *rec, *again;
	json_int_t		 v, s;
	char			*fp1, *fp2, *text;
	size_t			 i;
	int			 changed, quarantined, rc;

	in = json_loadb((const char *)data, size, 0, NULL);
	if (json_is_object(in)) {
		records = json_pack("[O]", in);
	} else if (json_is_array(in) && json_array_size(in) <= RECORDS_MAX) {
		records = json_incref(in);
	} else {
		json_decref(in);
		return (0);
	}
	collect(records, &nm);
	accepted = json_array();
	quarantined = 0;
	models.n = 0;
	state_init(&a);
	json_array_foreach(records, i, rec) {
		fp1 = fingerprint(a.idx, &a.dirs, &nm, 0);
		e = lww_entry(&models, rec, &v, &s);
		rc = policy_store_apply(a.idx, &a.dirs, a.lww, 0, rec, &ref);
		if (rc == -1) {
			if (e != NULL)
				seen(e, v, s);
			if (ref.quarantined) {
				/* Fail closed: its principal denies now. */
				quarantined = 1;
				if (ref.subjects == 0)
					denies_unavailable(a.idx, &nm,
					    ref.principal);
			} else {
				fp2 = fingerprint(a.idx, &a.dirs, &nm, 0);
				same("a refused record changed the index", fp1,
				    fp2, rec);
				free(fp2);
			}
			free(fp1);
			continue;
		}
		text = fingerprint(a.idx, &a.dirs, &nm, 0);
		changed = strcmp(fp1, text) != 0;
		free(text);
		if (e != NULL && held_back(e, v, s)) {
			/*
			 * Skipped behind a refused record of its id: that is
			 * exactly a version mark.  A new index, without the
			 * refused record, would apply it (or refuse it: e.g.
			 * the same record again), so it is not replayed as is.
			 */
			FUZZ_ASSERT(!changed, "a record skipped behind a "
			    "refused one changed the index");
			if (json_array_append_new(accepted, json_pack("{s:s,"
			    "s:I}", "kind", "version", "version", v)) == -1)
				abort();
		} else
			(void)json_array_append(accepted, rec);
		if (e != NULL)
			seen(e, v, s);
		fp2 = fingerprint(a.idx, &a.dirs, &nm, 1);
		FUZZ_ASSERT(policy_store_apply(a.idx, &a.dirs, a.lww, 0,
		    rec, NULL) == 0, "accepted once, refused the second time");
		text = fingerprint(a.idx, &a.dirs, &nm, 1);
		same("applying a record twice", fp2, text, rec);
		free(text);
		if (changed) {
			/* It changed the index: it was applied, not skipped. */
			if ((scratch = policy_lww_new()) == NULL)
				abort();
			(void)policy_store_apply(a.idx, &a.dirs, scratch, 0,
			    rec, NULL);
			policy_lww_free(scratch);
			text = fingerprint(a.idx, &a.dirs, &nm, 1);
			same("re-applying a full-state record", fp2, text,
			    rec);
			free(text);
		}
		free(fp1);
		free(fp2);
	}

	check_dirs(&a.dirs, records);

	/* The accepted records, as JSON text, into a new index. */
	if ((text = json_dumps(accepted, JSON_COMPACT)) == NULL ||
	    (again = json_loads(text, 0, NULL)) == NULL)
		abort();
	free(text);
	state_init(&b);
	json_array_foreach(again, i, rec)
		FUZZ_ASSERT(policy_store_apply(b.idx, &b.dirs, b.lww, 0,
		    rec, NULL) == 0, "accepted record %zu refused on replay",
		    i);
	/*
	 * A quarantine is state the accepted records alone do not carry
	 * (it comes from a refused one), so the replay is compared only
	 * when nothing was quarantined.
	 */
	if (!quarantined) {
		fp1 = fingerprint(a.idx, &a.dirs, &nm, 1);
		fp2 = fingerprint(b.idx, &b.dirs, &nm, 1);
		same("the accepted records replayed give another index", fp1,
		    fp2, again);
		free(fp1);
		free(fp2);
	}
	state_free(&b);
	state_free(&a);
	json_decref(again);
	json_decref(accepted);
	json_decref(records);
	json_decref(in);

	return (0);
}
