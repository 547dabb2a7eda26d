# SPDX-License-Identifier: Apache-2.0
"""browser.py - headless Chromium driven over the DevTools protocol.

For the ui-* integration cases; the standard library only. Chromium runs
with --remote-debugging-pipe: the protocol's JSON messages, each ended by
a NUL byte, go in on its fd 3 and come out on its fd 4 (no port, no
websocket). Every wait is for a condition in the page (polled), never
for a fixed time; there is no time limit (a hang is ctest's timeout),
only a note on stderr now and then saying what is awaited.

    b = Browser(out_dir)
    b.goto(url, page="home")          # waits for <body data-page=home>
    b.text("#main")                   # what is shown
    b.shot("home")                    # out_dir/home.png
    b.close()
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class BrowserError(Exception):
    pass


def check(cond, what):
    """A test's assertion: ends the script with a FAIL line."""
    if not cond:
        raise SystemExit("FAIL: " + what)


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise BrowserError("no chromium: contrib/install-deps.sh --test")


class Browser:
    def __init__(self, out_dir, width=1200, height=860):
        self.out_dir = out_dir
        self.profile = tempfile.mkdtemp(prefix="dray-ui-chromium.")
        self.next_id = 0
        self.events = []
        self.buf = b""
        self.problems = []  # CSP violations, JavaScript exceptions
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            # Out of the way first: either may be fd 3 or 4 already.
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)  # dup2 clears close-on-exec
            os.dup2(w, 4)

        args = [chromium_path(), "--headless=new", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--hide-scrollbars", "--mute-audio",
                "--user-data-dir=" + self.profile,
                "--window-size=%d,%d" % (width, height), "about:blank"]
        self.log = open(os.path.join(out_dir, "chromium.log"), "wb")
        self.proc = subprocess.Popen(args, preexec_fn=child_fds,
                                     close_fds=False,
                                     stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        target = self.call("Target.createTarget", {"url": "about:blank"})
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"],
                                  "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable", {}, self.session)
        self.viewport(width, height, False)

    # ---- the protocol ----

    def _read_message(self):
        while b"\0" not in self.buf:
            r, _, _ = select.select([self.from_chrome], [], [], 10)
            if not r:
                if self.proc.poll() is not None:
                    raise BrowserError("chromium exited with %s"
                                       % self.proc.returncode)
                continue
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the pipe (exit %s)"
                                   % self.proc.poll())
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def _event(self, msg):
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.problems.append("exception: %s %s" % (
                d.get("text"), d.get("exception", {}).get("description")))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("source") in ("security", "violation") or \
                    "Content Security Policy" in e.get("text", ""):
                self.problems.append("%s: %s" % (e.get("source"),
                                                 e.get("text")))

    def call(self, method, params=None, session=None):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.to_chrome, data):]
        while True:
            reply = self._read_message()
            if reply.get("id") == mid:
                if "error" in reply:
                    raise BrowserError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self._event(reply)

    def page(self, method, params=None):
        return self.call(method, params, self.session)

    def js(self, expr):
        """The value of @expr (awaited if it is a promise)."""
        r = self.page("Runtime.evaluate", {"expression": expr,
                                           "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    # ---- what the tests use ----

    def wait(self, expr, what):
        """Until @expr is truthy in the page; returns its value. A script
        exception meanwhile ends the wait (BrowserError): a page whose
        script died would never get there."""
        start = last = time.monotonic()
        seen = len(self.problems)
        # An element found is true (returnByValue would make it {}).
        expr = "(v => v && typeof v === 'object' ? true : v)(%s)" % expr
        while True:
            v = self.js(expr)
            if v:
                return v
            died = [p for p in self.problems[seen:]
                    if p.startswith("exception:")]
            if died:
                raise BrowserError("waiting for %s: %s" % (what, died))
            now = time.monotonic()
            if now - last > 10:
                sys.stderr.write("browser: still waiting (%d s) for %s\n"
                                 % (now - start, what))
                last = now
            time.sleep(0.02)

    def goto(self, url, page):
        """Load @url and wait until the UI rendered @page (ready or error)."""
        self.js("document.body && (document.body.dataset.state = 'stale')")
        self.page("Page.navigate", {"url": url})
        return self.rendered(page)

    def rendered(self, page):
        """Wait for the render of @page; its state, "ready" or "error"."""
        return self.wait(
            "document.body && document.body.dataset.page === %s && "
            "['ready', 'error'].includes(document.body.dataset.state) && "
            "document.body.dataset.state" % json.dumps(page),
            "page %s to render" % page)

    def text(self, sel="body"):
        return self.js("(document.querySelector(%s) || {}).innerText || ''"
                       % json.dumps(sel))

    def count(self, sel):
        return self.js("document.querySelectorAll(%s).length"
                       % json.dumps(sel))

    def click(self, sel):
        if not self.js("(e => e ? (e.click(), true) : false)"
                       "(document.querySelector(%s))" % json.dumps(sel)):
            raise BrowserError("nothing to click at " + sel)

    def type(self, sel, text):
        self.js("document.querySelector(%s).focus()" % json.dumps(sel))
        self.page("Input.insertText", {"text": text})

    def viewport(self, width, height, mobile):
        self.page("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height,
                   "deviceScaleFactor": 1, "mobile": mobile})

    def shot(self, name, max_height=1600):
        """A PNG of the page (up to @max_height CSS pixels tall)."""
        m = self.page("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        vp = m.get("cssLayoutViewport") or m["layoutViewport"]
        clip = {"x": 0, "y": 0, "width": vp["clientWidth"],
                "height": min(max(size["height"], vp["clientHeight"]),
                              max_height), "scale": 1}
        r = self.page("Page.captureScreenshot",
                      {"format": "png", "clip": clip,
                       "captureBeyondViewport": True})
        path = os.path.join(self.out_dir, name + ".png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    def close(self):
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
