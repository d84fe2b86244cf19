/*
 * rollcall console: a thin client of the documented admin API
 * (/openapi.json).  Everything it shows or does, a script can do with
 * the same token.  No framework, no external asset, no inline script
 * (the page's Content-Security-Policy forbids them); every value from
 * the API is put into the page as text, never as markup.
 *
 * The admin token is kept in sessionStorage only (gone with the tab)
 * and removed on sign-out.  A directory-bound token sees only its
 * directory, exactly as in the API.
 */
"use strict";

const TOKEN_KEY = "rollcall.token";
const LIVE_MS = 3000;		/* how often open pages refresh */
let liveTimer = null;
let renderGen = 0;		/* pages finish out of order: latest wins */

/* ---- DOM ---- */

function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith("on"))
			el.addEventListener(k.slice(2), v);
		else if (k === "text")
			el.textContent = v;
		else
			el.setAttribute(k, v === true ? "" : String(v));
	}
	for (const kid of kids.flat()) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		el.append(kid instanceof Node ? kid : String(kid));
	}
	return el;
}

function main() { return document.getElementById("main"); }

function show(...nodes) {
	main().replaceChildren(...nodes.flat().filter((n) =>
	    n !== null && n !== undefined && n !== false));
}

function banner(message, ok) {
	const b = document.getElementById("banner");
	if (!message) {
		b.hidden = true;
		return;
	}
	b.textContent = message;
	b.className = ok ? "ok" : "";
	b.hidden = false;
}

function empty(text) { return h("p", { class: "empty", text }); }

function decision(d) {
	return h("span", { class: d.allow ? "allow" : "deny",
	    text: d.allow ? "allow" : "deny" });
}

function table(headers, rows, cls) {
	return h("table", { class: cls || null },
	    h("thead", {}, h("tr", {}, headers.map((t) => h("th", {
		scope: "col", text: t })))),
	    h("tbody", {}, rows.map((r) => h("tr", {},
		r.map((c) => h("td", {}, c))))));
}

function field(label, input) { return h("label", {}, label, input); }

function when(s) { return s ? s.replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

/* ---- API ---- */

class ApiError extends Error {
	constructor(status, body) {
		super((body && (body.message || body.detail)) ||
		    `HTTP ${status}`);
		this.status = status;
		this.body = body;
	}
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(method, path, body) {
	const opts = { method, headers: { Authorization: `Bearer ${token()}` } };
	if (body !== undefined) {
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body);
	}
	const r = await fetch(path, opts);
	const text = await r.text();
	let data = null;
	try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
	if (r.status === 401) {
		signOut("The token was refused (401): sign in again.");
		throw new ApiError(401, data);
	}
	if (!r.ok)
		throw new ApiError(r.status, data);
	return data;
}

function qs(params) {
	const p = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		if (v !== undefined && v !== null && v !== "")
			p.set(k, v);
	const s = p.toString();
	return s ? `?${s}` : "";
}

/* Runs an action, showing its error instead of swallowing it. */
async function act(fn, okText) {
	try {
		banner(null);
		await fn();
		if (okText)
			banner(okText, true);
	} catch (e) {
		if (e.status !== 401)
			banner(e.message);
	}
}

/* ---- sign-in ---- */

function signOut(message) {
	sessionStorage.removeItem(TOKEN_KEY);
	/* The hash stays: after signing in again, the same page. */
	render().then(() => { if (message) banner(message); });
}

function pageSignin() {
	const input = h("input", { id: "token", type: "password",
	    autocomplete: "off", required: true,
	    placeholder: "rcl_…", "aria-describedby": "token-help" });
	const form = h("form", { class: "signin", onsubmit: async (ev) => {
		ev.preventDefault();
		sessionStorage.setItem(TOKEN_KEY, input.value.trim());
		try {
			await api("GET", "/admin/v1/directories");
		} catch (e) {
			sessionStorage.removeItem(TOKEN_KEY);
			banner(e.status === 401 ? "That token was refused: " +
			    "check it, and that it has the admin scope." :
			    e.message);
			return;
		}
		banner(null);
		if (location.hash === "#/signin")
			location.hash = "#/overview";
		else
			render();
	} },
	    h("h1", { text: "Sign in" }),
	    field("Admin token", input),
	    h("p", { id: "token-help", class: "muted", text: "An admin " +
		"token (rollcallctl token create --scope admin). It is kept " +
		"in this tab only and forgotten on sign-out." }),
	    h("button", { class: "primary", type: "submit",
		text: "Sign in" }));
	const ms = h("div", { class: "signin", id: "entra-signin", hidden: true },
	    h("button", { id: "entra-button", type: "button",
		onclick: () => act(entraStart) },
		"Sign in with Microsoft"),
	    h("p", { class: "muted", text: "With your work account: the " +
		"admin app role decides, and you see your directory only." }));
	show(form, ms);
	input.focus();
	signinConfig().then((cfg) => {
		if (cfg)
			ms.hidden = false;
	}).catch((e) => banner(e.message));
}

/*
 * "Sign in with Microsoft": authorization code with PKCE, this page
 * being a public client (an Entra "single-page application").  The
 * verifier and state stay in this tab's sessionStorage; the browser
 * redeems the code at the authority's token endpoint itself (the CSP's
 * one connect-src exception), and the access token it gets is the
 * admin API's Bearer credential, like an admin token.
 */
const PKCE_KEY = "rollcall.pkce";
let signinCfg;

async function signinConfig() {
	if (signinCfg === undefined) {
		const r = await fetch("/console/signin.json");
		if (!r.ok)
			throw new ApiError(r.status, null);
		signinCfg = (await r.json()).entra;
	}
	return signinCfg;
}

function b64url(bytes) {
	let s = "";
	for (const b of new Uint8Array(bytes))
		s += String.fromCharCode(b);
	return btoa(s).replace(/\+/g, "-").replace(/\//g, "_")
	    .replace(/=+$/, "");
}

function randomString() {
	return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

function endpoint(cfg, what) {
	return `${cfg.authority.replace(/\/+$/, "")}/` +
	    `${encodeURIComponent(cfg.tenant)}/oauth2/v2.0/${what}`;
}

async function entraStart() {
	const cfg = await signinConfig();
	if (!cfg)
		throw new Error("Sign-in with Microsoft is not configured.");
	const verifier = randomString();
	const state = randomString();
	const challenge = b64url(await crypto.subtle.digest("SHA-256",
	    new TextEncoder().encode(verifier)));
	sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state,
	    hash: location.hash }));
	const q = new URLSearchParams({ client_id: cfg.client_id,
	    response_type: "code", redirect_uri: cfg.redirect_uri,
	    response_mode: "query", scope: cfg.scope, state,
	    code_challenge: challenge, code_challenge_method: "S256" });
	location.assign(`${endpoint(cfg, "authorize")}?${q}`);
}

