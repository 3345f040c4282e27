// Builds the console's scripts into wwwroot: the message validators are compiled from the contract's JSON Schemas ahead
// of time (ajv standalone code), so no script needs eval and the pages keep a CSP without 'unsafe-eval'.
import Ajv2020 from "ajv/dist/2020.js";
import standaloneCode from "ajv/dist/standalone/index.js";
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../../..");
const read = (file) => JSON.parse(fs.readFileSync(path.join(root, "schemas", "embed", file), "utf8"));

const ajv = new Ajv2020({ code: { source: true, esm: true }, strictTypes: false, allErrors: false });
ajv.addSchema(read("to-host.schema.json"), "toHost");
ajv.addSchema(read("to-app.schema.json"), "toApp");
fs.mkdirSync(path.join(here, "generated"), { recursive: true });
fs.writeFileSync(path.join(here, "generated", "validators.js"), standaloneCode(ajv, { validateToHost: "toHost", validateToApp: "toApp" }));

const wwwroot = path.resolve(here, "../../wwwroot");
const common = { bundle: true, minify: true, format: "iife", target: "es2020", logLevel: "warning" };
await build({ ...common, entryPoints: { console: path.join(here, "src", "console.js"), "embed-host": path.join(here, "src", "embed-host.js") },
  outdir: path.join(wwwroot, "console") });
await build({ ...common, entryPoints: { "embed-app": path.join(here, "src", "embed-app.js") }, outdir: path.join(wwwroot, "embedded", "sales-lookup") });
console.log("console scripts built into", wwwroot);
