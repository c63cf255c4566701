// A scripted browser for the SDKs' external-browser auth: opens the authorization URL the SDK
// hands it, logs in on patchbay's page with the token in PATCHBAY_LOGIN_TOKEN, and follows the
// redirect back to the SDK's loopback port. conformance/sdk_external_browser.py names it (via
// open-detached) as the BROWSER the SDK opens.
//
// usage: PATCHBAY_LOGIN_TOKEN=dapi... node oauth-login.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
const token = process.env.PATCHBAY_LOGIN_TOKEN;
if (!url || !token) {
    console.error("usage: PATCHBAY_LOGIN_TOKEN=... node oauth-login.mjs URL");
    process.exit(2);
}
const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
});
try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.fill("#token", token);
    await Promise.all([
        page.waitForURL(/^http:\/\/(localhost|127\.0\.0\.1):\d+\/?\?/, { timeout: 30_000 }),
        page.click("button[type=submit]"),
    ]);
    console.log(`signed in; back at ${new URL(page.url()).origin}`);
} finally {
    await browser.close();
}
