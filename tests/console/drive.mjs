// Drives the rollcall console in Debian's headless Chromium, as an IT
// admin would, against a real server that tests/it/test_console.py
// started and seeded.  Prints one line per step ("ok <step>") and exits
// non-zero at the first failure, or when the page logged an error or a
// request failed that the step did not expect.
//
//   node drive.mjs <config.json>
// config: {base, admin, global_admin, scim, gateway, shots, alice, carol,
//          other_user}
import { readFileSync, mkdirSync } from "node:fs";
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
let expected401 = false;
let expected403 = false;

function fail(msg) {
	console.error(`FAIL ${msg}`);
	process.exitCode = 1;
	throw new Error(msg);
}

async function scim(method, path, body) {
	const r = await fetch(cfg.base + path, { method, headers: {
	    Authorization: `Bearer ${cfg.scim}`,
	    "Content-Type": "application/scim+json" },
	    body: body ? JSON.stringify(body) : undefined });
	if (!r.ok)
		fail(`SCIM ${method} ${path}: ${r.status} ${await r.text()}`);
}

async function scimJson(method, path, body) {
	const r = await fetch(cfg.base + path, { method, headers: {
	    Authorization: `Bearer ${cfg.scim}`,
	    "Content-Type": "application/scim+json" },
	    body: JSON.stringify(body) });
	const t = await r.text();
	if (!r.ok)
		fail(`SCIM ${method} ${path}: ${r.status} ${t}`);
	return t ? JSON.parse(t) : null;
}

async function admin(method, path, body) {
	const r = await fetch(cfg.base + "/admin/v1" + path, { method,
	    headers: { Authorization: `Bearer ${cfg.admin}`,
	    "Content-Type": "application/json" },
	    body: body ? JSON.stringify(body) : undefined });
	const t = await r.text();
	if (!r.ok)
		fail(`admin ${method} ${path}: ${r.status} ${t}`);
	return t ? JSON.parse(t) : null;
}

async function rowWith(page, sel, parts, timeout = 10000) {
	try {
		await page.waitForFunction((s, ps) => [...document
		    .querySelectorAll(s)].some((tr) => ps.every((p) =>
		    tr.textContent.includes(p))), { timeout }, sel, parts);
	} catch (e) {
		fail(`no row in ${sel} with ${JSON.stringify(parts)}: ` +
		    await page.$eval("main", (el) => el.textContent)
		    .catch(() => "(no main)"));
	}
}

async function scimStatus(path) {
	const r = await fetch(cfg.base + path, { headers: {
	    Authorization: `Bearer ${cfg.scim}` } });
	await r.text();
	return r.status;
}

async function decide(subject, tool) {
	const r = await fetch(cfg.base + "/v1/authorize", { method: "POST",
	    headers: { Authorization: `Bearer ${cfg.gateway}`,
	    "Content-Type": "application/json" },
	    body: JSON.stringify({ subject, server: "github", tool }) });
	const d = await r.json();
	if (!r.ok)
		fail(`authorize: ${r.status} ${JSON.stringify(d)}`);
	return d.decision;
}

async function text(page, sel) {
	return page.$eval(sel, (el) => el.textContent);
}

async function waitText(page, sel, want, timeout = 10000) {
	try {
		await page.waitForFunction((s, w) => {
			const el = document.querySelector(s);
			return el && el.textContent.includes(w);
		}, { timeout }, sel, want);
	} catch (e) {
		const got = await page.$eval(sel, (el) => el.textContent)
		    .catch(() => "(absent)");
		fail(`waiting for "${want}" in ${sel}; it says: ${got}`);
	}
}

async function go(page, hash) {
	await page.evaluate((h) => { location.hash = h; }, hash);
	await page.waitForNetworkIdle({ idleTime: 150, timeout: 10000 });
}

async function shot(page, name, fullPage = false) {
	await page.screenshot({ path: `${cfg.shots}/${name}.png`, fullPage });
}

async function clickText(page, sel, label) {
	const els = await page.$$(sel);
	for (const el of els) {
		const t = await el.evaluate((e) => e.textContent);
		if (t.trim() === label) {
			await el.click();
			return;
		}
	}
	fail(`no ${sel} saying "${label}"`);
}