/* Back from the authority: ?code=&state= or ?error=. */
async function entraReturn(params) {
	const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
	sessionStorage.removeItem(PKCE_KEY);
	/* The code must not stay in the address bar or the history. */
	history.replaceState(null, "", location.pathname +
	    (saved && saved.hash ? saved.hash : "#/overview"));
	if (params.get("error"))
		throw new Error("Microsoft refused the sign-in: " +
		    (params.get("error_description") || params.get("error")));
	if (!saved || !params.get("state") ||
	    params.get("state") !== saved.state)
		throw new Error("Sign-in refused: the answer does not match " +
		    "the request this tab made (state). Sign in again.");
	const cfg = await signinConfig();
	if (!cfg)
		throw new Error("Sign-in with Microsoft is not configured.");
	const r = await fetch(endpoint(cfg, "token"), { method: "POST",
	    body: new URLSearchParams({ client_id: cfg.client_id,
		grant_type: "authorization_code", code: params.get("code"),
		redirect_uri: cfg.redirect_uri, code_verifier: saved.verifier,
		scope: cfg.scope }) });
	const data = await r.json().catch(() => null);
	if (!r.ok || !data || !data.access_token)
		throw new Error("Microsoft did not issue a token: " +
		    ((data && (data.error_description || data.error)) ||
		    `HTTP ${r.status}`));
	sessionStorage.setItem(TOKEN_KEY, data.access_token);
	try {
		await api("GET", "/admin/v1/directories");
	} catch (e) {
		sessionStorage.removeItem(TOKEN_KEY);
		throw e;
	}
}

/* ---- overview ---- */

async function pageOverview(view) {
	const [dirs, servers, rules, grants, toks, act] = await Promise.all([
	    api("GET", "/admin/v1/directories"),
	    api("GET", "/admin/v1/servers"),
	    api("GET", "/admin/v1/rules"),
	    api("GET", "/admin/v1/grants?state=active"),
	    api("GET", "/admin/v1/tokens"),
	    api("GET", "/admin/v1/activity")]);
	const soon = Date.now() + 14 * 86400 * 1000;
	const expiring = toks.tokens.filter((t) => t.status === "active" &&
	    t.expires_at && Date.parse(t.expires_at) < soon);
	const card = (n, l) => h("div", { class: "card" },
	    h("div", { class: "n", text: n }), h("div", { class: "l", text: l }));
	const activity = h("div", { id: "activity" });
	renderActivity(activity, act);
	view.show(h("h1", { text: "Overview" }),
	    h("div", { class: "cards" },
		card(dirs.directories.reduce((a, d) => a + d.users, 0), "users"),
		card(dirs.directories.reduce((a, d) => a + d.groups, 0),
		    "groups"),
		card(servers.servers.length, "MCP servers"),
		card(rules.rules.length, "rules"),
		card(grants.grants.length, "active grants")),
	    h("h2", { text: "Directories" }),
	    table(["Directory", "Users", "Groups", "Created"],
		dirs.directories.map((d) => [d.name, d.users, d.groups,
		    when(d.created_at)])),
	    h("h2", { text: "Tokens that expire within 14 days" }),
	    expiring.length ? table(["Name", "Scopes", "Directory", "Expires"],
		expiring.map((t) => [t.name, t.scopes, t.directory || "all",
		    when(t.expires_at)])) :
		empty("None. An expired SCIM token stops Entra provisioning, " +
		    "and offboarding with it: renew before it expires."),
	    activity);
	/* Counts move as Entra and the gateways call: follow them. */
	let last = JSON.stringify(act.directories);
	view.live(async () => {
		const now = await api("GET", "/admin/v1/activity");
		const txt = JSON.stringify(now.directories);
		if (txt !== last) {
			last = txt;
			renderActivity(activity, now);
		}
	});
}

/* ---- overview: activity (GET /admin/v1/activity) ---- */

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...kids) {
	const el = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {}))
		el.setAttribute(k, String(v));
	for (const kid of kids.flat())
		if (kid !== null && kid !== undefined)
			el.append(kid instanceof Node ? kid : String(kid));
	return el;
}

function ago(sec) {
	if (sec < 90)
		return `${sec} s ago`;
	if (sec < 5400)
		return `${Math.round(sec / 60)} min ago`;
	if (sec < 172800)
		return `${Math.round(sec / 3600)} h ago`;
	return `${Math.round(sec / 86400)} days ago`;
}

function hhmm(t) { return t.slice(11, 16); }

/*
 * A stacked bar chart drawn by hand: bars of {label, a, b} (a at the
 * bottom, b on top), classes ca and cb giving their colours (CSS).  The
 * figure is described in its label and each bar in a title, for screen
 * readers and hover.
 */
