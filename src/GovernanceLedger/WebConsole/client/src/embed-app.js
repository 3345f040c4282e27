// The demo micro app, sales customer lookup, as it runs inside the console's sandboxed frame: it has no token, no cookie
// and no network of its own (its CSP allows none); it asks its host by postMessage and trusts only answers from its
// parent that validate against to-app.schema.json.
import { validateToHost, validateToApp } from "../generated/validators.js";

const status = document.getElementById("status");
const body = document.querySelector("#results tbody");
let pending = null;

function post(message) {
  if (validateToHost(message)) window.parent.postMessage(message, "*");
}

function resize() {
  post({ type: "resize", height: Math.min(5000, Math.max(50, document.documentElement.scrollHeight + 8)) });
}

// The frame is sandboxed without allow-forms, so there is no form submission: the button and Enter ask the host.
function lookUp() {
  const prefix = document.getElementById("name").value.trim();
  pending = crypto.randomUUID();
  status.textContent = "Looking up…";
  const query = { type: "query", id: pending, dataset: "customers", fields: ["customer_id", "name", "region", "segment"], limit: 20 };
  if (prefix.length > 0) query.filter = [{ field: "name", op: "prefix", value: prefix.slice(0, 200) }];
  post(query);
}

document.getElementById("look-up").addEventListener("click", lookUp);
document.getElementById("name").addEventListener("keydown", (event) => {
  if (event.key === "Enter") lookUp();
});

window.addEventListener("message", (event) => {
  if (event.source !== window.parent) return;
  const message = event.data;
  if (!validateToApp(message) || message.id !== pending) return;
  body.replaceChildren();
  if (message.type === "error") {
    status.textContent = message.message;
  } else {
    for (const row of message.rows) {
      const tr = document.createElement("tr");
      for (const field of ["customer_id", "name", "region", "segment"]) {
        const td = document.createElement("td");
        td.textContent = row[field] == null ? "" : String(row[field]);
        tr.append(td);
      }
      body.append(tr);
    }
    const masked = message.masked_fields?.length ? ` Masked: ${message.masked_fields.join(", ")}.` : "";
    status.textContent = `${message.rows.length} customer(s).${masked}`;
  }
  resize();
});

resize();
