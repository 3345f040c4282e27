// The console's side of the embedded-app contract (schemas/embed). The app runs in a sandboxed frame with an opaque
// origin: it can only post messages. Every message must come from that frame and validate against to-host.schema.json;
// a query goes to the console's own server (same-origin, session cookie, antiforgery token), which exchanges the session
// for a short-lived app token and asks the data proxy. Only the answer's rows go back into the frame, never a token.
import { validateToHost, validateToApp } from "../generated/validators.js";

const frame = document.getElementById("app-frame");
const csrf = document.querySelector('meta[name="request-verification-token"]')?.content ?? "";
const appId = frame?.dataset.appId ?? "";
const log = document.getElementById("embed-log");

function note(text) {
  if (!log) return;
  const li = document.createElement("li");
  li.textContent = text;
  log.prepend(li);
}

function send(message) {
  if (!validateToApp(message)) {
    note("An answer did not fit the contract and was not passed on.");
    return;
  }
  // The frame's origin is opaque ("null"), so it cannot be named as the target; the frame is the only recipient.
  frame.contentWindow.postMessage(message, "*");
}

window.addEventListener("message", async (event) => {
  if (!frame || event.source !== frame.contentWindow) return;
  const message = event.data;
  if (!validateToHost(message)) {
    note("A message from the app did not fit the contract and was dropped.");
    return;
  }
  if (message.type === "resize") {
    frame.style.height = `${message.height}px`;
    return;
  }
  try {
    const response = await fetch(`/console/embed/${encodeURIComponent(appId)}/query`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", RequestVerificationToken: csrf },
      body: JSON.stringify(message),
    });
    const answer = await response.json();
    if (!response.ok) {
      send({ type: "error", id: message.id, message: String(answer.detail ?? answer.title ?? `The ledger answered ${response.status}.`).slice(0, 1000) });
      return;
    }
    note(`Query ${message.id}: ${answer.row_count ?? answer.rows?.length ?? 0} row(s) from ${message.dataset}.`);
    send({ type: "result", id: message.id, rows: answer.rows ?? [], masked_fields: answer.masked_fields ?? [], step_up: answer.step_up ?? null, note: answer.note ?? null });
  } catch (error) {
    send({ type: "error", id: message.id, message: "The console could not reach the ledger." });
  }
});