function barChart(id, bars, ca, cb, label, names, span) {
	const W = 600, H = 110, top = 14, base = 96;
	const max = Math.max(1, ...bars.map((x) => x.a + x.b));
	const bw = W / bars.length;
	const y = (v) => (base - top) * v / max;
	const kids = [s("title", {}, label),
	    s("line", { x1: 0, x2: W, y1: base + 0.5, y2: base + 0.5,
		class: "axis" }),
	    s("text", { x: 2, y: 10, class: "tick" }, `max ${max}`),
	    s("text", { x: 2, y: H - 2, class: "tick" }, span),
	    s("text", { x: W - 2, y: H - 2, class: "tick end" }, "now")];
	bars.forEach((x, i) => {
		const ha = y(x.a), hb = y(x.b);
		const g = s("g", {}, s("title", {}, `${hhmm(x.label)}: ` +
		    `${x.a} ${names[0]}, ${x.b} ${names[1]}`));
		if (x.a)
			g.append(s("rect", { x: i * bw + 1, width: bw - 2,
			    y: base - ha, height: ha, class: ca }));
		if (x.b)
			g.append(s("rect", { x: i * bw + 1, width: bw - 2,
			    y: base - ha - hb, height: hb, class: cb }));
		kids.push(g);
	});
	return s("svg", { id, class: "chart", viewBox: `0 0 ${W} ${H}`,
	    role: "img", "aria-label": label },
	    kids);
}

function plural(k, one) { return `${k} ${k === 1 ? one : one + "s"}`; }

function counts(obj, what) {
	const rows = Object.entries(obj || {}).sort((x, y) => y[1] - x[1]);
	return rows.length ? table([what, "Count"], rows) : null;
}

function renderActivity(box, act) {
	const quiet = act.directories.filter((d) => d.scim.quiet);
	const mins = Math.round(act.quiet_after_s / 60);
	box.replaceChildren(...[
	    quiet.length ? h("p", { class: "warn", role: "status",
		id: "quiet-warning" }, "Entra provisioning is quiet for " +
		quiet.map((d) => `${d.directory} (last request ` +
		`${ago(d.scim.quiet_for_s)})`).join(", ") + `: no SCIM ` +
		`request for over ${mins} minutes, two of Entra's ` +
		"provisioning cycles. The job may be in quarantine: check " +
		"its provisioning logs in Entra.") : null,
	    act.directories.map((d) => directoryActivity(d, mins))].flat()
	    .filter((n) => n !== null));
}

function directoryActivity(d, mins) {
	const sc = d.scim, dc = d.decisions;
	const req = sc.hours.reduce((a, x) => a + x.requests, 0);
	const err = sc.hours.reduce((a, x) => a + x.errors, 0);
	const allow = dc.minutes.reduce((a, x) => a + x.allow, 0);
	const deny = dc.minutes.reduce((a, x) => a + x.deny, 0);
	const health = !sc.last_request_at ?
	    h("span", { class: "pill scim-health", text: "not connected" }) :
	    sc.quiet ? h("span", { class: "pill deny scim-health quiet",
		text: `quiet for ${ago(sc.quiet_for_s).replace(" ago", "")}` }) :
	    h("span", { class: "pill allow scim-health",
		text: "provisioning" });
	return h("section", { class: "activity", "data-directory": d.directory,
	    "aria-label": `Activity of ${d.directory}` },
	    h("h2", { text: `Directory ${d.directory}` }),
	    h("h3", {}, "Entra provisioning ", health),
	    h("p", { class: "scim-last" }, sc.last_request_at ?
		`Last SCIM request ${when(sc.last_request_at)} ` +
		`(${ago(sc.quiet_for_s)}); ${plural(req, "request")} and ` +
		`${plural(err, "error")} in the last 24 h. Entra calls about ` +
		`every 40 minutes; a job quiet for over ${mins} minutes is ` +
		"flagged." :
		"Entra has not called yet. Connect provisioning (README, " +
		"\"Connect Microsoft Entra ID\") with a SCIM token of this " +
		"directory."),
	    barChart(`scim-${d.directory}`, sc.hours.map((x) => ({
		label: x.hour, a: x.requests - x.errors, b: x.errors })),
		"ok", "bad", `SCIM requests per hour, last 24 hours: ${req} ` +
		`requests, ${err} errors`, ["ok", "errors"], "24 h ago"),
	    counts(sc.errors, "SCIM error (HTTP status)") ||
		(req ? h("p", { class: "muted", text: "No SCIM errors in the " +
		"last 24 hours." }) : null),
	    h("h3", { text: "Decisions per minute, last hour" }),
	    h("p", { class: "decision-totals" }, h("span", { class: "allow",
		text: `${allow} allowed` }), ", ", h("span", { class: "deny",
		text: `${deny} denied` }), " in the last hour."),
	    barChart(`decisions-${d.directory}`, dc.minutes.map((x) => ({
		label: x.minute, a: x.allow, b: x.deny })), "ok", "bad",
		`Decisions per minute, last hour: ${allow} allowed, ` +
		`${deny} denied`, ["allowed", "denied"], "60 min ago"),
	    counts(dc.denies, "Deny reason") || (allow + deny ? null :
		empty("No decisions in the last hour. Gateways ask " +
		"/v1/authorize (or AuthZEN, OPA, ext_authz) with a gateway " +
		"token of this directory.")),
	    h("h3", { text: "Kill switches in force" }),
	    d.kill_switches.length ? table(["Who", "Since", "By"],
		d.kill_switches.map((k) => [k.kind === "user" ?
		    h("a", { href: `#/users/${k.id}`, text: k.name }) :
		    `${k.name} (service principal)`, when(k.since),
		    k.by || "unknown"]), "kill-switches") :
		empty("None. The kill switch on a user's page denies every " +
		    "tool to that user at once, on every gateway."));
}

/* ---- users ---- */

function userLink(u) {
	return h("a", { href: `#/users/${u.id}`, text: u.userName || u.id });
}

