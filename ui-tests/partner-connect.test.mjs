// The Partner Connect page in a real browser: Debian's headless Chromium driven by
// playwright-core, against a real `patchbay serve` and the reference partner `partner-sim`.
// Screenshots of every page, at desktop and phone width, go to target/ui-screenshots/.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.PATCHBAY_BIN || join(root, "target/debug/patchbay");
const shots = join(root, "target/ui-screenshots");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const TOKEN_VALUE = /dapi[0-9a-f]{32}/;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** Starts a process and waits for the stdout lines matching each pattern. */
function start(args, patterns) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => { err += d; });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${out}\n${err}`)), 30000);
    child.on("exit", (code) => reject(new Error(`${args[0]} exited with ${code}:\n${out}\n${err}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const found = patterns.map((p) => out.match(p));
      if (found.every(Boolean)) {
        clearTimeout(timer);
        resolvePromise({ child, found: found.map((m) => m[1].trim()), log: () => err });
      }
    });
  });
}

let workspace, sim, url, token, simUrl, browser, context, page, dataDir, profileDir;

async function api(method, path, body) {
  const r = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** Screenshots of the current page at desktop and phone width. */
async function shoot(name) {
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(shots, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(shots, `${name}-desktop.png`), fullPage: true });
}

/** No page ever shows a token value. */
async function noTokenValue() {
  const html = await page.content();
  assert.doesNotMatch(html, TOKEN_VALUE, `a token value on ${page.url()}`);
}

function tile(name) {
  return page.locator("li.tile", { has: page.getByText(name, { exact: true }) });
}

