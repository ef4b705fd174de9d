// Parses Mermaid diagrams with the real Mermaid parser under jsdom (no browser).
// stdin: a JSON list of diagram texts; stdout: a JSON list of {ok, type, error}.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMPurify = undefined;

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType, error: null });
  } catch (error) {
    results.push({ ok: false, type: null, error: String(error.message || error) });
  }
}
process.stdout.write(JSON.stringify(results));
