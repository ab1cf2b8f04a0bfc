#!/usr/bin/env python3
"""Launch → first gallery page on screen, with the app started directly (as a designer starts it).

Usage: python3 e2e/bench/launch.py APP RUNS OUT_JSON

Runs inside the bench's sandbox (e2e/bench/run.sh: Xvfb, session bus, keyring, throwaway HOME)
after gallery.mjs, whose WebDriver starts leave the app remembering the gallery as its screen.
WebDriver is not involved here: its automation session delays the page by a few hundred ms.

Each run starts APP and reads the X screen's first row of grid tiles (below the toolbar, right
of the rail) every ~10 ms with XGetImage (libX11 through ctypes; no extra packages). The UI is
neutral greys, and the bench library's thumbnails are colourful, so the share of colourful pixels
in that area tells how much of the first row's thumbnails is on screen. "On screen" is the first
sample at 90 % or more of the share the area settles at (read 3 s after start). The app is then
stopped (SIGTERM) and the next run starts after it exited.

Writes {"runs": [ms, ...], "median": ms, "sampleEveryMs": …, "note": …}; exits non-zero when a
run did not reach the settled share within the time limit.
"""

import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import time

# The gallery's first row of tiles at the bench's 1280×800 screen: right of the rail, below the
# toolbar and filter bar. One row keeps each sample short (the app starts on the same 2 cores).
AREA = (96, 104, 1176, 226)  # x, y, width, height
STEP = 8  # every STEP-th pixel in each direction
PAUSE_S = 0.005  # between samples
SETTLE_S = 3.0
LIMIT_S = 15.0


class XImage(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
    ]


def open_x():
    x = ctypes.CDLL("libX11.so.6")
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XGetImage.restype = ctypes.POINTER(XImage)
    x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    x.XFree.argtypes = [ctypes.c_void_p]
    display = x.XOpenDisplay(None)
    if not display:
        sys.exit("launch.py: cannot open the X display (DISPLAY=%s)" % os.environ.get("DISPLAY"))
    return x, display, x.XDefaultRootWindow(display)


def colourful_share(x, display, root):
    """Share of sampled pixels in AREA whose channels differ by more than 40 (not a grey)."""
    ax, ay, w, h = AREA
    img = x.XGetImage(display, root, ax, ay, w, h, 0xFFFFFFFF, 2)  # ZPixmap
    if not img:
        return 0.0
    try:
        im = img.contents
        if im.bits_per_pixel != 32:
            sys.exit("launch.py: expected a 32-bit screen, got %d bits per pixel" % im.bits_per_pixel)
        raw = ctypes.string_at(im.data, im.bytes_per_line * im.height)
        bpl = im.bytes_per_line
    finally:
        x.XDestroyImage(img)
    hits = total = 0
    for row in range(0, h, STEP):
        line = raw[row * bpl : row * bpl + w * 4]
        for i in range(0, len(line), 4 * STEP):
            b, g, r = line[i], line[i + 1], line[i + 2]
            total += 1
            if max(r, g, b) - min(r, g, b) > 40:
                hits += 1
    return hits / total if total else 0.0


def one_run(app, x, display, root):
    samples = []
    start = time.monotonic()
    proc = subprocess.Popen([app], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < SETTLE_S:
            samples.append((time.monotonic() - start, colourful_share(x, display, root)))
            time.sleep(PAUSE_S)
        settled = colourful_share(x, display, root)
        if settled < 0.2:
            return None, settled, samples
        for t, share in samples:
            if share >= 0.9 * settled:
                return t * 1000.0, settled, samples
        return None, settled, samples
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: python3 e2e/bench/launch.py APP RUNS OUT_JSON")
    app, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    x, display, root = open_x()
    results, every = [], []
    for n in range(runs):
        ms, settled, samples = one_run(app, x, display, root)
        if len(samples) > 1:
            every.append(1000.0 * samples[-1][0] / (len(samples) - 1))
        if ms is None:
            print("# launch %d: the grid never showed its thumbnails (settled share %.2f)" % (n + 1, settled))
            with open(out, "w") as f:
                json.dump({"measured": False, "note": "run %d: no thumbnails on screen within %.0f s" % (n + 1, SETTLE_S)}, f)
            return 1
        print("# launch %d: first gallery page on screen %.0f ms after start (settled share %.2f)" % (n + 1, ms, settled))
        results.append(round(ms, 1))
        time.sleep(1.0)
    with open(out, "w") as f:
        json.dump(
            {
                "measured": True,
                "runs": results,
                "median": statistics.median(results),
                "sampleEveryMs": round(statistics.mean(every), 1) if every else None,
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
