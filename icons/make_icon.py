#!/usr/bin/env python3
"""Draws the Fluxdesk app icon (icons/icon.png, 1024x1024) and its fixed-size PNGs.

The mark: a rounded square with a soft violet-to-blue gradient, a white flowing "flux" wave and a
small four-point spark. Rendered at 4x and downsampled for smooth edges. Needs Pillow
(`pip install pillow`). The .ico/.icns are derived from icon.png with the Tauri CLI:

    python3 icons/make_icon.py && ui/node_modules/.bin/tauri icon icons/icon.png -o /tmp/icons-out && cp /tmp/icons-out/icon.{ico,icns} icons/

(only icon.ico and icon.icns are taken from it; bundle.icon in src-tauri/tauri.conf.json lists what ships).
"""

import math
import os

from PIL import Image, ImageChops, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
SS = 4  # supersampling factor
SIZE = 1024
S = SIZE * SS

VIOLET = (124, 58, 237)  # #7C3AED
BLUE = (37, 99, 235)  # #2563EB
CYAN = (56, 189, 248)  # #38BDF8, used lightly at the bottom-right


def lerp(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def gradient(size):
    """Diagonal violet -> blue with a hint of cyan in the far corner."""
    small = 256
    img = Image.new("RGB", (small, small))
    px = img.load()
    for y in range(small):
        for x in range(small):
            t = (x * 0.45 + y * 0.55) / (small - 1)
            c = lerp(VIOLET, BLUE, min(1.0, t * 1.15))
            if t > 0.75:
                c = lerp(c, CYAN, (t - 0.75) / 0.25 * 0.35)
            px[x, y] = c
    img = img.resize((size, size), Image.BICUBIC)
    # Soft light from the top-left.
    glow = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(glow)
    r = size * 0.55
    d.ellipse((-r * 0.4, -r * 0.5, r * 1.1, r * 0.9), fill=70)
    glow = glow.filter(ImageFilter.GaussianBlur(size * 0.12))
    white = Image.new("RGB", (size, size), (255, 255, 255))
    return Image.composite(white, img, glow)


def rounded_mask(size, inset, radius):
    m = Image.new("L", (size, size), 0)
    ImageDraw.Draw(m).rounded_rectangle((inset, inset, size - inset, size - inset), radius=radius, fill=255)
    return m


def stroke(draw, points, width):
    """A round-capped thick polyline drawn as overlapping discs (exact at any curvature)."""
    r = width / 2
    for x, y in points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def wave(cx, cy, length, amp, phase, n=900):
    pts = []
    for i in range(n + 1):
        t = i / n
        x = cx - length / 2 + length * t
        # Amplitude swells in the middle and tapers at the ends: a "flux" ribbon.
        env = math.sin(math.pi * t) ** 0.8
        y = cy - amp * env * math.sin(2 * math.pi * (t * 1.0) + phase)
        pts.append((x, y))
    return pts


def spark(draw, cx, cy, r):
    """Four-point star with concave sides."""
    pts = []
    n = 64
    for i in range(n):
        a = 2 * math.pi * i / n
        # Astroid-like: |cos|^3, |sin|^3 gives concave sides between 4 points.
        x = cx + r * math.copysign(abs(math.cos(a)) ** 3, math.cos(a))
        y = cy + r * math.copysign(abs(math.sin(a)) ** 3, math.sin(a))
        pts.append((x, y))
    draw.polygon(pts, fill=255)


def render():
    inset = round(S * 0.06)
    radius = round(S * 0.225)
    body = rounded_mask(S, inset, radius)

    bg = gradient(S)
    canvas = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    canvas.paste(bg, (0, 0), body)

    # Subtle inner rim light.
    rim = ImageChops.subtract(body, rounded_mask(S, inset + S * 0.006, radius - S * 0.006))
    canvas.paste(Image.new("RGB", (S, S), (255, 255, 255)), (0, 0), rim.point(lambda v: v * 40 // 255))

    mark = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(mark)
    w = S * 0.075
    stroke(d, wave(S * 0.5, S * 0.56, S * 0.60, S * 0.13, 0.0), w)
    # A thinner, fainter companion wave for depth.
    faint = Image.new("L", (S, S), 0)
    stroke(ImageDraw.Draw(faint), wave(S * 0.5, S * 0.70, S * 0.46, S * 0.07, 0.0), w * 0.55)
    spark(d, S * 0.70, S * 0.29, S * 0.11)

    shadow = mark.filter(ImageFilter.GaussianBlur(S * 0.02)).point(lambda v: v * 60 // 255)
    shadow = ImageChops.multiply(shadow, body)
    dark = Image.new("RGB", (S, S), (30, 20, 80))
    canvas.paste(dark, (0, round(S * 0.012)), shadow)
    canvas.paste(Image.new("RGB", (S, S), (255, 255, 255)), (0, 0), faint.point(lambda v: v * 150 // 255))
    canvas.paste(Image.new("RGB", (S, S), (255, 255, 255)), (0, 0), mark)

    # paste() onto RGBA with an RGB source keeps the canvas alpha; restore it from the body mask.
    canvas.putalpha(body)
    return canvas.resize((SIZE, SIZE), Image.LANCZOS)


def main():
    icon = render()
    icon.save(os.path.join(HERE, "icon.png"), optimize=True)
    # 32..512 are the hicolor theme sizes the Linux bundles install (bundle.icon in
    # src-tauri/tauri.conf.json); 128x128@2x.png is Tauri's conventional HiDPI name.
    sizes = (32, 64, 128, 256, 512)
    for name, px in [(f"{n}x{n}.png", n) for n in sizes] + [("128x128@2x.png", 256)]:
        icon.resize((px, px), Image.LANCZOS).save(os.path.join(HERE, name), optimize=True)


if __name__ == "__main__":
    main()