const steps = [];
function step(name, fn) { steps.push([name, fn]); }

step("wrong token is refused with a message", async (page) => {
	await page.goto(`${cfg.base}/console/`, { waitUntil: "networkidle0" });
	await page.type("#token", "rcl_not-a-real-token");
	expected401 = true;
	await page.click("button[type=submit]");
	await waitText(page, "#banner", "refused");
	expected401 = false;
	if (!(await page.$("#token")))
		fail("still on the sign-in page expected");
	await shot(page, "signin-error");
});

step("sign in and see the overview", async (page) => {
	await page.$eval("#token", (el) => { el.value = ""; });
	await page.type("#token", cfg.admin);
	await page.click("button[type=submit]");
	await waitText(page, "main h1", "Overview");
	await waitText(page, "main", "MCP servers");
	const stored = await page.evaluate(() =>
	    sessionStorage.getItem("rollcall.token"));
	if (stored !== cfg.admin)
		fail("token not in sessionStorage");
	const local = await page.evaluate(() => localStorage.length);
	if (local !== 0)
		fail("something was written to localStorage");
	await shot(page, "overview");
});

step("the overview follows SCIM traffic and decisions without a reload",
    async (page) => {
	const sec = 'section.activity[data-directory="default"]';
	await waitText(page, `${sec} .scim-last`, "Entra has not called yet");
	await page.evaluate(() => { window.__same = 2; });
	for (let i = 0; i < 5; i++)
		if (await scimStatus("/scim/v2/Users?count=1") !== 200)
			fail("SCIM list refused");
	if (await scimStatus("/scim/v2/Users/" +
	    "00000000-0000-0000-0000-00000000dead") !== 404)
		fail("SCIM 404 expected");
	for (let i = 0; i < 3; i++)
		if (await decide("alice@contoso.com", "create_pull_request") !==
		    "allow")
			fail("allow expected");
	for (let i = 0; i < 2; i++)
		if (await decide("alice@contoso.com", "delete_branch") !== "deny")
			fail("deny expected");
	/* Flushed within 2 s, picked up by the page within 3 s more. */
	await waitText(page, `${sec} .scim-last`,
	    "6 requests and 1 error in the last 24 h", 20000);
	await waitText(page, `${sec} .scim-health.allow`, "provisioning");
	await waitText(page, `${sec} table`, "404");
	await waitText(page, `${sec} .decision-totals`,
	    "3 allowed, 2 denied", 20000);
	await waitText(page, sec, "denied_by_rule");
	const chart = await page.$eval(`${sec} svg#decisions-default`,
	    (el) => ({ label: el.getAttribute("aria-label"),
	    ok: el.querySelectorAll("rect.ok").length,
	    bad: el.querySelectorAll("rect.bad").length,
	    bars: el.querySelectorAll("g").length }));
	if (!chart.label.includes("3 allowed, 2 denied") || chart.ok < 1 ||
	    chart.bad < 1 || chart.bars !== 60)
		fail(`decision chart: ${JSON.stringify(chart)}`);
	if (await page.evaluate(() => window.__same) !== 2)
		fail("the overview was reloaded");
	await shot(page, "overview-activity", true);
});

step("search a user and open effective tools", async (page) => {
	await go(page, "#/users");
	await shot(page, "users");
	await page.type("#user-search", "alice@contoso.com");
	await page.keyboard.press("Enter");
	await page.waitForFunction(() => location.hash.includes("q="));
	await page.waitForNetworkIdle({ idleTime: 150, timeout: 10000 });
	await page.waitForSelector(`a[href="#/users/${cfg.alice}"]`);
	await page.click(`a[href="#/users/${cfg.alice}"]`);
	await waitText(page, "main h1", "alice@contoso.com");
	await waitText(page, "table.tools", "create_pull_request");
	await shot(page, "user");
});

step("explain a deny", async (page) => {
	await page.select("#explain-server", "github");
	await page.type("#explain-tool", "delete_branch");
	await clickText(page, "button", "Explain");
	await waitText(page, "#explain-out", "denied_by_rule");
	await waitText(page, "#explain-out", "deny");
});

