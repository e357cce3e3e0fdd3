// Browser end-to-end test of the Kith web app, in real headless Chromium.
//
// Two `kith up` processes on loopback; two browsers sign in with the URLs
// the nodes print, trust each other through invite codes typed into the
// People page, and then exercise the feed (live, without reloading), the
// question/answer ranking, and offline wiki edits that merge. Screenshots of
// every page go to $SCREENSHOT_DIR, at desktop (1280×900, light) and phone
// (390×844, dark) width.
//
// Run by `cargo test` (cli/tests/web_e2e.rs), which sets KITH_BIN.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { chromiumPath, LAUNCH_ARGS } from "./browser.mjs";

const KITH = process.env.KITH_BIN;
const SHOTS = process.env.SCREENSHOT_DIR || "screenshots";
const CHROMIUM = await chromiumPath();
const TIMEOUT = 60_000;
mkdirSync(SHOTS, { recursive: true });

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

/** Starts `kith up` and resolves with its printed web URL and invite code. */
function startNode(name) {
  const dir = mkdtempSync(join(tmpdir(), `kith-e2e-${name}-`));
  const child = spawn(KITH, ["up", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--no-mdns"], {
    env: { ...process.env, KITH_DATA_DIR: dir, KITH_STATE_DIR: `${dir}/witness`, RUST_LOG: "warn", KITH_NAME: name === "a" ? "Abe" : "Bea" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    const info = { name, dir, child };
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const [key, value] = line.trim().split(/\s+/, 2);
      if (key === "web") info.url = value;
      if (key === "invite") { info.invite = value; resolve(info); }
    });
    child.on("exit", (code) => reject(new Error(`${name}: kith up exited with ${code}`)));
    setTimeout(() => reject(new Error(`${name}: kith up did not start`)), TIMEOUT).unref();
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Reloads `path` until `predicate(page)` holds. */
async function eventually(page, path, predicate, what) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    await page.goto(path);
    if (await predicate(page)) return;
    if (Date.now() > deadline) {
      await shot(page, `failed-${what.replace(/[^a-z0-9]+/gi, "-")}`);
      fail(`timed out: ${what}`);
    }
    await page.waitForTimeout(300);
  }
}

async function joinCode(page, code, petname) {
  await page.goto("/people");
  await page.getByLabel("Their invite code", { exact: true }).fill(code);
  await page.getByLabel("Your name for them", { exact: true }).fill(petname);
  await page.getByRole("button", { name: "Trust and connect" }).click();
  await page.waitForURL("**/people");
}

async function connected(page, who) {
  await eventually(page, "/status", async (p) => (await p.textContent("main")).includes("1 peer connected"), `${who} connected`);
}

