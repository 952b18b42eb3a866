// A parent page without the SDK: records every message its iframe posts, with the same two checks the SDK and
// the portal apply (source is the iframe's window, origin hostname is the iframe src's hostname).
"use strict";
window.messages = [];
const frame = document.getElementById("didit");
window.addEventListener("message", (event) => {
  if (event.source !== frame.contentWindow) return;
  if (new URL(event.origin).hostname !== new URL(frame.src).hostname) return;
  window.messages.push(typeof event.data === "string" ? JSON.parse(event.data) : event.data);
});
window.openDidit = (url) => { frame.src = url; };
window.embedReady = true;
