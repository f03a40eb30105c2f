"""Headless Chromium driven over the Chrome DevTools Protocol (CDP), for browser tests.

Debian's `chromium`, no driver and no downloaded browser: one websocket to the
browser, one flattened CDP session per page. Every network request the page
(or a worker it starts) makes is recorded, as are console messages, uncaught
exceptions and Content-Security-Policy violations, so a test can assert what
the browser really did. `ClientOrigin` serves a client's pages from another
origin than the API's.
"""

import base64
import functools
import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import websocket

from testing.live_server import free_port, spawn

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    # Belt and braces: nothing but the loopback address (and `localhost`, which
    # WebAuthn needs: it refuses IP-address origins) resolves, so no test can
    # reach the outside even if a page tried (the recorder would still see it).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)
# Records every page gets before its own scripts run.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               source: e.sourceFile, line: e.lineNumber});
});
"""


def chromium_binary():
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


class BrowserError(RuntimeError):
    pass


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _OnePage(BaseHTTPRequestHandler):
    def __init__(self, *args, page, **kwargs):
        self.page = page.encode()
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


class ClientOrigin:
    """A static web server on 127.0.0.1: a client's origin, other than the API's.

    It serves `page` (HTML) at every path, or else the files of `directory`.
    `hostname` names the origin: WebAuthn refuses IP-address origins, so a
    passkey page is served as `localhost`. `with ClientOrigin(...) as origin:`
    serves at `origin.origin` until the block ends.
    """

    def __init__(self, *, page=None, directory=None, hostname="127.0.0.1"):
        if (page is None) == (directory is None):
            raise ValueError("give a page or a directory")
        self.port = free_port()
        self.origin = f"http://{hostname}:{self.port}"
        if page is not None:
            handler = functools.partial(_OnePage, page=page)
        else:
            handler = functools.partial(_QuietFiles, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """A headless Chromium process and the CDP websocket to it."""

    def __init__(self, profile_dir, log_path=None):
        self.profile_dir = Path(profile_dir)
        self.log_path = log_path
        self.process = None
        self.ws = None
        self._ids = itertools.count(1)
        self.events = []  # (session_id, method, params), every event seen
        self._handlers = []

    def start(self, timeout=30):
        binary = chromium_binary()
        if not binary:
            raise BrowserError("chromium is not installed (apt-get install chromium)")
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        self.process = spawn(
            [
                binary,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile_dir}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            self.log_path,
        )
        port_file = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}")
            lines = port_file.read_text().split() if port_file.exists() else []
            if len(lines) >= 2:
                url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
                self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
                return self
            time.sleep(0.1)
        self.stop()
        raise BrowserError("chromium did not open its DevTools port in time")

    def stop(self):
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- the protocol ---------------------------------------------------------

    def post(self, method, params=None, session_id=None):
        """Send a command without waiting for its answer; return its id."""
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self.ws.send(json.dumps(message))
        return message_id

    def send(self, method, params=None, session_id=None, timeout=30):
        """Send a command and return its result, recording events meanwhile."""
        message_id = self.post(method, params, session_id)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no answer to {method} in {timeout}s")
            self.ws.settimeout(remaining)
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._event(message)

    def on_event(self, handler):
        self._handlers.append(handler)

    def _event(self, message):
        session_id = message.get("sessionId")
        method, params = message["method"], message.get("params", {})
        self.events.append((session_id, method, params))
        for handler in self._handlers:
            handler(session_id, method, params)

    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, target, session["sessionId"])


class Page:
    """One tab, with everything it does recorded."""

    def __init__(self, browser, target_id, session_id):
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self.sessions = {session_id}  # the page's, and those of workers it starts
        browser.on_event(self._follow_workers)
        for method in ("Page.enable", "Network.enable", "Runtime.enable", "Log.enable"):
            self.send(method)
        self.send("Audits.enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_RECORDER})
        self.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
        )

    def _follow_workers(self, session_id, method, params):
        """Record a worker's network too: ReDoc, for one, starts a blob: worker."""
        if method == "Target.attachedToTarget" and session_id in self.sessions:
            child = params["sessionId"]
            self.sessions.add(child)
            self.browser.post("Network.enable", session_id=child)
            self.browser.post("Runtime.enable", session_id=child)
            self.browser.post("Runtime.runIfWaitingForDebugger", session_id=child)

    def send(self, method, params=None, timeout=30):
        return self.browser.send(method, params, self.session_id, timeout)

    def events(self, method):
        return [
            params
            for session_id, name, params in self.browser.events
            if name == method and session_id in self.sessions
        ]

    # --- what happened --------------------------------------------------------

    def requests(self):
        """Every request the page and its workers sent: (method, url)."""
        return [
            (event["request"]["method"], event["request"]["url"])
            for event in self.events("Network.requestWillBeSent")
        ]

    def responses(self):
        return [
            (event["response"]["url"], event["response"]["status"])
            for event in self.events("Network.responseReceived")
        ]

    def sent_requests(self, url_suffix):
        """The requests whose URL ends with `url_suffix`, each with the headers really sent."""
        found = {
            event["requestId"]: {
                "method": event["request"]["method"],
                "url": event["request"]["url"],
                "post_data": event["request"].get("postData"),
                "headers": dict(event["request"]["headers"]),
            }
            for event in self.events("Network.requestWillBeSent")
            if event["request"]["url"].endswith(url_suffix)
        }
        # The network stack's own record adds what the page could not see (cookies, auth).
        for event in self.events("Network.requestWillBeSentExtraInfo"):
            if event["requestId"] in found:
                found[event["requestId"]]["headers"].update(event["headers"])
        for event in self.events("Network.responseReceived"):
            if event["requestId"] in found:
                found[event["requestId"]]["status"] = event["response"]["status"]
        for event in self.events("Network.loadingFailed"):
            if event["requestId"] in found:
                found[event["requestId"]]["failed"] = {
                    key: event.get(key) for key in ("errorText", "blockedReason", "corsErrorStatus")
                }
        return list(found.values())

    def failed_loads(self):
        return self.events("Network.loadingFailed")

    def console_errors(self):
        errors = []
        for event in self.events("Runtime.consoleAPICalled"):
            if event["type"] in ("error", "assert"):
                errors.append(
                    " ".join(str(arg.get("value", arg.get("description"))) for arg in event["args"])
                )
        for event in self.events("Runtime.exceptionThrown"):
            details = event["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        for event in self.events("Log.entryAdded"):
            if event["entry"]["level"] == "error":
                errors.append(f"{event['entry']['source']}: {event['entry']['text']}")
        return errors

    def csp_violations(self):
        return self.evaluate("window.__cspViolations || []")

    def issues(self):
        return [event["issue"] for event in self.events("Audits.issueAdded")]

    # --- doing things ---------------------------------------------------------

    def navigate(self, url, timeout=30):
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression, await_promise=False):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details["text"])
        return result["result"].get("value")

    def wait_for(self, expression, timeout=20, interval=0.1, message=None):
        """Poll `expression` in the page until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(message or f"timed out waiting for: {expression}")
            time.sleep(interval)

    def click(self, selector):
        """A real mouse click in the middle of the first element matching `selector`."""
        box = self.wait_for(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              if (!el) return null;
              el.scrollIntoView({{block: "center"}});
              const r = el.getBoundingClientRect();
              return r.width && r.height ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}} : null;
            }})()""",
            message=f"nothing to click at {selector}",
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def type_into(self, selector, text):
        """Focus a field by clicking it, then type `text` as a user would."""
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target_id})

    def screenshot(self, path):
        data = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}
        )
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data["data"]))
        return path
