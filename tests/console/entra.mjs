// "Sign in with Microsoft" in Debian's headless Chromium, against a
// real server and a local issuer that tests/it/test_console_entra.py
// runs in place of Microsoft (its authorize and token endpoints check
// the PKCE verifier against the challenge).  Prints "ok <step>" per
// step; exits non-zero at the first failure, or when the page logged an
// error or a request failed.
//
//   node entra.mjs <config.json>
// config: {base, issuer, chromium, shots}
import { readFileSync, mkdirSync } from "node:fs";
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];

function fail(msg) {
	console.error(`FAIL ${msg}`);
	process.exitCode = 1;
	throw new Error(msg);
}

async function waitText(page, sel, want, timeout = 10000) {
	try {
		await page.waitForFunction((s, w) => {
			const el = document.querySelector(s);
			return el && !el.hidden && el.textContent.includes(w);
		}, { timeout }, sel, want);
	} catch (e) {
		const got = await page.$eval(sel, (el) => el.textContent)
		    .catch(() => "(absent)");
		fail(`waiting for "${want}" in ${sel}; it says: ${got}`);
	}
}

async function issuer(mode) {
	const r = await fetch(`${cfg.issuer}/control?mode=${mode}`);
	if (!r.ok)
		fail(`issuer control: ${r.status}`);
}

async function signIn(page) {
	await page.goto(`${cfg.base}/console/`, { waitUntil: "networkidle0" });
	await page.waitForSelector("#entra-button", { visible: true });
	await Promise.all([
		page.waitForNavigation({ waitUntil: "networkidle0" }),
		page.click("#entra-button"),
	]);
}

const steps = [
	["sign in with Microsoft", async (page) => {
		await issuer("normal");
		await signIn(page);
		await waitText(page, "main h1", "Overview");
		const url = page.url();
		if (url.includes("code=") || url.includes("state="))
			fail(`the code stayed in the address bar: ${url}`);
		const tok = await page.evaluate(() =>
		    sessionStorage.getItem("rollcall.token"));
		if (!tok || !tok.startsWith("eyJ"))
			fail("no access token in sessionStorage");
		await page.screenshot({ path: `${cfg.shots}/entra-overview.png` });
	}],
	["sign out", async (page) => {
		await page.click("#signout");
		await page.waitForSelector("#entra-button", { visible: true });
	}],
	["a wrong state is refused", async (page) => {
		await issuer("bad_state");
		await signIn(page);
		await waitText(page, "#banner", "state");
		const tok = await page.evaluate(() =>
		    sessionStorage.getItem("rollcall.token"));
		if (tok)
			fail("signed in despite a wrong state");
		await page.waitForSelector("#entra-button", { visible: true });
		await page.screenshot({ path: `${cfg.shots}/entra-bad-state.png` });
	}],
];

mkdirSync(cfg.shots, { recursive: true });
const browser = await puppeteer.launch({
	executablePath: cfg.chromium || "/usr/bin/chromium",
	headless: true,
	args: ["--no-sandbox", "--disable-gpu", "--window-size=1280,800"],
	defaultViewport: { width: 1280, height: 800 },
});
try {
	const page = await browser.newPage();
	page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
	page.on("console", (m) => {
		if (m.type() === "error")
			problems.push(`console error: ${m.text()}`);
	});
	page.on("requestfailed", (r) => problems.push(`request failed: ` +
	    `${r.url()} ${r.failure() && r.failure().errorText}`));
	page.on("response", (r) => {
		if (r.status() >= 400)
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