step("a nested group chain shows on the user page and in explain",
    async (page) => {
	/* Entra (or another IdP) sends alice in Platform, Platform nested
	 * in Engineering; a rule names Engineering only. */
	const G = "urn:ietf:params:scim:schemas:core:2.0:Group";
	const platform = (await scimJson("POST", "/scim/v2/Groups", {
	    schemas: [G], displayName: "Platform",
	    members: [{ value: cfg.alice }] })).id;
	const eng = (await scimJson("POST", "/scim/v2/Groups", {
	    schemas: [G], displayName: "Engineering" })).id;
	await scimJson("PATCH", `/scim/v2/Groups/${eng}`, {
	    schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
	    Operations: [{ op: "add", path: "members",
	    value: [{ value: platform }] }] });
	const rule = (await admin("POST", "/rules", { subject: { kind:
	    "group", id: eng }, server: "jira", selector: "create_issue",
	    effect: "allow" })).id;
	await go(page, `#/users/${cfg.alice}`);
	await waitText(page, "main h1", "alice@contoso.com");
	await rowWith(page, "table.user-groups tr", ["Platform",
	    "direct member"]);
	await rowWith(page, "table.user-groups tr", ["Engineering",
	    "through Platform → Engineering"]);
	await rowWith(page, "table.tools tr", ["create_issue", "allow",
	    "group Platform → group Engineering"]);
	/* The nested group links to its page. */
	if (!(await page.$(`table.user-groups a[href="#/groups/${eng}"]`)))
		fail("no link to the nested group");
	await page.select("#explain-server", "jira");
	await page.$eval("#explain-tool", (el) => { el.value = ""; });
	await page.type("#explain-tool", "create_issue");
	await clickText(page, "button", "Explain");
	await waitText(page, "#explain-out", "allowed_by_rule");
	await waitText(page, "#explain-out .deciding",
	    "group Platform → group Engineering");
	await waitText(page, "#explain-out .deciding", rule);
	await rowWith(page, "#explain-out tr", [rule, "deciding",
	    "group Platform → group Engineering"]);
	await shot(page, "user-nested", true);
	/* The group pages show the nesting both ways, linked. */
	await clickText(page, "table.user-groups a", "Engineering");
	await waitText(page, "main h1", "Engineering");
	await waitText(page, "table.member-groups", "Platform");
	await waitText(page, "main", "Rules that name this group");
	await rowWith(page, "main tr", ["jira", "create_issue", "allow"]);
	await shot(page, "group-nested", true);
	await clickText(page, "table.member-groups a", "Platform");
	await waitText(page, "main h1", "Platform");
	await waitText(page, "table.member-of", "Engineering");
	await waitText(page, "table.member-users", "alice@contoso.com");
});

step("a role rule made in the console grants the tool", async (page) => {
	/* Entra sends carol's app role assignment as a SCIM role. */
	await scimJson("PATCH", `/scim/v2/Users/${cfg.carol}`, {
	    schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
	    Operations: [{ op: "add", path: "roles",
	    value: [{ value: "mcp.admin" }] }] });
	await go(page, `#/users/${cfg.carol}`);
	await waitText(page, "#user-roles", "mcp.admin");
	await go(page, "#/rules");
	await page.select("#rule-kind", "role");
	await page.type("#rule-subject", "mcp.admin");
	await page.type("#rule-server", "github");
	await page.type("#rule-selector", "create_pull_request");
	await page.select("#rule-effect", "allow");
	await clickText(page, "button", "Simulate…");
	await page.waitForSelector("dialog#simulate[open]");
	await rowWith(page, "dialog#simulate tr", ["carol@contoso.com",
	    "create_pull_request", "gains"]);
	/* Nothing applied before the confirmation. */
	if (await decide("carol@contoso.com", "create_pull_request") !== "deny")
		fail("the simulation applied the rule");
	await shot(page, "simulate-role");
	await page.click("#apply");
	await waitText(page, "#banner", "applied");
	await rowWith(page, "main tr", ["role mcp.admin", "github",
	    "create_pull_request"]);
	await shot(page, "rules-role");
	if (await decide("carol@contoso.com", "create_pull_request") !== "allow")
		fail("the role rule does not grant the tool");
	await go(page, `#/users/${cfg.carol}`);
	await rowWith(page, "table.tools tr", ["create_pull_request",
	    "allow", "role mcp.admin"]);
	/* A rule for everyone says so (its path names no group or role). */
	await rowWith(page, "table.tools tr", ["list_repos", "allow",
	    "everyone"]);
	await shot(page, "user-role", true);
});