describe("the Partner Connect page", () => {
  before(async () => {
    mkdirSync(shots, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), "patchbay-ui-"));
    profileDir = mkdtempSync(join(tmpdir(), "patchbay-chromium-"));
    workspace = await start(
      // partner-sim listens on 127.0.0.1, which patchbay calls only when allowed.
      ["serve", "--listen", "127.0.0.1:0", "--allow-outbound", "loopback", "--data-dir", dataDir],
      [/^patchbay: listening on (\S+)$/m, /^patchbay: admin token \(shown once, keep it safe\): (\S+)$/m],
    );
    [url, token] = workspace.found;
    sim = await start(["partner-sim", "--listen", "127.0.0.1:0"], [/^partner-sim: listening on (\S+)$/m]);
    [simUrl] = sim.found;
    await api("PUT", "/api/2.0/partner-connect/partners/monte-carlo", {
      base_url: simUrl,
      endpoints: {
        connect_path: "/connect",
        delete_connection_path: "/delete-connection",
        test_connection_path: "/test-connection",
        rotate_token_path: "/rotate-token",
      },
      credentials: { username: "databricks", password: "partner-sim-secret" },
      hostnames: ["127.0.0.1"],
    });
    for (const name of ["sales", "ops"]) {
      await api("POST", "/api/2.1/unity-catalog/schemas", { name, catalog_name: "hive_metastore" });
    }
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
      viewport: DESKTOP,
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
  });

  after(async () => {
    await context?.close();
    workspace?.child.kill();
    sim?.child.kill();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
    if (workspace && workspace.log().includes(token)) {
      throw new Error("the admin token appears in the server log");
    }
  });

  it("sends who is not logged in to the login page, and logs in with a token", async () => {
    await page.goto(url + "/");
    assert.match(page.url(), /\/login$/);
    await shoot("login");
    await page.getByLabel("Personal access token").fill("dapi00000000000000000000000000000000");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").getByText("not valid").waitFor();
    await page.getByLabel("Personal access token").fill(token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Partner Connect", level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/");
    assert.equal(await page.locator(".admin-badge").textContent(), "Admin");
    const cookies = await context.cookies(url);
    const session = cookies.find((c) => c.name === "patchbay_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
    await noTokenValue();
    await shoot("tiles");
  });

  it("filters tiles by name and category, without JavaScript too", async () => {
    await page.goto(url + "/?q=monte&category=");
    assert.equal(await page.locator("li.tile").count(), 1);
    await page.goto(url + "/?category=DATA_QUALITY");
    assert.ok(await tile("Monte Carlo").isVisible());
    assert.equal(await tile("Fivetran").count(), 0);
    await shoot("tiles-filtered");
    await page.goto(url + "/");
    await page.getByLabel("Search partners").fill("hightou");
    assert.ok(await tile("Hightouch").isVisible());
    assert.ok(await tile("Monte Carlo").isHidden());
  });

  it("connects a read partner to two schemas and shows the check mark", async () => {
    await page.goto(url + "/");
    await tile("Monte Carlo").getByRole("link").click();
    await page.getByRole("heading", { name: "Connect to Monte Carlo" }).waitFor();
    await page.getByRole("alert").getByText("Choose at least one schema").waitFor();
    await shoot("connect-dialog");
    await page.getByLabel("sales").check();
    await page.getByLabel("ops").check();
    await page.getByRole("button", { name: "Review plan" }).click();
    const plan = page.locator("ul.plan");
    await plan.getByText("MONTE_CARLO_USER").first().waitFor();
    await plan.getByText("MONTE_CARLO_ENDPOINT").waitFor();
    const grants = await page.locator("table").textContent();
    assert.match(grants, /hive_metastore\.sales/);
    assert.match(grants, /hive_metastore\.ops/);
    await shoot("connect-plan");
    // Hold the request a moment to see the progress on the button.
    await page.route("**/partners/monte-carlo/connect", async (route) => {
      await new Promise((r) => setTimeout(r, 700));
      await route.continue();
    });
    const connect = page.getByRole("button", { name: "Connect", exact: true });
    await connect.waitFor();
    // Click, and look at the button while the (held) request is on its way.
    const busy = await page.evaluate(
      () =>
        new Promise((done) => {
          const button = document.querySelector("form.connect button");
          button.click();
          setTimeout(() => done({ disabled: button.disabled, text: button.textContent.trim() }), 100);
        }),
    );
    assert.deepEqual(busy, { disabled: true, text: "Connecting…" });
    await page.getByRole("heading", { name: "Connected to Monte Carlo" }).waitFor();
    await page.unroute("**/partners/monte-carlo/connect");
    const link = page.getByRole("link", { name: "Continue to Monte Carlo" });
    assert.ok((await link.getAttribute("href")).startsWith(simUrl));
    await noTokenValue();
    await shoot("connected");
    await page.goto(url + "/");
    await tile("Monte Carlo").getByRole("img", { name: "Connected" }).waitFor();
    await shoot("tiles-connected");
  });

  it("shows the connection's details but never the token", async () => {
    await page.goto(url + "/partners/monte-carlo");
    const details = page.locator("dl.details");
    await details.getByText("MONTE_CARLO_USER").waitFor();
    const text = await details.textContent();
    assert.match(text, /never expires/);
    assert.match(text, /ops, sales/);
    assert.match(text, /CONNECTED/);
    const connection = (await api("GET", "/api/2.0/partner-connect/connections/monte-carlo")).connection;
    assert.ok(text.includes(connection.token_id));
    assert.ok(text.includes(connection.service_principal.application_id));
    await noTokenValue();
    await shoot("connection-details");
    await page.getByRole("button", { name: "Sign in to Monte Carlo" }).click();
    await page.getByRole("heading", { name: "Sign in to Monte Carlo" }).waitFor();
    assert.ok((await page.getByRole("link", { name: "Continue to Monte Carlo" }).getAttribute("href")).startsWith(simUrl));
    await noTokenValue();
  });

  it("deletes the connection after a confirmation, and the tile clears", async () => {
    await page.goto(url + "/partners/monte-carlo");
    await page.getByRole("link", { name: "Delete connection…" }).click();
    await page.getByRole("heading", { name: "Delete the connection to Monte Carlo?" }).waitFor();
    const body = await page.locator("main").textContent();
    assert.match(body, /MONTE_CARLO_USER/);
    assert.match(body, /MONTE_CARLO_ENDPOINT/);
    assert.match(body, /cannot be undone/);
    await noTokenValue();
    await shoot("delete-confirm");
    await page.getByRole("button", { name: "Delete connection" }).click();
    await page.getByRole("status").getByText("The connection to Monte Carlo was deleted.").waitFor();
    assert.equal(await tile("Monte Carlo").getByRole("img", { name: "Connected" }).count(), 0);
    const connections = await api("GET", "/api/2.0/partner-connect/connections");
    assert.deepEqual(connections.connections, []);
  });

  it("lists service principals and tokens for admins", async () => {
    await page.goto(url + "/admin/service-principals");
    await page.getByRole("heading", { name: "Service principals" }).waitFor();
    await shoot("admin-service-principals");
    await page.goto(url + "/admin/tokens");
    await page.getByRole("heading", { name: "Tokens" }).waitFor();
    await noTokenValue();
    await shoot("admin-tokens");
  });

  it("refuses a POST without the CSRF token, and logs out", async () => {
    await page.goto(url + "/");
    const status = await page.evaluate(() =>
      fetch("/logout", { method: "POST", body: new URLSearchParams({}), redirect: "manual" }).then((r) => r.status),
    );
    assert.equal(status, 403);
    await page.goto(url + "/");
    assert.equal(new URL(page.url()).pathname, "/", "still logged in");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in to Partner Connect" }).waitFor();
    await page.goto(url + "/");
    assert.match(page.url(), /\/login$/);
  });
});
