#!/usr/bin/env python3
"""Drives headless Chromium (Debian's `chromium`) over the DevTools protocol, through the
--remote-debugging-pipe file descriptors, to see Backstop's pages as a person does.

    browser.py dashboard URL OUTDIR     the rendered dashboard as JSON; screenshots of it
                                        at phone and desktop widths in OUTDIR
    browser.py report FILE OUTDIR       the same for a report file
    browser.py petition URL COUNT OUTDIR
                                        signs the petition page COUNT times, each time in a
                                        fresh page with a fresh browser key, by ticking the
                                        box and pressing the button as a person would;
                                        screenshots of the first and last in OUTDIR

Prints one JSON object on standard output. Standard library only."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self):
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        if executable is None:
            raise SystemExit("browser.py: chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="backstop-chromium-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()

        def child_fds():
            # Chromium reads commands on fd 3 and writes answers on fd 4. Copy both out of
            # the way first: a pipe may itself have been given fd 3 or 4.
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "about:blank"],
            preexec_fn=child_fds, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        wanted = self.next_id
        while True:
            reply = self.read()
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url, width, height, mobile=False):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        self.send("Page.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile}, session=session)
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=session)
        page.wait_for_load()
        return page

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, target, session):
        self.browser, self.target, self.session = browser, target, session

    def wait_for_load(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.browser.events:
                if event.get("method") == "Page.loadEventFired" and event.get("sessionId") == self.session:
                    self.browser.events.remove(event)
                    return
            self.browser.events.append(self.browser.read())
        raise RuntimeError("the page did not load")

    def evaluate(self, expression):
        result = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                                   session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path, full=True):
        if not full:
            data = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
            with open(path, "wb") as file:
                file.write(base64.b64decode(data))
            return
        metrics = self.browser.send("Page.getLayoutMetrics", session=self.session)
        size = metrics["cssContentSize"]
        data = self.browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session=self.session)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target})


# What the tests compare: every figure of the balances table, the pending releases with
# their countdowns, the activity list's text, and how wide the page is against the screen.
READ_DASHBOARD = """(() => {
  const text = (node) => node ? node.textContent.trim() : null;
  const balances = {};
  for (const row of document.querySelectorAll('#balances tr[data-asset]')) {
    const cells = {};
    for (const cell of row.querySelectorAll('td[data-field]')) cells[cell.dataset.field] = cell.dataset.units;
    balances[row.dataset.asset] = cells;
  }
  return {
    title: document.title,
    heading: text(document.querySelector('header h1')),
    balances: balances,
    charts: document.querySelectorAll('#balances svg.chart path').length,
    claims: Array.from(document.querySelectorAll('#claims tr[data-claim]'), (row) => row.dataset.claim),
    releases: Array.from(document.querySelectorAll('#releases article'), (article) => ({
      id: article.dataset.release, countdown: text(article.querySelector('.countdown')),
      payees: Array.from(article.querySelectorAll('tbody tr td:nth-child(2)'), (cell) => cell.textContent),
      destinations: Array.from(article.querySelectorAll('tbody code'), (cell) => cell.textContent)})),
    queue: Array.from(document.querySelectorAll('#queue tr[data-proposal]'), (row) => row.textContent),
    activity: Array.from(document.querySelectorAll('#activity li'), (item) => item.textContent),
    members: Array.from(document.querySelectorAll('#members tr[data-member]'), (row) => row.dataset.member),
    verify: text(document.querySelector('#verify pre')),
    scripts: document.querySelectorAll('script').length,
    injected: window.__backstopInjected === true,
    scrollWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth
  };
})()"""


def dashboard(url, outdir, name):
    browser = Browser()
    try:
        result = {}
        for label, width, height, mobile in (("desktop", 1280, 900, False), ("phone", 390, 844, True)):
            page = browser.open(url, width, height, mobile)
            result[label] = page.evaluate(READ_DASHBOARD)
            page.screenshot(os.path.join(outdir, f"{name}-{label}.png"))
            page.screenshot(os.path.join(outdir, f"{name}-{label}-first-screen.png"), full=False)
            page.close()
        return result
    finally:
        browser.close()


def petition(url, count, outdir):
    browser = Browser()
    statuses = []
    try:
        for index in range(count):
            page = browser.open(url, 390, 844, True)
            if index == 0:
                page.screenshot(os.path.join(outdir, "petition-phone.png"))
            page.evaluate("document.getElementById('confirm-read').click()")
            page.evaluate("document.getElementById('sign').click()")
            status = ""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = page.evaluate("document.getElementById('sign-status').textContent")
                if status.startswith("Signed") or status.startswith("Not signed") or status.startswith("This key"):
                    break
                time.sleep(0.02)
            statuses.append(status)
            if index == count - 1:
                page.screenshot(os.path.join(outdir, "petition-phone-signed.png"))
            count_shown = page.evaluate("document.getElementById('count').textContent")
            key_link = page.evaluate("(() => { const a = document.getElementById('download-key'); return !a.hidden && a.href.startsWith('blob:'); })()")
            page.close()
            if not status.startswith("Signed"):
                break
        return {"signed": sum(1 for s in statuses if s.startswith("Signed")), "statuses": statuses[-3:],
                "lastCount": count_shown, "keyOffered": key_link}
    finally:
        browser.close()


def main():
    verb = sys.argv[1] if len(sys.argv) > 1 else ""
    if (verb, len(sys.argv)) not in (("dashboard", 4), ("report", 4), ("petition", 5)):
        raise SystemExit(__doc__)
    if verb == "petition":
        print(json.dumps(petition(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        target = sys.argv[2] if verb == "dashboard" else "file://" + os.path.abspath(sys.argv[2])
        print(json.dumps(dashboard(target, sys.argv[3], verb)))


if __name__ == "__main__":
    main()
