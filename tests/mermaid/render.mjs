// Renders Mermaid diagrams to SVG with the real `mermaid` package in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser is ever downloaded), and reports what a reader
// sees of each xychart: its bars and the texts on its axes, with where they are drawn.
// argv[2]: the Chromium executable; stdin: a JSON list of diagram texts;
// stdout: a JSON list of {ok, error, bars: [{x, y, width, height}], axes: {left, bottom, top: [{text, x, y,
// box: [left, top, right, bottom]}]}, title, svg}.
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
        // Each axis' texts, where their anchor sits (from the transform) and the box they cover on screen.
        const axis = (name) => [...holder.querySelectorAll(`g.${name}-axis g.label text`)].map((node) => {
          const [x, y] = /translate\(([^,]+),\s*([^)]+)\)/.exec(node.getAttribute("transform")).slice(1).map(Number);
          const box = node.getBoundingClientRect();
          return { text: node.textContent, x, y, box: [box.left, box.top, box.right, box.bottom] };
        });
        out.push({
          ok: true, error: null, svg,
          bars: rects.map((rect) => Object.fromEntries(["x", "y", "width", "height"].map(
            (key) => [key, Number(rect.getAttribute(key))]))),
          axes: { left: axis("left"), bottom: axis("bottom"), top: axis("top") },
          title: [...holder.querySelectorAll("g.chart-title text")].map((node) => node.textContent).join(" "),
        });
      } catch (error) {
        out.push({ ok: false, error: String(error.message || error), bars: [], axes: {}, title: "", svg: "" });
      }
    }
    return out;
  }, diagrams);
  process.stdout.write(JSON.stringify(results));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