step("simulate then apply a rule, and see the gained tool",
    async (page) => {
	await go(page, "#/rules");
	await shot(page, "rules");
	await page.select("#rule-kind", "user");
	await page.type("#rule-subject", cfg.carol);
	await page.type("#rule-server", "jira");
	await page.type("#rule-selector", "*");
	await page.select("#rule-effect", "allow");
	await clickText(page, "button", "Simulate…");
	await page.waitForSelector("dialog#simulate[open]");
	await waitText(page, "dialog#simulate", "create_issue");
	await waitText(page, "dialog#simulate", "gains");
	await shot(page, "simulate");
	await page.click("#apply");
	await waitText(page, "#banner", "applied");
	await go(page, `#/users/${cfg.carol}`);
	await page.waitForFunction(() => [...document.querySelectorAll(
	    "main tr")].some((tr) => tr.textContent.includes("create_issue") &&
	    tr.textContent.includes("allow")), { timeout: 10000 });
});

step("a disable from Entra shows without a reload", async (page) => {
	await go(page, `#/users/${cfg.alice}`);
	await waitText(page, "main h1", "active");
	const marker = await page.evaluate(() => { window.__same = 1; return 1; });
	await scim("PATCH", `/scim/v2/Users/${cfg.alice}`, {
	    schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
	    Operations: [{ op: "Replace", path: "active", value: "False" }] });
	await waitText(page, "main h1", "disabled", 15000);
	await page.waitForFunction(() => ![...document.querySelectorAll(
	    "main td span.allow")].length, { timeout: 15000 });
	const same = await page.evaluate(() => window.__same);
	if (same !== marker)
		fail("the page was reloaded");
	await shot(page, "user-disabled");
});

step("kill switch and restore", async (page) => {
	await go(page, `#/users/${cfg.carol}`);
	await page.click("#kill");
	await waitText(page, "main h1", "kill switch");
	await waitText(page, "#banner", "Kill switch on");
	await shot(page, "kill-switch");
	await go(page, "#/overview");
	await waitText(page, "table.kill-switches", "carol@contoso.com");
	await waitText(page, "table.kill-switches", "it-admin");
	await shot(page, "overview-kill-switch", true);
	await go(page, `#/users/${cfg.carol}`);
	await waitText(page, "main h1", "kill switch");
	await page.click("#kill");
	await waitText(page, "main h1", "active");
});

step("create and revoke a token", async (page) => {
	await go(page, "#/tokens");
	await page.type("#token-name", "console-made");
	await page.select("#token-scope", "gateway");
	await clickText(page, "button", "Create token");
	await waitText(page, "#token-secret", "rcl_");
	await shot(page, "tokens");
	const rows = await page.$$("main tr");
	let done = false;
	for (const tr of rows) {
		const t = await tr.evaluate((e) => e.textContent);
		if (t.includes("console-made") && t.includes("Revoke")) {
			const b = await tr.$("button");
			await b.click();
			done = true;
			break;
		}
	}
	if (!done)
		fail("no Revoke button for the new token");
	await waitText(page, "#banner", "revoked");
	await page.waitForFunction(() => [...document.querySelectorAll(
	    "main tr")].some((tr) => tr.textContent.includes("console-made") &&
	    tr.textContent.includes("revoked")), { timeout: 10000 });
});

step("a directory admin is told only a global admin verifies",
    async (page) => {
	await go(page, "#/audit");
	expected403 = true;
	await page.click("#verify");
	await waitText(page, "#banner", "only a global admin");
	expected403 = false;
	await shot(page, "audit");
});

step("every other page renders", async (page) => {
	for (const [hash, name, want] of [
	    ["#/groups", "groups", "Senior Engineers"],
	    ["#/servers", "servers", "github"],
	    ["#/servers/github", "server", "delete_branch"],
	    ["#/grants", "grants", "Just-in-time grants"]]) {
		await go(page, hash);
		await waitText(page, "main", want);
		await shot(page, name);
	}
	await go(page, "#/groups");
	await clickText(page, "main a", "Senior Engineers");
	await waitText(page, "main", "Rules that name this group");
	await shot(page, "group");
});