async function pageUsers(view, query) {
	const q = (query.get("q") || "").trim();
	const input = h("input", { id: "user-search", type: "search",
	    value: q, placeholder: "userName, email or id" });
	const form = h("form", { class: "inline", role: "search",
	    onsubmit: (ev) => {
		ev.preventDefault();
		location.hash = `#/users?q=${encodeURIComponent(input.value.trim())}`;
	} }, field("Find a user", input),
	    h("button", { type: "submit", text: "Search" }));
	let users;
	if (!q) {
		users = (await api("GET", "/admin/v1/users?limit=50")).users;
	} else if (/^[0-9a-f-]{36}$/i.test(q)) {
		try {
			users = [await api("GET", `/admin/v1/users/${q}`)];
		} catch (e) {
			if (e.status !== 404)
				throw e;
			users = [];
		}
	} else {
		users = (await api("GET", "/admin/v1/users" +
		    qs({ userName: q }))).users;
		if (!users.length)
			users = (await api("GET", "/admin/v1/users" +
			    qs({ email: q }))).users;
		if (!users.length)
			users = (await api("GET", "/admin/v1/users" +
			    qs({ externalId: q }))).users;
	}
	view.show(h("h1", { text: "Users" }), form,
	    users.length ? table(["User", "Status", "Directory", "Emails"],
		users.map((u) => [userLink(u), status(u), u.directory,
		    (u.emails || []).join(", ")])) :
		empty(q ? "No user matches. Search by the exact userName, an " +
		    "email address, the Entra object id (externalId) or " +
		    "rollcall's id." : "No users yet. Connect Entra " +
		    "provisioning (README, \"Connect Microsoft Entra ID\")."));
	input.focus();
}

function status(u) {
	if (u.revoked_all_at)
		return h("span", { class: "pill deny", text: "kill switch" });
	return h("span", { class: `pill ${u.active ? "allow" : "deny"}`,
	    text: u.active ? "active" : "disabled" });
}

async function pageUser(view, id) {
	const [u, audit, srv] = await Promise.all([
	    api("GET", `/admin/v1/users/${id}`),
	    api("GET", "/admin/v1/audit" + qs({ subject: id, limit: 20 })),
	    api("GET", "/admin/v1/servers"),
	    learnGroups(), learnRules()]);
	const nest = await nestedGroups(u.groups);
	const tools = u.effective_tools || [];
	const roles = ((u.scim && u.scim.roles) || []).map((r) =>
	    r && typeof r === "object" ? r.value : r).filter((v) => v);
	const servers = srv.servers.map((s) => s.slug);
	const killed = !!u.revoked_all_at;
	const explainOut = h("div", { id: "explain-out", "aria-live": "polite" });
	const sSel = h("select", { id: "explain-server" },
	    servers.map((s) => h("option", { value: s, text: s })));
	const tIn = h("input", { id: "explain-tool", list: "tool-names",
	    placeholder: "tool name" });
	const names = h("datalist", { id: "tool-names" },
	    [...new Set(tools.map((t) => t.tool))].map((n) =>
		h("option", { value: n })));
	const explain = h("form", { class: "inline", onsubmit: (ev) => {
		ev.preventDefault();
		act(async () => {
			const r = await api("POST", "/admin/v1/explain", {
			    subject: { id }, server: sSel.value,
			    tool: tIn.value.trim() });
			explainOut.replaceChildren(renderExplain(r));
		});
	} }, field("Server", sSel), field("Tool", tIn), names,
	    h("button", { type: "submit", text: "Explain" }));
	const kill = h("button", { id: "kill", class: killed ? "" : "danger",
	    type: "button", text: killed ? "Restore access" :
	    "Revoke all access (kill switch)", onclick: () => act(async () => {
		const verb = killed ? "restore" : "revoke-all";
		const ok = window.confirm(killed ?
		    `Restore ${u.userName}'s access?` :
		    `Deny every tool to ${u.userName} on every gateway, now?`);
		if (!ok)
			return;
		await api("POST", `/admin/v1/principals/${id}:${verb}`, {
		    reason: "from the console" });
		await render();
	}, killed ? "Access restored." : "Kill switch on: every answer for " +
	    "this user is now deny.") });
	view.show(h("h1", {}, u.userName, " ", status(u)),
	    h("p", { class: "muted" }, `id ${u.id} · externalId ` +
		`${u.externalId || "none"} · directory ${u.directory}`),
	    h("div", { class: "row" }, kill),
	    h("h2", { text: "Groups" }),
	    userGroups(u, nest),
	    h("h2", { text: "App roles" }),
	    roles.length ? h("ul", { id: "user-roles" }, roles.map((r) =>
		h("li", {}, h("code", { text: r })))) :
		empty("No app role. Entra sends a user's app role assignments " +
		    "as SCIM roles; rules may name a role (Rules, subject kind " +
		    "role)."),
	    u.service_principals.length ? [h("h2", { text:
		"Service principals owned" }), h("ul", {},
		u.service_principals.map((s) => h("li", { text: s.name })))] :
		null,
	    h("h2", { text: "Tools this user may use" }),
	    tools.length ? table(["Server", "Tool", "Decision", "Reason",
		"Through"], tools.map((t) => [t.server, t.tool, decision(t),
		    t.reason_code, pathText(t.path)]), "wide-ok tools") :
		empty(killed ? "None: the kill switch denies everything." :
		    !u.active ? "None: the user is disabled, so every answer " +
		    "is deny." : !servers.length ? "No MCP server is " +
		    "registered yet (Servers)." : "None: no rule allows this " +
		    "user any tool. Explain a tool below to see why."),
	    h("h2", { text: "Explain a decision" }), explain, explainOut,
	    h("h2", { text: "History" }),
	    audit.records.length ? table(["When", "What", "By"],
		audit.records.map((a) => [when(a.at), a.type, a.actor])) :
		empty("No audit records name this user."));
	view.live(async () => {
		const now = await api("GET", `/admin/v1/users/${id}`);
		if (now.active !== u.active || now.revoked_all_at !==
		    u.revoked_all_at || JSON.stringify(now.effective_tools) !==
		    JSON.stringify(u.effective_tools))
			await render();
	});
}

/*
 * A rule's path ("principal:U", "group:A", "group:B", "rule:R", or
 * "role:V", "everyone") as an admin reads it: the groups by name from
 * the user's direct group outwards, or the role.
 */
