// Renders Mermaid diagrams to SVG with the real `mermaid` package in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser is ever downloaded), and reports what a reader
// sees of each xychart: its bars and the texts on its x axis.
// argv[2]: the Chromium executable; stdin: a JSON list of diagram texts;
// stdout: a JSON list of {ok, error, bars, barTops, ticks, labels, title, svg}.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL(".", import.meta.url));
const executablePath = process.argv[2] || "/usr/bin/chromium";
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let input = "";
for await (const chunk of process.stdin) input += chunk;
const diagrams = JSON.parse(input);

const profile = mkdtempSync(join(tmpdir(), "opp-ci-chromium-"));
const context = await chromium.launchPersistentContext(profile, { executablePath, args, headless: true });
try {
  const page = await context.newPage();
  await page.setContent("<!DOCTYPE html><html><body></body></html>");
  await page.addScriptTag({ path: join(here, "node_modules/mermaid/dist/mermaid.min.js") });
  const results = await page.evaluate(async (texts) => {
    window.mermaid.initialize({ startOnLoad: false });
    const out = [];
    for (const [index, text] of texts.entries()) {
      try {
        const { svg } = await window.mermaid.render(`chart${index}`, text);
        const holder = document.createElement("div");
        holder.innerHTML = svg;
        document.body.appendChild(holder);
        const texts = (selector) => [...holder.querySelectorAll(selector)].map((node) => node.textContent);
        const rects = [...holder.querySelectorAll("g.bar-plot-0 rect")];
        // The left axis' numbers and where they sit: (value, y) pairs to read a bar's top against.
        const ticks = [...holder.querySelectorAll("g.left-axis g.label text")].map((node) =>
          [Number(node.textContent), Number(/translate\([^,]+,\s*([^)]+)\)/.exec(node.getAttribute("transform"))[1])]);
        out.push({
          ok: true, error: null, svg, ticks,
          bars: rects.length,
          barTops: rects.map((rect) => Number(rect.getAttribute("y"))),
          labels: texts("g.bottom-axis g.label text"),
          title: texts("g.chart-title text").join(" "),
        });
      } catch (error) {
        out.push({ ok: false, error: String(error.message || error), bars: 0, barTops: [], ticks: [], labels: [],
          title: "", svg: "" });
      }
    }
    return out;
  }, diagrams);
  process.stdout.write(JSON.stringify(results));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
