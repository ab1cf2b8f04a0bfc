#!/usr/bin/env python3
"""Memory while a designer uses the gallery: the app started directly, driven by X input only.

Usage: python3 e2e/bench/memory.py APP GALLERY_JSON OUT_JSON

Runs inside the bench's sandbox (e2e/bench/run.sh) after gallery.mjs and launch.py. gallery.mjs
measures memory too, but through WebDriver: its automation session lives in the web process, and
its watching script (a check every animation frame, `decode()` on the tiles, a poll every 30 ms,
a second parse of every `list_images` answer) leaves garbage in the page's heap, tens of MiB of
the peak. A designer has neither. So this pass repeats the same work with nothing in the page:

  1. start APP (it reopens the gallery), wait until the window is mapped, then 3 s;
  2. every query gallery.mjs measured (GALLERY_JSON's search samples, in order): "/" focuses the
     search box, the query is typed a key every 60 ms, 400 ms for its results, Escape clears it,
     400 ms for the full list;
  3. a click on the first tile, then PageDown once every 100 ms until as many tiles have gone by
     as gallery.mjs scrolled (its `scroll.tiles`, one page being its `scroll.pageTiles`);
  4. 3 s at rest; a screenshot (OUT_JSON + ".png") shows where the scroll ended.

Memory: VmRSS and PSS summed over the app and its WebKit processes every 250 ms from launch to the
end, per phase, in gallery.mjs's `memory` shape. Input goes through xdotool (XTEST), as a
keyboard and mouse would. Writes {"measured": true, "memory": {...}, ...}, or {"measured": false,
"note": ...} and a non-zero exit when something did not work.
"""

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time

KEY_DELAY_MS = 60
RESULTS_S = 0.4
PAGE_EVERY_S = 0.1
REST_S = 3.0
# The first tile's centre at the bench's 1280×800 screen (launch.py reads the same first row).
FIRST_TILE = (150, 160)


def descendants(root):
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def field(text, name):
    m = re.search(r"^%s:\s+(\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


def mem_of(pids):
    rss = pss = pss_file = n = 0
    by = {}
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                status = f.read()
            with open("/proc/%d/smaps_rollup" % p) as f:
                rollup = f.read()
        except OSError:
            continue
        q = field(rollup, "Pss")
        rss += field(status, "VmRSS")
        pss += q
        pss_file += field(rollup, "Pss_File")
        n += 1
        m = re.search(r"^Name:\s+(.*)$", status, re.M)
        name = m.group(1) if m else str(p)
        by[name] = by.get(name, 0) + q / 1024
    return {"rssMib": rss / 1024, "pssMib": pss / 1024, "pssFileMib": pss_file / 1024, "processes": n, "pssByProcess": by}


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.phase, self.samples, self.stopped = pid, "start", [], threading.Event()

    def run(self):
        while not self.stopped.wait(0.25):
            m = mem_of(descendants(self.pid))
            if m["processes"]:
                self.samples.append(dict(m, phase=self.phase))

    def summary(self):
        phases = {}
        for s in self.samples:
            b = phases.setdefault(s["phase"], {"samples": 0, "peakRssMib": 0, "peakPssMib": 0})
            b["samples"] += 1
            b["peakRssMib"] = max(b["peakRssMib"], s["rssMib"])
            b["peakPssMib"] = max(b["peakPssMib"], s["pssMib"])
            b.update(lastRssMib=s["rssMib"], lastPssMib=s["pssMib"], lastPssFileMib=s["pssFileMib"])
            b["lastPssByProcess"] = {k: round(v) for k, v in s["pssByProcess"].items()}
        s = self.samples
        return {
            "phases": phases,
            "peakRssMib": max([x["rssMib"] for x in s] or [0]),
            "peakPssMib": max([x["pssMib"] for x in s] or [0]),
            "processes": max([x["processes"] for x in s] or [0]),
            "samples": len(s),
        }


def xdo(*args, timeout=60):
    subprocess.run(["xdotool", *args], check=True, timeout=timeout, stdout=subprocess.DEVNULL)


def plan(gallery):
    """The queries and the number of PageDowns, from gallery.mjs's result."""
    queries = [s["text"] for kind in sorted(gallery.get("search", {})) for s in gallery["search"][kind].get("samples", [])]
    scroll = gallery.get("scroll") or {}
    tiles, page = scroll.get("tiles") or 0, scroll.get("pageTiles") or 0
    if not queries or tiles <= 0 or page <= 0:
        raise ValueError("gallery.mjs's result has no search samples or no scroll with pageTiles")
    return queries, math.ceil(tiles / page), tiles, page


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: python3 e2e/bench/memory.py APP GALLERY_JSON OUT_JSON")
    app, gallery_json, out = sys.argv[1:4]
    result = {"measured": False, "note": None}
    proc = sampler = None
    try:
        with open(gallery_json) as f:
            queries, pages, tiles, page = plan(json.load(f))
        result.update(queries=len(queries), pageDowns=pages, tiles=tiles, pageTiles=page)
        proc = subprocess.Popen([app], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sampler = Sampler(proc.pid)
        sampler.start()
        xdo("search", "--sync", "--onlyvisible", "--name", "^Fluxdesk$", timeout=30)
        sampler.phase = "idle after first page"
        time.sleep(3.0)

        sampler.phase = "search"
        for q in queries:
            xdo("key", "slash")
            xdo("type", "--delay", str(KEY_DELAY_MS), q)
            time.sleep(RESULTS_S)
            xdo("key", "Escape")
            time.sleep(RESULTS_S)
        xdo("key", "Escape")
        time.sleep(1.0)

        sampler.phase = "scroll"
        xdo("mousemove", str(FIRST_TILE[0]), str(FIRST_TILE[1]), "click", "1")
        time.sleep(0.3)
        t0 = time.monotonic()
        for i in range(pages):
            wait = t0 + i * PAGE_EVERY_S - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            xdo("key", "Next")
        sampler.phase = "after scroll"
        time.sleep(REST_S)
        subprocess.run(["import", "-window", "root", out + ".png"], timeout=30, check=False)
        result["measured"] = True
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        result["note"] = "%s: %s" % (type(e).__name__, e)
        print("# memory pass failed: %s" % result["note"])
    finally:
        if sampler:
            sampler.stopped.set()
            sampler.join()
            result["memory"] = sampler.summary()
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with open(out, "w") as f:
        json.dump(result, f)
    if result["measured"]:
        m = result["memory"]
        print("# memory, app started directly and driven by X input: peak PSS %.0f MiB over %d samples" % (m["peakPssMib"], m["samples"]))
    return 0 if result["measured"] else 1


if __name__ == "__main__":
    sys.exit(main())