function pathText(path) {
	if (!Array.isArray(path) || !path.length)
		return "";
	const steps = path.filter((p) => !p.startsWith("principal:") &&
	    !p.startsWith("rule:")).map((p) => {
		const i = p.indexOf(":");
		const kind = i < 0 ? p : p.slice(0, i);
		const v = i < 0 ? "" : p.slice(i + 1);
		return kind === "group" ? `group ${nameOf(v)}` :
		    kind === "role" ? `role ${v}` : v ? `${kind} ${v}` : kind;
	});
	if (steps.length)
		return steps.join(" → ");
	/* Effective tools leave "everyone" out of the path: the rule says. */
	const last = path[path.length - 1];
	const subj = last.startsWith("rule:") ?
	    ruleSubjects.get(last.slice(5)) : null;
	return subj && (subj === "everyone" || subj.kind === "everyone") ?
	    "everyone" : subj && subj.kind === "user" ?
	    "the user (named directly)" : subj ? subjectText(subj) : "";
}

/* Rule subjects by rule id, for the paths on a user's page. */
const ruleSubjects = new Map();

async function learnRules() {
	const r = await api("GET", "/admin/v1/rules");
	ruleSubjects.clear();
	for (const x of r.rules)
		ruleSubjects.set(x.id, x.subject);
}

/*
 * The groups a user reaches through nesting: from the direct groups
 * outwards along each group's member_of, breadth first (so each chain
 * is a shortest one), as far as the policy follows them
 * (group_nesting_depth, 8 by default) and at most NEST_FETCH_MAX group
 * reads.  Returns { nested: [{id, chain: [direct, ..., id]}], cut }.
 */
const NEST_DEPTH = 8, NEST_FETCH_MAX = 100;

async function nestedGroups(direct) {
	const chains = new Map(direct.map((g) => [g.id, [g.id]]));
	const nested = [];
	let level = direct.map((g) => g.id), fetched = 0, cut = false;
	for (let depth = 1; depth < NEST_DEPTH && level.length; depth++) {
		if (fetched + level.length > NEST_FETCH_MAX) {
			cut = true;
			break;
		}
		fetched += level.length;
		const got = await Promise.all(level.map((g) =>
		    api("GET", `/admin/v1/groups/${g}`)));
		const next = [];
		got.forEach((g) => {
			for (const p of g.member_of || []) {
				names.set(p.id, p.displayName);
				if (chains.has(p.id))
					continue;
				const c = [...chains.get(g.id), p.id];
				chains.set(p.id, c);
				nested.push({ id: p.id, chain: c });
				next.push(p.id);
			}
		});
		level = next;
	}
	return { nested, cut };
}

function userGroups(u, nest) {
	const glink = (g) => h("a", { href: `#/groups/${g}`, text: nameOf(g) });
	if (!u.groups.length)
		return empty("In no group: only rules that name the user, " +
		    "their app roles or everyone apply.");
	const rows = [
	    ...u.groups.map((g) => [h("a", { href: `#/groups/${g.id}`,
		text: g.displayName }), "direct member"]),
	    ...nest.nested.map((g) => [glink(g.id), h("span", { class: "path" },
		"through ", g.chain.slice(0, -1).flatMap((x, i) =>
		[i ? " → " : "", glink(x)]), " → ", nameOf(g.id))])];
	return [table(["Group", "How"], rows, "user-groups"),
	    u.group_count > u.groups.length || nest.cut ? h("p", {
		class: "muted", text: "Not every group is shown: the user is " +
		"in more groups than one page holds (rollcallctl user or " +
		"GET /admin/v1/users/{id}/groups lists them all)." }) : null];
}

function renderExplain(r) {
	const rules = r.matching_rules || [];
	const decider = rules.find((m) => m.rule_id === r.rule_id);
	return h("div", { class: "card" },
	    h("p", {}, decision(r), ` ${r.reason_code}: ${r.reasoning || ""}`),
	    decider ? h("p", { class: "deciding" }, "Deciding rule ",
		h("code", { text: r.rule_id }), ` (${decider.effect}) through ` +
		pathText(decider.path)) : null,
	    rules.length ? table(["Rule", "Effect", "Through", ""],
		rules.map((m) => [m.rule_id, m.effect, pathText(m.path) ||
		(m.via_group ? `group ${nameOf(m.via_group)}` : m.via_role ?
		`role ${m.via_role}` : m.subject_kind),
		m.rule_id === r.rule_id ? h("span", { class: "pill",
		    text: "deciding" }) : ""])) :
		empty("No rule matches this server and tool."));
}

/* ---- groups ---- */

async function pageGroups(view) {
	const g = await api("GET", "/admin/v1/groups?limit=100");
	view.show(h("h1", { text: "Groups" }),
	    g.groups.length ? table(["Group", "Members", "Directory"],
		g.groups.map((x) => [h("a", { href: `#/groups/${x.id}`,
		    text: x.displayName }), x.members, x.directory])) :
		empty("No groups yet. Assign groups to the rollcall app in " +
		    "Entra and provision them."));
}

async function pageGroup(view, id, query) {
	const cursor = query.get("cursor") || "";
	const [g, m, rules] = await Promise.all([
	    api("GET", `/admin/v1/groups/${id}`),
	    api("GET", `/admin/v1/groups/${id}/members` +
		qs({ limit: 50, cursor })),
	    api("GET", "/admin/v1/rules")]);
	const mine = rules.rules.filter((r) => r.subject.kind === "group" &&
	    r.subject.id === id);
	const members = m.members || m.users || [];
	const glink = (x) => h("a", { href: `#/groups/${x.id}`,
	    text: x.displayName });
	const subs = g.member_groups || [], ups = g.member_of || [];
	view.show(h("h1", { text: g.displayName }),
	    h("h2", { text: "Rules that name this group" }),
	    mine.length ? ruleTable(mine) : empty("No rule names this group."),
	    h("h2", { text: "Nested in" }),
	    ups.length ? table(["Group", "Type"], ups.map((x) => [glink(x),
		"Group"]), "member-of") : empty("Not nested in any group: " +
		"only rules naming this group reach its members."),
	    h("h2", { text: "Members" }),
	    subs.length ? table(["Group", "Type"], subs.map((x) => [glink(x),
		"Group"]), "member-groups") : null,
	    subs.length ? h("p", { class: "muted", text: "The members of " +
		"these groups are members here too: rules naming this group " +
		"reach them through the nesting." }) : null,
	    members.length ? table(["User", "Status"], members.map((u) =>
		[userLink(u), status(u)]), "member-users") :
		empty(subs.length ? "No user is a direct member." :
		"No members. Assign users to this group in Entra; " +
		"provisioning brings them here."),
	    m.next_cursor ? h("a", { href: `#/groups/${id}?cursor=` +
		encodeURIComponent(m.next_cursor), text: "Next page" }) :
		null);
}