const nodes = [];
let browser;
try {
  const a = await startNode("a");
  const b = await startNode("b");
  nodes.push(a, b);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: LAUNCH_ARGS,
  });
  const open = async (node) => {
    const base = new URL(node.url).origin;
    const context = await browser.newContext({ baseURL: base, viewport: { width: 420, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    await page.goto(node.url); // signs in and lands on the feed
    if (!(await page.textContent("h1")).includes("What your circle is working on")) fail(`${node.name}: not signed in`);
    return page;
  };
  const pa = await open(a);
  const pb = await open(b);
  await shot(pa, "01-feed-empty");

  // Trust each other through invite codes entered in the UI.
  await pa.goto("/people");
  const codeA = await pa.inputValue("#invite");
  await shot(pa, "02-people-invite");
  await pb.goto("/people");
  const codeB = await pb.inputValue("#invite");
  await joinCode(pa, codeB, "Bea");
  await joinCode(pb, codeA, "Abe");
  await shot(pa, "03-people-trusted");
  await connected(pa, "A");
  await connected(pb, "B");
  await shot(pa, "04-status");

  // A note posted in A appears in B's open feed without a reload.
  await pb.goto("/");
  await pa.goto("/");
  await pa.getByLabel("Write a note (markdown)", { exact: true }).fill("Working on the **sync** protocol today");
  await pa.getByLabel("Tags (space separated)", { exact: true }).fill("kith");
  await pa.getByRole("button", { name: "Post note" }).click();
  await pb.locator("#live").getByText("Working on the").waitFor();
  await shot(pb, "05-feed-live");

  // Files: A attaches an image with the button and pastes another into
  // the text; both show inline in A's feed, and in B's, whose node fetched
  // them from A's.
  const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await pa.goto("/");
  const note = pa.getByLabel("Write a note (markdown)", { exact: true });
  await note.fill("The new dashboard:");
  await pa.locator("form.compose .attach input[type=file]").setInputFiles({ name: "dashboard.png", mimeType: "image/png", buffer: PNG });
  await pa.locator("form.compose .attach-status").getByText("Attached dashboard.png.").waitFor();
  await pa.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 40; canvas.height = 30;
    const g = canvas.getContext("2d");
    g.fillStyle = "#c33"; g.fillRect(0, 0, 40, 30);
    const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
    const data = new DataTransfer();
    data.items.add(new File([blob], "pasted.png", { type: "image/png" }));
    document.querySelector("#text").dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await pa.locator("form.compose .attach-status").getByText("Attached pasted.png.").waitFor();
  if (!(await note.inputValue()).includes("![pasted.png](blob:")) fail("a pasted image is not in the text");
  await pa.getByRole("button", { name: "Post note" }).click();
  await pa.waitForURL("**/");
  const shown = async (p) => p.evaluate(() => Array.from(document.querySelectorAll("#live article img"))
    .filter((img) => img.complete && img.naturalWidth > 0).map((img) => img.naturalWidth).sort().join(","));
  await eventually(pa, "/", async (p) => (await shown(p)) === "1,40", "A shows both images inline");
  await eventually(pb, "/", async (p) => (await shown(p)) === "1,40", "B shows both images, fetched from A");
  await shot(pb, "05a-feed-images");

  // A asks; B answers and endorses A's own answer; both show the ranking.
  await pa.goto("/questions");
  await pa.getByLabel(/Ask your circle/).fill("How do we back up the wiki?");
  await pa.getByRole("button", { name: "Ask" }).click();
  await pa.waitForURL("**/thread/*");
  const threadPath = new URL(pa.url()).pathname;
  await pa.getByLabel("Your answer", { exact: true }).fill("Export it nightly");
  await pa.getByRole("button", { name: "Answer" }).click();
  await pa.waitForURL("**/thread/*");
  await eventually(pb, threadPath, async (p) => (await p.locator("li.answer").count()) === 1, "B sees the question and A's answer");
  await pb.getByLabel("Your answer", { exact: true }).fill("Bundle files on a USB stick");
  await pb.getByRole("button", { name: "Answer" }).click();
  await pb.waitForURL("**/thread/*");
  // A mention completed in the compose box reaches B's inbox.
  await pa.goto("/");
  const box0 = pa.getByLabel("Write a note (markdown)", { exact: true });
  await box0.pressSequentially("Thanks @Be", { delay: 20 });
  await pa.locator("ul.mentions li", { hasText: "@Bea" }).click();
  if (!(await box0.inputValue()).startsWith("Thanks @Bea ")) fail(`the mention was not completed: ${await box0.inputValue()}`);
  await box0.pressSequentially("for the answer");
  await pa.getByRole("button", { name: "Post note" }).click();
  await eventually(pb, "/inbox", async (p) => (await p.textContent("main")).includes("mentioned you"), "B's inbox shows A's mention");
  await pa.goto(threadPath);
  // A's open page counts B's answer in the inbox, without a reload.
  await pa.locator("#inbox-count").filter({ hasText: /^[1-9]/ }).waitFor();
  await pa.goto("/inbox");
  if (!(await pa.textContent("main")).includes("answered")) fail("the inbox does not show B's answer");
  await shot(pa, "06a-inbox");
  await pa.goto(threadPath);
  await eventually(pb, threadPath, async (p) => (await p.locator("li.answer").count()) === 2, "B sees both answers");
  await pb.locator("li.answer", { hasText: "Export it nightly" }).getByRole("button", { name: "Endorse" }).click();
  await pb.waitForURL("**/thread/*");
  const ranking = async (p) => {
    const first = p.locator("li.answer").first();
    return (await first.textContent()).includes("Export it nightly") && parseFloat(await first.locator(".score").textContent()) === 1;
  };
  await eventually(pb, threadPath, ranking, "B ranks the endorsed answer first");
  await eventually(pa, threadPath, ranking, "A ranks the endorsed answer first");
  // B adds A's answer to the wiki: the page credits A and links back; the
  // thread says where the answer went.
  await pb.goto(threadPath);
  await pb.locator("li.answer", { hasText: "Export it nightly" }).getByRole("button", { name: "Add to wiki" }).first().click();
  await pb.waitForURL("**/wiki/*");
  const provenance = await pb.textContent(".provenance");
  if (!provenance.includes("Abe's answer to “How do we back up the wiki?”")) fail(`no provenance on the page: ${provenance}`);
  await shot(pb, "06b-promoted-page");
  await pb.goto(threadPath);
  if (!(await pb.textContent("main")).includes("Added to the wiki")) fail("the thread does not say where the answer went");

  await shot(pa, "06-thread-ranked");
  await pa.goto("/questions");
  await shot(pa, "07-questions");

  // Typing a question like one asked before shows it, by its title.
  await pb.goto("/questions");
  await pb.getByLabel(/Ask your circle/).pressSequentially("backing up our wiki", { delay: 20 });
  await pb.locator("#similar a", { hasText: "How do we back up the wiki?" }).waitFor();
  await shot(pb, "07a-similar-while-typing");

  // B replies to A's answer where it stands, then to that reply: it nests.
  await pb.goto(threadPath);
  const answerA = pb.locator("li.answer", { hasText: "Export it nightly" });
  await answerA.locator("details.reply-here > summary").first().click();
  await answerA.getByLabel(/^Reply to/).first().fill("To which disk?");
  await answerA.getByRole("button", { name: "Reply", exact: true }).first().click();
  await pb.waitForURL("**/thread/*#e-*");
  const replied = pb.locator("ul.replies > li", { hasText: "To which disk?" }).first();
  await replied.waitFor(); // the fold opened for the link to it
  await replied.locator("details.reply-here > summary").first().click();
  await replied.getByLabel(/^Reply to/).first().fill("To the USB stick");
  await replied.getByRole("button", { name: "Reply", exact: true }).first().click();
  await pb.waitForURL("**/thread/*#e-*");
  if ((await pb.locator("ul.replies ul.replies", { hasText: "To the USB stick" }).count()) !== 1) fail("a reply to a reply does not nest");
  // Any post can be endorsed, not only answers: B endorses A's question.
  await pb.locator(".post.question .react").getByRole("button", { name: "Endorse" }).click();
  await pb.waitForURL("**/thread/*");
  if ((await pb.locator(".post.question .endorsers").count()) !== 1) fail("the question shows no endorsement");
  await shot(pb, "07b-thread-nested-replies");

  // A wiki page edited in both browsers while the nodes are apart.
  await pa.goto("/wiki");
  await pa.getByLabel("New page title", { exact: true }).fill("Trip");
  await pa.getByLabel(/Text \(markdown/).fill("We leave on Friday.\n\nBring the tent.\n");
  await pa.getByRole("button", { name: "Create page" }).click();
  await pa.waitForURL("**/wiki/*");
  const pagePath = new URL(pa.url()).pathname;
  await eventually(pb, pagePath, async (p) => (await p.textContent("main")).includes("Bring the tent."), "B has the page");
  // Apart: each stops trusting the other (connections close at once).
  for (const p of [pa, pb]) {
    await p.goto("/people");
    p.once("dialog", (d) => d.accept());
    await p.getByRole("button", { name: "Remove" }).click();
    await p.waitForURL("**/people");
  }
  await eventually(pa, "/status", async (p) => (await p.textContent("main")).includes("No peers connected"), "A offline");
  const edit = async (p, from, to) => {
    await p.goto(`${pagePath}/edit`);
    const body = await p.inputValue("#body");
    await p.fill("#body", body.replace(from, to));
    await p.getByRole("button", { name: "Save" }).click();
    await p.waitForURL(`**${pagePath}`);
  };
  await edit(pa, "Friday", "Friday at 7");
  await edit(pb, "the tent", "the big tent");
  await shot(pb, "08-wiki-offline-edit");
  if ((await pb.textContent("main")).includes("Friday at 7")) fail("B saw A's edit while apart");
  // Together again.
  await joinCode(pa, codeB, "Bea");
  await joinCode(pb, codeA, "Abe");
  const merged = async (p) => {
    const text = await p.textContent(".page-body");
    return text.includes("Friday at 7") && text.includes("the big tent");
  };
  await eventually(pa, pagePath, merged, "A shows both edits");
  await eventually(pb, pagePath, merged, "B shows both edits");
  await shot(pa, "09-wiki-merged");
  // Blame after edits in two browsers (which send \r\n line ends) credits
  // each line to whoever wrote it, not to the last editor of the page.
  await pa.goto(`${pagePath}/blame`);
  const blame = await pa.evaluate(() => {
    let who = "";
    return Array.from(document.querySelectorAll("table.blame tbody tr")).map((tr) => {
      const name = tr.querySelector("td span");
      if (name) who = name.textContent;
      return [who, tr.querySelector("code").textContent];
    });
  });
  const by = (text) => (blame.find(([, line]) => line.includes(text)) || ["(none)"])[0];
  if (by("Bring the big tent.") !== "Bea") fail(`blame: B's line credited to ${by("Bring the big tent.")}`);
  if (by("We leave on Friday at 7.") === "Bea") fail(`blame: A's line credited to B: ${JSON.stringify(blame)}`);
  await pa.goto(`${pagePath}/history`);
  await shot(pa, "10-wiki-history");
  await pa.goto("/wiki");
  await shot(pa, "11-wiki-list");
  await pa.goto("/search?q=tent");
  if (!(await pa.textContent("main")).includes("Trip")) fail("search did not find the page");
  await shot(pa, "12-search");

  // What the product review found broken stays fixed, in a real browser.
  await pa.goto("/");
  if ((await pa.inputValue('input[name="tag"]')) !== "") fail("the feed's tag filter is not empty");
  await pa.selectOption('select[name="kind"]', "question");
  await pa.getByRole("button", { name: "Filter" }).click();
  await pa.waitForURL("**/?kind=question*");
  if (!(await pa.textContent("#live")).includes("How do we back up the wiki?")) fail("filtering by kind shows no questions");
  await pa.goto("/search?q=nightl");
  if ((await pa.locator("mark").first().textContent()) !== "nightly") fail("prefix search does not highlight the word");
  const icon = await pa.request.get("/favicon.ico");
  if (icon.status() !== 200) fail("no favicon");
  // The editor shows the page rendered beside the text where there is room.
  await pa.setViewportSize({ width: 1280, height: 900 });
  await pa.goto(`${pagePath}/edit`);
  const preview = pa.locator(".editor .preview");
  await preview.getByText("the big tent").waitFor();
  const [textBox, previewBox] = [await pa.locator("#body").boundingBox(), await preview.boundingBox()];
  if (!(previewBox.x > textBox.x + textBox.width / 2)) fail("the editor's preview is not beside the text");
  await shot(pa, "11a-wiki-editor-preview");
  await pa.setViewportSize({ width: 420, height: 900 });
  await pa.fill("#body", "# Trip\n\n- [x] tent\n- [ ] stove\n\nSee [[Packing list]].\n");
  await pa.getByRole("button", { name: "Save" }).click();
  await pa.waitForURL(`**${pagePath}`);
  if ((await pa.locator("main h1").count()) !== 1) fail("the page title shows twice");
  if ((await pa.locator('.page-body input[type="checkbox"]').count()) !== 2) fail("task list boxes lost");
  // Ticking a task on the page saves it: a change of its own.
  // (The page is sent and shown again at the same address: wait for that.)
  const ticked = pa.waitForResponse((r) => r.url().endsWith("/task"));
  await pa.locator('.page-body input[type="checkbox"]').nth(1).check();
  await ticked;
  await pa.waitForLoadState("load");
  await pa.locator('.page-body input[type="checkbox"]:not([disabled])').first().waitFor();
  if (!(await pa.locator('.page-body input[type="checkbox"]').nth(1).isChecked())) fail("a ticked task was not saved");
  await shot(pa, "11b-wiki-task-ticked");
  if ((await pa.locator(".page-body a.missing").count()) !== 1) fail("a link to a missing page looks like any link");

  // A note too long to post: said before submitting, and the text stays.
  await pa.goto("/");
  const long = "word ".repeat(14000);
  const box = pa.getByLabel("Write a note (markdown)", { exact: true });
  await box.fill(long);
  await pa.locator("#text-count").getByText("Too long to post").waitFor();
  await pa.getByRole("button", { name: "Post note" }).click();
  await pa.waitForTimeout(300);
  if (new URL(pa.url()).pathname !== "/") fail("a too-long note was submitted");
  if ((await box.inputValue()) !== long) fail("the too-long draft was lost");
  // The viewport only: the preview of 70 KB of text is a very long page.
  await pa.screenshot({ path: join(SHOTS, "13-too-long.png") });
  await box.fill("");

  // Keyboard: "?" shows the shortcuts, Esc leaves a text box, Ctrl+Enter sends.
  await pa.locator("h1").click();
  await pa.keyboard.press("?");
  if (!(await pa.locator("dialog[open]").textContent()).includes("Keyboard shortcuts")) fail("? shows no shortcut help");
  await pa.keyboard.press("Escape");
  await box.fill("Sent with Ctrl+Enter");
  await box.press("Escape");
  if (await box.evaluate((el) => el === document.activeElement)) fail("Esc did not leave the text box");
  await box.focus();
  await box.press("Control+Enter");
  await pa.locator("#live").getByText("Sent with Ctrl+Enter").waitFor();

  // A browser restart keeps the sign-in: a new browser context with only
  // the cookies that outlive a restart (not session cookies) is signed in.
  const kept = (await pa.context().storageState()).cookies.filter((c) => c.expires > 0);
  if (kept.length === 0) fail("no sign-in cookie outlives a browser restart");
  const restarted = await browser.newContext({ baseURL: new URL(pa.url()).origin, storageState: { cookies: kept, origins: [] } });
  const again = await restarted.newPage();
  await again.goto("/");
  if (!(await again.textContent("h1")).includes("What your circle is working on")) fail("signed out by a browser restart");
  await restarted.close();

  // People: a copy button beside the invite code, who is connected.
  await pa.goto("/people");
  if ((await pa.locator('button[data-copy="invite"]').count()) !== 1) fail("no copy button for the invite code");
  if ((await pa.locator("ul.people .state-connected").count()) < 1) fail("no connected mark on People");
  // Status: words, not command-line text.
  await pa.goto("/status");
  const statusText = await pa.textContent("main");
  if (statusText.includes("`") || statusText.includes("(s)")) fail(`status page reads like a terminal: ${statusText}`);

  // Every page at desktop and phone width: screenshots, no horizontal
  // scrolling, the page budget (HTML + CSS + JS ≤ 100 KB, wiki bodies
  // aside), nothing loaded from anywhere but the node.
  const pages = [
    ["feed", "/"], ["questions", "/questions"], ["thread", threadPath], ["wiki-list", "/wiki"],
    ["wiki-page", pagePath], ["wiki-history", `${pagePath}/history`], ["wiki-edit", `${pagePath}/edit`],
    ["people", "/people"], ["status", "/status"], ["search", "/search?q=tent"],
  ];
  const origin = new URL(a.url).origin;
  for (const [width, height, label] of [[1280, 900, "desktop"], [390, 844, "phone"]]) {
    const context = await browser.newContext({ baseURL: origin, viewport: { width, height }, colorScheme: label === "phone" ? "dark" : "light" });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const foreign = [];
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url()); });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
    await page.goto(a.url);
    for (const [name, path] of pages) {
      await page.goto(path, { waitUntil: "load" });
      const { bytes, overflow } = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const res = performance.getEntriesByType("resource").filter((r) => /\.(css|js)$/.test(r.name));
        return {
          bytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
          overflow: document.documentElement.scrollWidth - window.innerWidth,
        };
      });
      if (bytes > 100 * 1024) fail(`${name}: ${bytes} bytes, over the 100 KB page budget`);
      if (overflow > 1) fail(`${name} at ${width}px scrolls sideways by ${overflow}px`);
      await shot(page, `${label}-${name}`);
    }
    // Live streams do not pile up: after many page changes (back and
    // forth, which keeps pages in the back/forward cache) a page still
    // loads at once.
    for (let i = 0; i < 4; i++) {
      await page.goto("/questions");
      await page.goto("/");
      await page.goBack();
      await page.goForward();
    }
    const t0 = Date.now();
    await page.goto("/wiki", { waitUntil: "load" });
    if (Date.now() - t0 > 5000) fail(`a page took ${Date.now() - t0} ms to load after many page changes`);
    if (foreign.length) fail(`loaded from outside the node: ${foreign.join(", ")}`);
    if (errors.length) fail(`script errors: ${errors.join("; ")}`);
    await context.close();
  }
  console.log("e2e: all browser scenarios passed");
} finally {
  if (browser) await browser.close();
  for (const n of nodes) {
    n.child.kill("SIGTERM");
  }
  for (const n of nodes) {
    try { rmSync(n.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}
