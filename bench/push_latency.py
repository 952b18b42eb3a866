"""Push latency of the live verification page: from sending Didit's webhook to the new status in the DOM.

    .venv/bin/python -m bench.push_latency [--rounds 20] [--warmup 2] [--pages 1 50] [--origin URL --data-dir DIR]

(``-m`` from the repository root: run as a file, ``bench/`` would come first on ``sys.path`` and its
``queue.py`` would shadow the standard library's ``queue``.)

Without ``--origin`` it starts the portal exactly as ``make run`` does (prod mode, one port, embedded sandbox,
SQLite) in a scratch data folder. It creates one verification link, opens N Chromium tabs on ``/verify/{token}``
(375 px wide, so no tab loads the embedded flow and only the push path is measured), then sends signed
``status.updated`` webhooks for the link's session, alternating ``In Progress`` and ``Resubmitted`` (statuses
that carry no decision, so no reconciliation interferes), the first ``--warmup`` (2) of them untimed: the first
pushes after start pay for cold connections and caches. For each webhook ``t0`` is taken just before the
request is sent (so the latency includes the receiver's own work: verification, group commit, the 200); each tab
records, with a MutationObserver, the wall-clock time the status text changed. Chromium and this script share
the machine's clock. Latencies are reported as measured: none is clamped (a negative one would mean the clocks
disagree, and it is counted, not hidden).

Output, in milliseconds: per-tab DOM latency p50/p95/max, the p95 of "all N tabs updated", the p50/p95 of the
websocket frame's arrival in the tab (push and network only, before React renders), the 200's own time (p50/p95
from sending to the answer) and the smallest latency seen; with several page counts, the ratios of the p95s and
the cost of each extra page ((all-pages p95 at N - at 1) / (N - 1)).

Two ways to connect N pages (``--browser-tabs``):

* ``all``: N Chromium tabs. On a 2-core machine the N renderer processes of the *benchmark* compete with the
  server for the CPU, so at N=50 this measures the client machine at least as much as the portal.
* ``K`` (default 1): K Chromium tabs measure the DOM, and N-K protocol-level pages (``LightPage``: the
  websocket a Reflex page opens, with the very connect packet the Chromium tab sent — so each one hydrates,
  runs ``on_load`` and is registered and pushed to like a tab — but nothing rendered) stamp the arrival of the
  frame carrying the new status. The server does the same work for them as for tabs: the load on the portal
  is that of N pages, without N renderers on the same two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import websocket
from playwright.sync_api import Page, WebSocket, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from didit_portal.config import SANDBOX_WEBHOOK_SECRET_FILE  # noqa: E402
from didit_portal.didit.signatures import sign_headers  # noqa: E402
from tests.browser.portal.conftest import _PORTAL_SETTINGS, reflex_env  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
STATUSES = ("In Progress", "Resubmitted")
#: A Reflex page offers its Reflex version as the websocket subprotocol.
REFLEX_VERSION = importlib.metadata.version("reflex")

# Stamps the arrival of the websocket frame carrying the new status (window.__frame): push + network only,
# before React renders. Installed before the page's own scripts run.
FRAME_HOOK = """(() => {
  const Native = window.WebSocket;
  window.__want = null; window.__frame = null;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (window.__want && window.__frame === null && typeof event.data === "string"
            && event.data.includes(JSON.stringify(window.__want))) {
          window.__frame = performance.timeOrigin + performance.now();
        }
      });
    }
  };
})();"""

# Arms a MutationObserver that stamps the moment the status text becomes `status` (window.__seen, epoch ms).
WATCH = """status => {
  window.__seen = null; window.__frame = null; window.__want = status;
  const el = document.querySelector('[data-testid="verify-status"]');
  const observer = new MutationObserver(() => {
    if (el.textContent === status) {
      observer.disconnect();
      window.__seen = performance.timeOrigin + performance.now();
    }
  });
  observer.observe(el, {childList: true, characterData: true, subtree: true});
}"""


class LightPage:
    """A connected page at the protocol level: Reflex's websocket, hydrated by the packet a real tab sent.

    Answers Engine.IO pings and stamps (epoch ms) the first frame that carries the awaited status.
    """

    def __init__(self, origin: str, connect_packet: str) -> None:
        self.want: str | None = None
        self.frame: float | None = None
        self.hydrated = threading.Event()
        url = origin.replace("http", "ws", 1) + f"/_event/?token={uuid.uuid4()}&EIO=4&transport=websocket"
        self._ws = websocket.create_connection(url, timeout=30, subprotocols=[REFLEX_VERSION])
        self._ws.recv()  # Engine.IO open packet
        self._ws.send(connect_packet)  # namespace connect, carrying hydrate_and_load (as Reflex 0.10 sends it)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def arm(self, status: str) -> None:
        self.frame = None
        self.want = json.dumps(status)

    def _read(self) -> None:
        with contextlib.suppress(websocket.WebSocketException, OSError):
            while True:
                message = self._ws.recv()
                if message == "2":
                    self._ws.send("3")  # Engine.IO pong
                    continue
                if not isinstance(message, str):
                    continue
                if '"is_hydrated_rx_state_":true' in message:
                    self.hydrated.set()
                if self.want is not None and self.frame is None and self.want in message:
                    self.frame = time.time() * 1000

    def close(self) -> None:
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self._ws.close()


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Redis for ``--workers`` (several workers share Reflex state, the live-push bridge and the rate budget there).
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def _portal_env(port: int, data_dir: Path, workers: int = 1) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PORTAL_SETTINGS}
    env = reflex_env(env)
    env.update(PORT=str(port), PORTAL_DATA_DIR=str(data_dir), PUBLIC_BASE_URL=f"http://localhost:{port}")
    if workers > 1:
        # As an operator scales out: REDIS_URL makes Reflex run several workers; GRANIAN_WORKERS says how many.
        env.update(REDIS_URL=BENCH_REDIS_URL, GRANIAN_WORKERS=str(workers))
    return env


@contextlib.contextmanager
def running_portal(workers: int = 1) -> Iterator[tuple[str, Path]]:
    """Start ``reflex run --env prod`` on a free port with a scratch data folder (like ``make run``).

    With ``workers`` > 1 the portal runs that many Granian workers sharing Redis (``BENCH_REDIS_URL``), whose
    database the bench empties first: a stale Reflex state or token record there would skew the run.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="push-latency-"))
    port = _free_port()
    env = _portal_env(port, data_dir, workers)
    if workers > 1:
        import redis  # noqa: PLC0415

        redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    subprocess.run(
        [str(REPO / ".venv/bin/alembic"), "upgrade", "head"], cwd=REPO, env=env, check=True, capture_output=True
    )
    log = (data_dir / "portal.log").open("wb")
    process = subprocess.Popen(
        [str(REPO / ".venv/bin/reflex"), "run", "--env", "prod", "--single-port", "--frontend-port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    origin = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit((data_dir / "portal.log").read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(origin + "/ping", timeout=1).status_code == 200:
                    break
            time.sleep(0.25)
        yield origin, data_dir
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def create_link(origin: str, data_dir: Path, workers: int = 1) -> dict[str, str]:
    """A new verification link in the portal's database (the same service call as the business API)."""
    env = _portal_env(int(origin.rsplit(":", 1)[1]), data_dir, workers)
    out = subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "tests.browser.portal.linkfactory",
            "verify",
            "--vendor-data",
            f"bench-{uuid.uuid4().hex[:8]}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def send_webhook(
    client: httpx.Client, origin: str, session_id: str, status: str, created_at: int, *, secret: str
) -> tuple[float, float]:
    """POST one signed ``status.updated``; returns the wall-clock time (ms) just before sending, and of its 200.

    ``secret`` is the portal's webhook secret: its embedded sandbox's, generated into its data folder.

    The body is signed before ``t0`` is taken: only the request itself (and the portal's answer) is timed.
    """
    now = int(time.time())
    payload = {
        "event_id": str(uuid.uuid4()),
        "webhook_type": "status.updated",
        "timestamp": now,
        "created_at": created_at,
        "session_id": session_id,
        "status": status,
        "environment": "sandbox",
    }
    body, headers = sign_headers(payload, secret)
    t0 = time.time() * 1000
    response = client.post(origin + "/api/webhooks/didit", content=body, headers=headers)
    acked = time.time() * 1000
    response.raise_for_status()
    return t0, acked


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(
    origin: str,
    link: dict[str, str],
    pages: int,
    rounds: int,
    created_at: list[int],
    *,
    browser_tabs: int | None = None,
    warmup: int = 2,
    secret: str,
) -> dict[str, float]:
    """Connect ``pages`` pages to the link (``browser_tabs`` of them Chromium tabs) and time ``rounds`` webhooks.

    ``warmup`` webhooks go first, untimed (the first pushes after start pay for cold connections and caches).
    """
    chromium = pages if browser_tabs is None else max(1, min(browser_tabs, pages))
    per_tab: list[float] = []
    frames: list[float] = []
    all_tabs: list[float] = []
    acks: list[float] = []
    connect_packets: list[str] = []

    def capture(ws: WebSocket) -> None:
        ws.on(
            "framesent",
            lambda frame: (
                connect_packets.append(frame)
                if isinstance(frame, str) and frame.startswith("40/_event,") and not connect_packets
                else None
            ),
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        tabs: list[Page] = []
        for n in range(chromium):
            context = browser.new_context(viewport={"width": 375, "height": 700})
            context.add_init_script(FRAME_HOOK)
            page = context.new_page()
            if n == 0:
                page.on("websocket", capture)
            page.goto(origin + link["path"], wait_until="networkidle")
            page.get_by_test_id("verify-status").wait_for()
            tabs.append(page)
        light: list[LightPage] = []
        if pages > chromium:
            if not connect_packets:
                raise RuntimeError("the Chromium tab's websocket connect packet was not captured")
            light = [LightPage(origin, connect_packets[0]) for _ in range(pages - chromium)]
            for lp in light:
                if not lp.hydrated.wait(30):
                    raise RuntimeError("a protocol-level page did not hydrate")
            time.sleep(0.5)  # let on_load finish registering every page with the live registry
        with httpx.Client(timeout=10) as client:
            for round_no in range(-warmup, rounds):
                status = STATUSES[round_no % 2]
                created_at[0] += 1
                for tab in tabs:
                    tab.evaluate(WATCH, status)
                for lp in light:
                    lp.arm(status)
                t0, acked = send_webhook(client, origin, link["session_id"], status, created_at[0], secret=secret)
                seen: list[float] = []
                tab_frames: list[float] = []
                for tab in tabs:  # the stamp was taken in the tab: how long this loop takes does not matter
                    tab.wait_for_function("() => window.__seen !== null", timeout=10_000)
                    seen.append(float(tab.evaluate("() => window.__seen")))
                    frame = tab.evaluate("() => window.__frame")
                    if frame is not None:
                        tab_frames.append(float(frame) - t0)
                deadline = time.monotonic() + 10
                while any(lp.frame is None for lp in light) and time.monotonic() < deadline:
                    time.sleep(0.005)
                if any(lp.frame is None for lp in light):
                    raise RuntimeError("a protocol-level page did not receive the new status within 10 s")
                time.sleep(0.2)
                if round_no < 0:
                    continue  # a warm-up round: nothing recorded
                acks.append(acked - t0)
                frames += tab_frames + [float(lp.frame) - t0 for lp in light if lp.frame is not None]
                latencies = [t - t0 for t in seen]
                per_tab += latencies
                all_tabs.append(max([*latencies, *(float(lp.frame) - t0 for lp in light if lp.frame is not None)]))
        for lp in light:
            lp.close()
        browser.close()
    return {
        "pages": pages,
        "chromium": chromium,
        "webhooks": rounds,
        "p50": statistics.median(per_tab),
        "p95": percentile(per_tab, 95),
        "max": max(per_tab),
        "all_p95": percentile(all_tabs, 95),
        "frame_p50": statistics.median(frames) if frames else float("nan"),
        "frame_p95": percentile(frames, 95) if frames else float("nan"),
        "ack_p50": statistics.median(acks),
        "ack_p95": percentile(acks, 95),
        "min": min([*per_tab, *frames]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2, help="untimed webhooks before each page count's rounds")
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--origin", help="a running portal (default: start one)")
    parser.add_argument("--data-dir", type=Path, help="that portal's PORTAL_DATA_DIR")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Granian workers; more than 1 runs the portal with Redis, as a scaled-out deployment",
    )
    parser.add_argument(
        "--browser-tabs",
        default="1",
        help="how many of the pages are Chromium tabs: a number (the rest are protocol-level "
        "pages) or 'all' (default 1)",
    )
    args = parser.parse_args()
    browser_tabs = None if args.browser_tabs == "all" else int(args.browser_tabs)
    stack = contextlib.ExitStack()
    if args.origin:
        origin, data_dir = args.origin.rstrip("/"), args.data_dir
    else:
        origin, data_dir = stack.enter_context(running_portal(args.workers))
    with stack:
        created_at = [int(time.time())]
        results = []
        for pages in args.pages:
            link = create_link(origin, data_dir, args.workers)
            results.append(
                measure(
                    origin,
                    link,
                    pages,
                    args.rounds,
                    created_at,
                    browser_tabs=browser_tabs,
                    warmup=args.warmup,
                    secret=(data_dir / SANDBOX_WEBHOOK_SECRET_FILE).read_text().strip(),
                )
            )
    print(
        f"{'pages':>5} {'chromium':>8} {'webhooks':>8} {'DOM p50':>8} {'DOM p95':>8} {'DOM max':>8} "
        f"{'all-pages p95':>13} {'frame p50':>10} {'frame p95':>10} {'200 p50':>8} {'200 p95':>8} "
        f"{'min':>6}   (ms, from sending the webhook)"
    )
    for r in results:
        print(
            f"{r['pages']:>5} {r['chromium']:>8} {r['webhooks']:>8} {r['p50']:>8.1f} {r['p95']:>8.1f} "
            f"{r['max']:>8.1f} {r['all_p95']:>13.1f} {r['frame_p50']:>10.1f} {r['frame_p95']:>10.1f} "
            f"{r['ack_p50']:>8.1f} {r['ack_p95']:>8.1f} {r['min']:>6.1f}"
        )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        extra = last["pages"] - first["pages"]
        print(
            f"ratio DOM p95({last['pages']}) / DOM p95({first['pages']}) = "
            f"{last['p95'] / max(first['p95'], 1e-9):.2f}; "
            f"all-pages p95 ratio = {last['all_p95'] / max(first['all_p95'], 1e-9):.2f}"
        )
        if extra > 0:
            print(
                f"each extra page: {(last['all_p95'] - first['all_p95']) / extra:.2f} ms of all-pages p95 "
                f"(({last['all_p95']:.1f} - {first['all_p95']:.1f}) / {extra})"
            )


if __name__ == "__main__":
    main()