/* ---- servers and tools ---- */

async function pageServers(view) {
	const s = await api("GET", "/admin/v1/servers");
	const slug = h("input", { id: "server-slug", required: true,
	    placeholder: "github" });
	const name = h("input", { id: "server-name", placeholder: "GitHub" });
	const add = h("form", { class: "inline", onsubmit: (ev) => {
		ev.preventDefault();
		act(async () => {
			await api("POST", "/admin/v1/servers", { slug:
			    slug.value.trim(), name: name.value.trim() ||
			    slug.value.trim() });
			await render();
		}, "Server added.");
	} }, field("Slug", slug), field("Name", name),
	    h("button", { type: "submit", text: "Add server" }));
	view.show(h("h1", { text: "MCP servers" }),
	    s.servers.length ? table(["Server", "Name", "Tools"],
		s.servers.map((x) => [h("a", { href: `#/servers/${x.slug}`,
		    text: x.slug }), x.name, x.tool_count])) :
		empty("No MCP server registered. Add one, then import its " +
		    "tools/list."),
	    h("h2", { text: "Add a server" }), add);
}

async function pageServer(view, slug) {
	const t = await api("GET", `/admin/v1/servers/${slug}/tools`);
	const paste = h("textarea", { id: "import", "aria-label":
	    "tools/list result (JSON)", placeholder:
	    '{"tools": [{"name": "create_issue", "description": "…"}]}' });
	const imp = h("form", { onsubmit: (ev) => {
		ev.preventDefault();
		act(async () => {
			let doc;
			try {
				doc = JSON.parse(paste.value);
			} catch (e) {
				throw new Error("That is not JSON: " + e.message);
			}
			const body = doc.result && doc.result.tools ?
			    doc.result : doc;
			await api("POST", `/admin/v1/servers/${slug}/tools:import`,
			    body);
			await render();
		}, "Tools imported.");
	} }, paste, h("button", { type: "submit", text: "Import tools" }));
	view.show(h("h1", { text: slug }),
	    t.tools.length ? table(["Tool", "Risk", "Labels"], t.tools.map(
		(x) => [x.name, x.risk || "", (x.labels || []).join(", ")])) :
		empty("No tools yet: paste the server's tools/list answer " +
		    "below."),
	    h("h2", { text: "Import a tools/list result" }), imp);
}

/* ---- rules ---- */

/* Group and user names by id, for rules and simulations. */
const names = new Map();

async function learnGroups() {
	const g = await api("GET", "/admin/v1/groups?limit=500");
	for (const x of g.groups)
		names.set(x.id, x.displayName);
}

async function learnPrincipals(ids) {
	await Promise.all([...new Set(ids)].filter((id) => !names.has(id))
	    .slice(0, 50).map(async (id) => {
		try {
			const u = await api("GET", `/admin/v1/users/${id}`);
			names.set(id, u.userName);
		} catch (e) {
			if (e.status !== 404)
				throw e;
		}
	    }));
}

function nameOf(id) { return names.get(id) || id; }

function subjectText(s) {
	if (!s || s === "everyone" || s.kind === "everyone")
		return "everyone";
	if (s.kind === "role")
		return `role ${s.value}`;
	return `${s.kind} ${s.name || nameOf(s.id)}`;
}

function ruleTable(rules, withActions) {
	return table(["Subject", "Server", "Selector", "Effect", ""],
	    rules.map((r) => [subjectText(r.subject), r.server, r.selector,
		h("span", { class: r.effect === "deny" ? "deny" :
		    r.effect === "allow" ? "allow" : "", text: r.effect }),
		withActions ? h("span", {},
		    h("a", { href: `#/rules/${r.id}`, text: "Edit" }), " ",
		    h("button", { type: "button", text: "Delete",
			onclick: () => simulateThen({ op: "delete",
			rule_id: r.id }, () => api("DELETE",
			`/admin/v1/rules/${r.id}`)) })) : ""]));
}

async function pageRules(view) {
	const [r] = await Promise.all([api("GET", "/admin/v1/rules"),
	    learnGroups()]);
	view.show(h("h1", { text: "Rules" }),
	    r.rules.length ? ruleTable(r.rules, true) :
		empty("No rules: every decision is deny (no_matching_rule). " +
		    "Add an allow rule for a group."),
	    h("h2", { text: "Add a rule" }), ruleForm(null));
}

async function pageRule(view, id) {
	const r = await api("GET", `/admin/v1/rules/${id}`);
	view.show(h("h1", { text: "Edit rule" }), ruleForm(r));
}

