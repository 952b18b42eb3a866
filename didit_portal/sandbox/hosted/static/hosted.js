// Didit sandbox hosted verification page (imitates https://docs.didit.me/integration/web-sdks/incontext-iframe).
//
// Posts Didit's didit:* messages to window.parent, from this top-level document, in a fixed order per outcome
// (the sandbox's own; tests/browser/test_sdk_web_embed.py spells it out), and talks to its own session through
// three same-origin endpoints:
//   GET  <api>/state   this device's view of the session (polled every second for cross-device finishes)
//   POST <api>/start   Not Started / Resubmitted -> In Progress
//   POST <api>/finish  {outcome}: the server commits the status and enqueues the webhook before it answers,
//                      so didit:completed is always posted after the status really changed.
// Whether this device follows the callback (callback_method) is decided by the server, which alone can read
// the HttpOnly device cookie: it answers with redirectUrl set only for the device(s) it selects.
"use strict";

(function () {
  const state = JSON.parse(document.getElementById("sandbox-state").textContent);

  // The sandbox persona's document (a sandbox choice: documentType "P", country "ESP").
  const DOCUMENT = { documentType: "P", country: "ESP" };
  const FINAL = new Set(["Approved", "Declined", "In Review", "Abandoned", "Expired", "Kyc Expired"]);
  // Didit statuses -> the web SDK's collapsed result status (Approved | Pending | Declined).
  const COMPLETED_AS = { "Approved": "Approved", "Declined": "Declined", "In Review": "Pending" };
  const RESULT_WORDS = {
    "Approved": ["Verification approved", "Your identity was verified."],
    "Declined": ["Verification declined", "A check did not pass."],
    "In Review": ["Sent to review", "A person will look at this verification."],
    "Abandoned": ["Verification abandoned", "This verification was left unfinished."],
    "Expired": ["This link has expired", "Ask the website for a new verification link."],
    "Kyc Expired": ["Verification expired", "The earlier approval has expired."],
    "Awaiting User": ["Waiting for others", "This verification waits for other people to finish theirs."],
  };
  const STEP_DELAY_MS = 120; // long enough to see each step tick, short enough for tests
  const REDIRECT_DELAY_MS = 1000; // sandbox choice: redirect about 1 s after didit:completed
  const POLL_MS = 1000;

  let busy = false; // this page is running its own start/finish: a concurrent poll result is ignored
  let finished = false; // final messages posted: never post them twice
  let pollTimer = null;

  const $ = (selector) => document.querySelector(selector);
  const buttons = () => document.querySelectorAll(".actions button");

  function post(type, data) {
    const message = { type: type, data: Object.assign({}, data, { sessionId: state.sessionId }), timestamp: Date.now() };
    // Target "*": like Didit's own page, the sandbox cannot know who embeds it; the web SDK checks the origin on
    // its side. The messages carry only the session id and statuses, which the embedder is meant to learn.
    window.parent.postMessage(message, "*");
    const item = document.createElement("li");
    item.textContent = type + " " + JSON.stringify(message.data);
    $("#event-log").appendChild(item);
  }

  function show(screen) {
    document.querySelectorAll("[data-screen]").forEach((el) => { el.hidden = el.dataset.screen !== screen; });
  }

  function setBusy(value) {
    busy = value;
    buttons().forEach((button) => { button.disabled = value; });
  }

  function showError(text) {
    const error = $("#error");
    error.textContent = text;
    error.hidden = !text;
  }

  function markStep(step, cls) {
    const item = document.querySelector('.step[data-step="' + CSS.escape(step) + '"]');
    if (!item) return;
    item.classList.remove("current", "done");
    if (cls) item.classList.add(cls);
    item.querySelector(".step-state").textContent = cls === "done" ? "(done)" : cls === "current" ? "(current)" : "";
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.detail || JSON.stringify(body))) || "HTTP " + status);
      this.status = status;
    }
  }

  async function api(path, body) {
    const init = { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(state.api + "/" + path, init);
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  function showResult(current) {
    const words = RESULT_WORDS[current.status] || [current.status, ""];
    $("#result-title").textContent = words[0];
    $("#result-text").textContent = words[1] + " Status: " + current.status + ".";
    show("result");
    $("#result-title").focus();
  }

  // The end of the flow, whichever device finished it: status_updated, then completed / cancelled / error,
  // then (for the device the server selected) the callback redirect.
  function announceFinal(current) {
    if (finished) return;
    finished = true;
    stopPolling();
    post("didit:status_updated", { status: current.status });
    if (COMPLETED_AS[current.status]) {
      const data = { status: COMPLETED_AS[current.status] };
      if (state.steps.some((step) => step.startsWith("document_"))) Object.assign(data, DOCUMENT);
      post("didit:completed", data);
    } else if (current.status === "Abandoned") {
      post("didit:cancelled", {});
    } else if (current.status === "Expired") {
      post("didit:error", { error: "sessionExpired" });
    }
    showResult(current);
    if (current.redirectUrl) {
      $("#redirect-note").hidden = false;
      setTimeout(() => window.location.assign(current.redirectUrl), REDIRECT_DELAY_MS);
    }
  }

  async function start() {
    if (busy || finished) return;
    setBusy(true);
    showError("");
    let current;
    try {
      current = await api("start", {});
    } catch (error) {
      setBusy(false);
      await recover(error);
      return;
    }
    state.status = current.status;
    post("didit:started", {});
    post("didit:status_updated", { status: current.status });
    if (state.steps.length) {
      post("didit:step_started", { step: state.steps[0] });
      markStep(state.steps[0], "current");
    }
    show("flow");
    setBusy(false);
    $("#flow-title").focus();
  }

  async function finish(outcome) {
    if (busy || finished) return;
    setBusy(true);
    showError("");
    const steps = state.steps;
    for (let i = 0; i < steps.length; i += 1) {
      const step = steps[i];
      markStep(step, "current");
      if (step === "document_selection") {
        post("didit:document_selected", DOCUMENT);
      } else if (step.startsWith("document_")) {
        post("didit:media_captured", { step: step, isAuto: false });
      }
      const data = { step: step };
      if (i + 1 < steps.length) data.nextStep = steps[i + 1];
      post("didit:step_completed", data);
      markStep(step, "done");
      await sleep(STEP_DELAY_MS);
    }
    post("didit:verification_submitted", steps.length ? { step: steps[steps.length - 1] } : {});
    let current;
    try {
      current = await api("finish", { outcome: outcome });
    } catch (error) {
      setBusy(false);
      await recover(error);
      return;
    }
    announceFinal(current);
  }

  // A refused start/finish: most often another device finished first (409). Show the truth from the server.
  async function recover(error) {
    try {
      const current = await api("state");
      if (FINAL.has(current.status)) {
        announceFinal(current);
        return;
      }
    } catch (_) {
      // fall through to the message below
    }
    showError("The sandbox refused this step: " + error.message);
    post("didit:error", { error: "unknown" });
  }

  async function poll() {
    pollTimer = null;
    if (finished) return;
    if (!busy) {
      try {
        const current = await api("state");
        if (!busy && !finished) {
          if (FINAL.has(current.status)) {
            announceFinal(current);
            return;
          }
          if (current.status === "In Progress" && state.status !== "In Progress") {
            $("#elsewhere-note").hidden = false; // someone started on another device (e.g. the phone)
          }
        }
      } catch (_) {
        // a missed poll is retried a second later
      }
    }
    if (!finished) pollTimer = setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
  }

  $("#start-button").addEventListener("click", start);
  $("#continue-button").addEventListener("click", () => finish(null));
  document.querySelectorAll("[data-outcome]").forEach((button) => {
    button.addEventListener("click", () => finish(button.dataset.outcome));
  });
  $("#close-button").addEventListener("click", () => post("didit:close_request", {}));

  post("didit:ready", {});
  if (FINAL.has(state.status) || state.status === "Awaiting User") {
    // Opened after the end: show it and say so, without repeating completed or the redirect.
    finished = true;
    post("didit:status_updated", { status: state.status });
    if (state.status === "Expired") post("didit:error", { error: "sessionExpired" });
    showResult(state);
  } else {
    if (state.resubmitted) $("#resubmit-note").hidden = false;
    if (state.status === "In Progress") {
      $("#start-button").textContent = "Continue verification";
    }
    show("intro");
    pollTimer = setTimeout(poll, POLL_MS);
  }
})();
