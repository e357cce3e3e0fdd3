// Browser render timings for the web benchmark (tests/benches/web.rs):
// signs in with the URL in argv[2], loads each path in argv[3..] 20 times in
// headless Chromium, and prints the median navigation timings as JSON.
import { chromium } from "playwright-core";
import { chromiumPath, LAUNCH_ARGS } from "./browser.mjs";

const [login, ...paths] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: await chromiumPath(),
  headless: true,
  args: LAUNCH_ARGS,
});
const page = await (await browser.newContext()).newPage();
await page.goto(login);
const origin = new URL(login).origin;
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = {};
for (const path of paths) {
  const ttfb = [], dom = [], load = [];
  for (let i = 0; i < 20; i++) {
    await page.goto(origin + path, { waitUntil: "load" });
    const t = await page.evaluate(() => {
      const n = performance.getEntriesByType("navigation")[0];
      return { ttfb: n.responseStart - n.startTime, dom: n.domContentLoadedEventEnd - n.startTime, load: n.loadEventEnd - n.startTime };
    });
    ttfb.push(t.ttfb); dom.push(t.dom); load.push(t.load);
  }
  out[path] = { ttfb_ms: median(ttfb), dom_content_loaded_ms: median(dom), load_ms: median(load) };
}
console.log(JSON.stringify(out));
await browser.close();