function ruleForm(rule) {
	const kind = h("select", { id: "rule-kind" }, ["group", "user",
	    "service_principal", "role", "everyone"].map((k) => h("option", {
		value: k, text: k, selected: rule &&
		rule.subject.kind === k })));
	const subj = h("input", { id: "rule-subject", placeholder:
	    "group id, user name or app role value", "aria-describedby":
	    "rule-subject-help", value: rule && (rule.subject.id ||
	    rule.subject.value) || "" });
	const server = h("input", { id: "rule-server", required: true,
	    value: rule ? rule.server : "", placeholder: "github or *" });
	const sel = h("input", { id: "rule-selector", required: true,
	    value: rule ? rule.selector : "", placeholder:
	    "tool, glob, risk:high, label:pii" });
	const effect = h("select", { id: "rule-effect" }, ["allow", "deny",
	    "elevate"].map((e) => h("option", { value: e, text: e,
		selected: rule && rule.effect === e })));
	const body = () => {
		const b = { server: server.value.trim(),
		    selector: sel.value.trim(), effect: effect.value };
		if (kind.value === "everyone") {
			b.subject = "everyone";
		} else if (kind.value === "role") {
			/* An app role is named by its value, exactly. */
			b.subject = { kind: "role", value: subj.value.trim() };
		} else {
			const v = subj.value.trim();
			b.subject = /^[0-9a-f-]{36}$/i.test(v) ?
			    { kind: kind.value, id: v } :
			    { kind: kind.value, name: v };
		}
		return b;
	};
	return h("form", { class: "inline", onsubmit: (ev) => {
		ev.preventDefault();
		const b = body();
		if (rule)
			simulateThen({ op: "edit", rule_id: rule.id, rule: b },
			    () => api("PATCH", `/admin/v1/rules/${rule.id}`, b));
		else
			simulateThen({ op: "add", rule: b },
			    () => api("POST", "/admin/v1/rules", b));
	} }, field("Subject kind", kind), field("Subject", subj),
	    field("Server", server), field("Tool selector", sel),
	    field("Effect", effect),
	    h("button", { class: "primary", type: "submit",
		text: "Simulate…" }),
	    h("p", { id: "rule-subject-help", class: "muted", text: "A " +
		"role rule applies to every user whose SCIM roles carry " +
		"exactly that value (Entra's app role assignments)." }));
}

/* Shows who gains and loses what, and applies only on confirmation. */
function simulateThen(change, apply) {
	act(async () => {
		const sim = await api("POST", "/admin/v1/rules:simulate",
		    change);
		await learnPrincipals([...sim.gains, ...sim.losses].map(
		    (x) => x.principal));
		const rows = [];
		for (const g of sim.gains)
			for (const t of g.tools)
				rows.push([nameOf(g.principal), t.server, t.tool,
				    h("span", { class: "allow", text: "gains" })]);
		for (const l of sim.losses)
			for (const t of l.tools)
				rows.push([nameOf(l.principal), t.server, t.tool,
				    h("span", { class: "deny", text: "loses" })]);
		/* Gone once closed (Apply, Cancel or Escape): the next
		 * simulation gets a fresh dialog, never this one's rows. */
		const dlg = h("dialog", { id: "simulate", "aria-label":
		    "Simulation result", onclose: () => dlg.remove() },
		    h("h2", { text: "If you apply this change" }),
		    rows.length ? table(["Principal", "Server", "Tool", ""],
			rows) : empty("Nobody gains or loses any tool."),
		    h("div", { class: "row" },
			h("button", { id: "apply", class: "primary",
			    type: "button", text: "Apply", onclick: () => {
				dlg.close();
				act(async () => {
					await apply();
					location.hash = "#/rules";
					await render();
				}, "Rule change applied.");
			    } }),
			h("button", { type: "button", text: "Cancel",
			    onclick: () => dlg.close() })));
		document.body.append(dlg);
		dlg.showModal();
	});
}

/* ---- grants ---- */

async function pageGrants(view, query) {
	const state = query.get("state") || "";
	const g = await api("GET", "/admin/v1/grants" + qs({ state }));
	const pick = h("select", { id: "grant-state", onchange: (ev) => {
		location.hash = `#/grants?state=${ev.target.value}`;
	} }, ["", "requested", "approved", "active", "expired", "revoked",
	    "denied"].map((s) => h("option", { value: s, text: s || "all",
		selected: s === state })));
	const verb = (x, v) => h("button", { type: "button", text: v,
	    onclick: () => act(async () => {
		await api("POST", `/admin/v1/grants/${x.id}:${v}`);
		await render();
	    }, `Grant ${v === "deny" ? "denied" : v + "d"}.`) });
	view.show(h("h1", { text: "Just-in-time grants" }),
	    h("div", { class: "row" }, field("State", pick)),
	    g.grants.length ? table(["Principal", "Server", "Tool", "State",
		"Until", ""], g.grants.map((x) => [subjectText(x.principal),
		x.server, x.tool || x.selector, x.state, when(x.expires_at),
		h("span", {}, x.state === "requested" ?
		    [verb(x, "approve"), " ", verb(x, "deny")] : null,
		    x.state === "approved" || x.state === "active" ?
		    verb(x, "revoke") : null)])) :
		empty("No grants in this state. Grants are requested for " +
		    "tools behind an elevate rule."));
}

/* ---- audit ---- */

async function pageAudit(view, query) {
	const type = query.get("type") || "";
	const subject = query.get("subject") || "";
	const a = await api("GET", "/admin/v1/audit" + qs({ type, subject,
	    limit: 100, order: "desc" }));
	const tIn = h("input", { id: "audit-type", value: type,
	    placeholder: "user.disable" });
	const sIn = h("input", { id: "audit-subject", value: subject,
	    placeholder: "subject id" });
	const out = h("div", { id: "verify-out", "aria-live": "polite" });
	view.show(h("h1", { text: "Audit trail" }),
	    h("form", { class: "inline", onsubmit: (ev) => {
		ev.preventDefault();
		location.hash = "#/audit" + qs({ type: tIn.value.trim(),
		    subject: sIn.value.trim() });
	    } }, field("Type", tIn), field("Subject", sIn),
		h("button", { type: "submit", text: "Filter" })),
	    h("div", { class: "row" },
		h("button", { id: "verify", type: "button",
		    text: "Verify the chain", onclick: () => act(async () => {
			const v = await api("GET", "/admin/v1/audit/verify");
			out.replaceChildren(h("p", { class: v.ok ? "allow" :
			    "deny", text: v.ok ? `Chain intact: ${v.records} ` +
			    `records verified, head ${v.head ? v.head.hash : ""}.` :
			    `Chain broken: ${v.problem_count} problem(s): ` +
			    JSON.stringify(v.problems) }));
		    }) }),
		h("button", { type: "button", text: "Export (JSON lines)",
		    onclick: () => act(exportAudit) })),
	    out,
	    a.records.length ? table(["When", "Type", "Subject", "By"],
		a.records.map((r) => [when(r.at), r.type, r.subject || "",
		    r.actor])) : empty("No records match."));
}