step("a directory-bound admin cannot see another directory",
    async (page) => {
	await go(page, `#/users?q=${encodeURIComponent(cfg.other_user)}`);
	await waitText(page, "main", "No user matches");
	await go(page, "#/overview");
	await waitText(page, "main", "default");
	const t = await text(page, "main");
	if (t.includes("fabrikam"))
		fail("another directory is visible");
});

step("narrow window stays usable", async (page) => {
	await page.setViewport({ width: 420, height: 800 });
	await go(page, `#/users/${cfg.alice}`);
	await waitText(page, "main h1", "alice");
	const wide = await page.evaluate(() =>
	    document.documentElement.scrollWidth > window.innerWidth + 2);
	if (wide)
		fail("horizontal scrolling at 420 px");
	await shot(page, "narrow");
	await go(page, "#/overview");
	await waitText(page, "main", "Decisions per minute");
	if (await page.evaluate(() =>
	    document.documentElement.scrollWidth > window.innerWidth + 2))
		fail("horizontal scrolling on the overview at 420 px");
	await shot(page, "narrow-overview", true);
	/* The next steps expect the user page to be the one left open. */
	await go(page, `#/users/${cfg.alice}`);
	await waitText(page, "main h1", "alice");
	await page.setViewport({ width: 1280, height: 800 });
});

step("sign out clears the token", async (page) => {
	await page.click("#signout");
	await page.waitForSelector("#token");
	const stored = await page.evaluate(() =>
	    sessionStorage.getItem("rollcall.token"));
	if (stored !== null)
		fail("token still stored after sign-out");
});

step("a global admin verifies the audit chain", async (page) => {
	await page.type("#token", cfg.global_admin);
	await page.click("button[type=submit]");
	/* Signing in again returns to the page that was open. */
	await waitText(page, "main h1", "alice@contoso.com");
	await go(page, "#/overview");
	await waitText(page, "main h1", "Overview");
	await waitText(page, "main", "fabrikam");
	/* Entra last called fabrikam 81 minutes ago (the test's seed). */
	await waitText(page, "#quiet-warning", "fabrikam");
	await waitText(page,
	    'section.activity[data-directory="fabrikam"] .scim-health.quiet',
	    "quiet for 8");
	await waitText(page,
	    'section.activity[data-directory="default"] .scim-health.allow',
	    "provisioning");
	await shot(page, "overview-global", true);
	await go(page, "#/audit");
	await page.click("#verify");
	await waitText(page, "#verify-out", "Chain intact");
	await shot(page, "audit-verified");
});

mkdirSync(cfg.shots, { recursive: true });
const browser = await puppeteer.launch({
	executablePath: cfg.chromium || "/usr/bin/chromium",
	headless: true,
	args: ["--no-sandbox", "--disable-gpu", "--window-size=1280,800"],
	defaultViewport: { width: 1280, height: 800 },
});
try {
	const page = await browser.newPage();
	page.on("dialog", (d) => d.accept());
	page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
	page.on("console", (m) => {
		if (m.type() === "error" && !(expected401 &&
		    m.text().includes("401")) && !(expected403 &&
		    m.text().includes("403")))
			problems.push(`console error: ${m.text()}`);
	});
	page.on("requestfailed", (r) => {
		// A download handed to the browser is not a failure.
		if (!r.url().startsWith("blob:"))
			problems.push(`request failed: ${r.url()} ` +
			    `${r.failure() && r.failure().errorText}`);
	});
	page.on("response", (r) => {
		if (r.status() >= 400 && !(expected401 && r.status() === 401) &&
		    !(expected403 && r.status() === 403))
			problems.push(`HTTP ${r.status()} for ${r.url()}`);
	});
	for (const [name, fn] of steps) {
		const t0 = Date.now();
		await fn(page);
		if (problems.length)
			fail(`${name}: ${problems.join("; ")}`);
		console.log(`ok ${name} (${Date.now() - t0} ms)`);
	}
} catch (e) {
	if (!process.exitCode) {
		console.error(`FAIL ${e.stack || e}`);
		process.exitCode = 1;
	}
} finally {
	await browser.close();
}
