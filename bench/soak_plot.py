"""The soak's figure: each answer's time against the events stored when its request was sent, as a PNG.

Drawn with Pillow: a scatter plot, two lines and their axes are all it needs,
which matplotlib would bring numpy and half a dozen packages for.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from PIL import Image, ImageDraw, ImageFont

from bench.soak_figures import SoakResult, percentile

WIDTH, HEIGHT = 960, 540
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 90, 70
COLORS = {"actions/500": (31, 119, 180), "actions/100": (44, 160, 44), "library/100": (255, 127, 14)}
UNAVAILABLE = (214, 39, 40)
PARTS = 10
# Events stored and seconds to a pixel.
Point = Callable[[float, float], tuple[float, float]]
Font: TypeAlias = "ImageFont.FreeTypeFont | ImageFont.ImageFont"


def draw(result: SoakResult, path: Path) -> None:
    """Answer time (s) against events stored, a dot per answer (red for a 5xx), and each tenth's p50 and p99."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    canvas = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    top_seconds = _nice_ceiling(max(answer.seconds for answer in result.answers))

    def point(stored: float, seconds: float) -> tuple[float, float]:
        x = LEFT + stored / result.events * (WIDTH - LEFT - RIGHT)
        return x, HEIGHT - BOTTOM - min(seconds, top_seconds) / top_seconds * (HEIGHT - TOP - BOTTOM)

    _axes(canvas, font, result.events, top_seconds, point)
    for answer in result.answers:
        x, y = point(answer.stored, answer.seconds)
        color = UNAVAILABLE if answer.status >= 500 else COLORS.get(answer.sender, (0, 0, 0))
        canvas.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)
    for fraction, width in ((0.5, 3), (0.99, 1)):
        tenths = [(n + 0.5, percentile(part, fraction)) for n, part in enumerate(result.parts(PARTS)) if part]
        line = [point(n * result.events / PARTS, seconds) for n, seconds in tenths]
        canvas.line(line, fill="black", width=width)
    title = (
        f"make soak: {result.events:,} events, {result.events / result.seconds:,.0f} events/s; "
        "answer time against events stored (lines: p50 and p99 of each tenth)"
    )
    canvas.text((LEFT, 12), title, fill="black", font=font)
    _legend(canvas, font)
    image.save(path, optimize=True)


def _axes(canvas: ImageDraw.ImageDraw, font: Font, events: int, top: float, point: Point) -> None:
    origin, corner = point(0, 0), point(events, top)
    canvas.rectangle((origin[0], corner[1], corner[0], origin[1]), outline="black")
    for n in range(PARTS + 1):
        x, y = point(n * events / PARTS, 0)
        canvas.line((x, y, x, y + 5), fill="black")
        canvas.text((x, y + 8), f"{n * events // PARTS:,}", fill="black", font=font, anchor="mt")
    step = top / 5
    for n in range(6):
        x, y = point(0, n * step)
        canvas.line((x - 5, y, x, y), fill="black")
        canvas.line((x, y, corner[0], y), fill=(225, 225, 225))
        canvas.text((x - 8, y), f"{n * step:.1f}", fill="black", font=font, anchor="rm")
    canvas.text(((origin[0] + corner[0]) / 2, HEIGHT - 25), "events stored", fill="black", font=font, anchor="mm")
    canvas.text((10, TOP - 22), "answer time (s)", fill="black", font=font)


def _legend(canvas: ImageDraw.ImageDraw, font: Font) -> None:
    labels = [(f"{sender} events a batch", color) for sender, color in COLORS.items()] + [("5xx", UNAVAILABLE)]
    x = float(LEFT)
    for label, color in labels:
        canvas.ellipse((x, 42, x + 8, 50), fill=color)
        canvas.text((x + 14, 46), label, fill="black", font=font, anchor="lm")
        x += 30 + canvas.textlength(label, font=font)


def _nice_ceiling(seconds: float) -> float:
    """The y axis's top: a little above the longest answer, rounded up to a half second, at least one second."""
    return max(1.0, math.ceil(seconds * 1.05 * 2) / 2)