async function exportAudit() {
	const r = await fetch("/admin/v1/audit/export", { headers: {
	    Authorization: `Bearer ${token()}` } });
	if (!r.ok)
		throw new ApiError(r.status, null);
	const url = URL.createObjectURL(await r.blob());
	const a = h("a", { href: url, download: "rollcall-audit.jsonl" });
	document.body.append(a);
	a.click();
	a.remove();
	URL.revokeObjectURL(url);
}

/* ---- tokens ---- */

async function pageTokens(view) {
	const [t, dirs] = await Promise.all([api("GET", "/admin/v1/tokens"),
	    api("GET", "/admin/v1/directories")]);
	const name = h("input", { id: "token-name", required: true });
	const dir = h("select", { id: "token-directory" },
	    dirs.directories.map((d) => h("option", { value: d.name,
		text: d.name })));
	const scope = h("select", { id: "token-scope" }, ["scim", "gateway",
	    "admin"].map((s) => h("option", { value: s, text: s })));
	const days = h("input", { id: "token-days", type: "number", min: 0,
	    max: 3650, value: 365 });
	const secret = h("div", { id: "token-secret", "aria-live": "polite" });
	const form = h("form", { class: "inline", onsubmit: (ev) => {
		ev.preventDefault();
		act(async () => {
			const r = await api("POST", "/admin/v1/tokens", {
			    name: name.value.trim(), scopes: [scope.value],
			    directory: dir.value,
			    expires_days: Number(days.value) || null });
			const s = h("code", { class: "secret", text: r.token });
			secret.replaceChildren(h("p", { text: "The secret, " +
			    "shown once; copy it now:" }), s, " ",
			    h("button", { type: "button", text: "Copy",
				onclick: () => navigator.clipboard &&
				navigator.clipboard.writeText(r.token) }));
			await refreshTokens(list);
		});
	} }, field("Name", name), field("Scope", scope),
	    field("Directory", dir), field("Expires in days (0: never)", days),
	    h("button", { class: "primary", type: "submit",
		text: "Create token" }));
	const list = h("div", {});
	view.show(h("h1", { text: "Tokens" }), list,
	    h("h2", { text: "Create a token" }), form, secret);
	renderTokens(list, t);
}

async function refreshTokens(list) {
	renderTokens(list, await api("GET", "/admin/v1/tokens"));
}

function renderTokens(list, t) {
	list.replaceChildren(t.tokens.length ? table(["Name", "Scopes",
	    "Directory", "Status", "Expires", ""], t.tokens.map((x) => [x.name,
	    x.scopes, x.directory || "all", x.status, when(x.expires_at) ||
	    "never", x.status === "active" ? h("button", { type: "button",
		text: "Revoke", onclick: () => act(async () => {
		    if (!window.confirm(`Revoke ${x.name} now?`))
			return;
		    await api("DELETE", `/admin/v1/tokens/${x.id}`);
		    await refreshTokens(list);
		}, "Token revoked.") }) : ""])) :
	    empty("No tokens."));
}

/* ---- routing ---- */

function live(fn) {
	liveTimer = setInterval(() => { fn().catch(() => {}); }, LIVE_MS);
}

const routes = [
	[/^\/overview$/, pageOverview],
	[/^\/users$/, pageUsers],
	[/^\/users\/([^/]+)$/, pageUser],
	[/^\/groups$/, pageGroups],
	[/^\/groups\/([^/]+)$/, pageGroup],
	[/^\/servers$/, pageServers],
	[/^\/servers\/([^/]+)$/, pageServer],
	[/^\/rules$/, pageRules],
	[/^\/rules\/([^/]+)$/, pageRule],
	[/^\/grants$/, pageGrants],
	[/^\/audit$/, pageAudit],
	[/^\/tokens$/, pageTokens],
];

async function render() {
	const gen = ++renderGen;
	const view = {
		show: (...nodes) => {
			if (gen === renderGen)
				show(...nodes);
		},
		live: (fn) => {
			if (gen === renderGen)
				live(fn);
		},
	};

	clearInterval(liveTimer);
	liveTimer = null;
	const signedIn = !!token();
	document.getElementById("nav").hidden = !signedIn;
	document.getElementById("signout").hidden = !signedIn;
	const raw = location.hash.replace(/^#/, "") || "/overview";
	const [path, search] = raw.split("?");
	if (!signedIn || path === "/signin") {
		if (signedIn) {
			location.hash = "#/overview";
			return;
		}
		pageSignin();
		return;
	}
	for (const a of document.querySelectorAll("nav a"))
		a.toggleAttribute("aria-current", false);
	const top = document.querySelector(`nav a[href="#/${path.split("/")[1]}"]`);
	if (top)
		top.setAttribute("aria-current", "page");
	for (const [re, page] of routes) {
		const m = path.match(re);
		if (!m)
			continue;
		const args = m.slice(1).map(decodeURIComponent);
		try {
			await page(view, ...args,
			    new URLSearchParams(search || ""));
		} catch (e) {
			if (e.status !== 401) {
				view.show(h("h1", { text: "Something went wrong" }),
				    h("p", { class: "deny", text: e.message }));
			}
		}
		return;
	}
	show(h("h1", { text: "Not found" }),
	    h("p", {}, "No such page. ", h("a", { href: "#/overview",
		text: "Back to the overview" })));
}

window.addEventListener("hashchange", () => { banner(null); render(); });
document.addEventListener("DOMContentLoaded", () => {
	document.getElementById("signout").addEventListener("click",
	    () => signOut(null));
	const params = new URLSearchParams(location.search);
	if (!params.has("code") && !params.has("error") &&
	    !params.has("state")) {
		render();
		return;
	}
	entraReturn(params).then(() => render(), (e) => {
		render().then(() => banner(e.message));
	});
});
