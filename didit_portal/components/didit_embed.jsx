// Didit's hosted verification flow, embedded with Didit's web SDK (@didit-protocol/sdk-web, embedded mode).
//
// The SDK is imported lazily: when its chunk cannot load (blocked, offline, old browser) or it throws, the
// component falls back to a plain <iframe> with the permissions Didit's flow needs. The page's status never
// comes from here: the server pushes it from the webhook. `onStarted` is only a hint that the flow began in
// this page (to word the "continue on your phone" message), accepted from the embedded frame only.
import { createElement, useEffect, useRef, useState } from "react";

const ALLOW = "camera; microphone; fullscreen; autoplay; encrypted-media";
const STARTED_EVENTS = new Set(["didit:step_started", "didit:step_completed", "didit:verification_submitted"]);

function isStartEvent(event) {
  if (!event || typeof event !== "object") return false;
  if (STARTED_EVENTS.has(event.type)) return true;
  return event.type === "didit:status_updated" && event.data && event.data.status === "In Progress";
}

function parseMessage(data) {
  if (typeof data === "string") {
    try {
      return JSON.parse(data);
    } catch {
      return null;
    }
  }
  return data;
}

// The same two checks as Didit's SDK: a didit.me (or the iframe's own) host, and our own iframe as the source.
function fromFrame(message, iframe) {
  if (!iframe || message.source !== iframe.contentWindow) return false;
  try {
    const host = new URL(message.origin).hostname;
    return host.endsWith(".didit.me") || host === new URL(iframe.src).hostname;
  } catch {
    return false;
  }
}

// Whether the viewport is at least `minWidth` wide: on a phone the page offers a button instead, and the
// hidden embed must not load Didit's flow (it would open the session on this device for nothing).
function useWide(minWidth) {
  const query = minWidth ? `(min-width: ${minWidth})` : null;
  const [wide, setWide] = useState(() => !query || (typeof window !== "undefined" && window.matchMedia(query).matches));
  useEffect(() => {
    if (!query) return undefined;
    const media = window.matchMedia(query);
    const update = () => setWide(media.matches);
    update();
    media.addEventListener("change", update);
    return () => media.removeEventListener("change", update);
  }, [query]);
  return wide;
}

export function DiditEmbed({ url, containerId, title, height, minWidth, onStarted, ...rest }) {
  const [mode, setMode] = useState("sdk");
  const wide = useWide(minWidth);
  // Latched: once the flow has loaded on a wide screen it stays loaded (the page's CSS hides it when narrow).
  // A window resized across the breakpoint and back — or the momentary metrics override of a full-page
  // screenshot — must not throw away a verification in progress; Didit's hosted page would restart at its
  // intro screen.
  const [active, setActive] = useState(wide);
  useEffect(() => {
    if (wide) setActive(true);
  }, [wide]);
  const iframeRef = useRef(null);
  const startedRef = useRef(onStarted);
  startedRef.current = onStarted;

  useEffect(() => {
    if (!url || !active || mode !== "sdk") return undefined;
    let cancelled = false;
    let sdk = null;
    import("@didit-protocol/sdk-web")
      .then(({ DiditSdk }) => {
        if (cancelled) return;
        sdk = DiditSdk.shared;
        sdk.onEvent = (event) => {
          if (isStartEvent(event) && startedRef.current) startedRef.current();
        };
        return sdk.startVerification({
          url,
          configuration: {
            embedded: true,
            embeddedContainerId: containerId,
            showCloseButton: false,
            showExitConfirmation: false,
          },
        });
      })
      .catch(() => {
        if (!cancelled) setMode("iframe");
      });
    return () => {
      cancelled = true;
      if (sdk) {
        sdk.onEvent = undefined;
        sdk.destroy();
      }
    };
  }, [url, containerId, mode, active]);

  useEffect(() => {
    if (mode !== "iframe") return undefined;
    const listener = (message) => {
      if (!fromFrame(message, iframeRef.current)) return;
      if (isStartEvent(parseMessage(message.data)) && startedRef.current) startedRef.current();
    };
    window.addEventListener("message", listener);
    return () => window.removeEventListener("message", listener);
  }, [mode]);

  const style = { width: "100%", height: height || "640px", position: "relative" };
  if (mode === "iframe" && active) {
    return createElement(
      "div",
      { id: containerId, style, "data-embed-mode": "iframe", ...rest },
      url
        ? createElement("iframe", {
            ref: iframeRef,
            src: url,
            title,
            allow: ALLOW,
            style: { width: "100%", height: "100%", border: "0" },
          })
        : null,
    );
  }
  // The SDK mounts its own container and iframe inside this element; React renders no children into it.
  return createElement("div", { id: containerId, style, "data-embed-mode": "sdk", ...rest });
}
