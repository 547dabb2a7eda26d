# SPDX-License-Identifier: Apache-2.0
"""ui-load.py - load the web UI's home page in headless Chromium, again
and again, and print what each load took, as JSON lines.

    python3 contrib/bench/ui-load.py URL OUT_DIR LOADS

Each load is a new document (URL/?load=N#/, so nothing of the last one
is kept but the browser's HTTP cache: the files come back as 304s after
the first load). It is done when app.js has put both lists of the home
page into the DOM: the mark "dray:ready" (performance.mark in render())
is then set, its startTime measured from the navigation's start
(performance.timeOrigin). Also read from the page's Performance
timeline: when the HTML's response ended, DOMContentLoaded, the first
contentful paint, and how many repository cards are shown. The driver
is tests/integration/lib/browser.py (the DevTools protocol over a
pipe); every wait is for a condition in the page.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "integration", "lib"))
from browser import Browser  # noqa: E402

FIGURES = """(() => {
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const ready = performance.getEntriesByName('dray:ready')[0];
  return {
    ready_ms: ready ? ready.startTime : null,
    html_ms: nav.responseEnd || null,
    dcl_ms: nav.domContentLoadedEventEnd || null,
    fcp_ms: fcp ? fcp.startTime : null,
    recent: document.querySelectorAll('#recent .card').length,
    popular: document.querySelectorAll('#popular .card').length,
    state: document.body.dataset.state,
  };
})()"""


def main():
    url, out_dir, loads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    b = Browser(out_dir)
    try:
        for n in range(loads):
            state = b.goto("%s/?load=%d#/" % (url, n), "home")
            # The paint after the mark: FCP is reported a frame later.
            b.wait("performance.getEntriesByName('first-contentful-paint')"
                   ".length", "the first paint")
            fig = b.js(FIGURES)
            fig["load"] = n
            fig["render_state"] = state
            print(json.dumps(fig), flush=True)
            if n == 0:
                b.shot("ui-home")
        if b.problems:
            print(json.dumps({"problems": b.problems}), flush=True)
    finally:
        b.close()


if __name__ == "__main__":
    main()
