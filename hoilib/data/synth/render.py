"""Draw HOI-Synth scenes: stick-figure people whose pose encodes the verb, and textured objects.

It is longer than 300 lines because each verb's pose and each object's drawing is a few lines of
geometry; split, the verbs a scene can show would no longer read as one list.

A verb is visible only through geometry: where the object sits relative to the
hands, feet, hip or head, how the limbs bend, and which way the head faces
(``look_at`` turns the head toward the object; ``no_interaction`` turns it away).
Everything is drawn with PIL at 2x and downsampled, from a seeded ``random.Random``.
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from hoilib.data.synth.vocab import OBJECTS, ObjectKind

SS = 2  # supersampling factor


@dataclass(kw_only=True)
class Pose:
    """Keypoints of a person in image coordinates (pixels), plus head direction."""

    head: tuple[float, float]
    head_r: float
    neck: tuple[float, float]
    hip: tuple[float, float]
    hands: list[tuple[tuple[float, float], tuple[float, float]]]  # (elbow, hand) x2
    legs: list[tuple[tuple[float, float], tuple[float, float]]]  # (knee, foot) x2
    gaze: int  # +1 looks right, -1 looks left
    width: float
    extra: dict = field(default_factory=dict)

    def points(self):
        pts = [self.neck, self.hip]
        for e, h in self.hands + self.legs:
            pts += [e, h]
        return pts

    def box(self) -> list[float]:
        pts = self.points()
        xs = [p[0] for p in pts] + [self.head[0] - self.head_r, self.head[0] + self.head_r]
        ys = [p[1] for p in pts] + [self.head[1] - self.head_r, self.head[1] + self.head_r]
        w = self.width / 2
        return [min(xs) - w, min(ys) - w, max(xs) + w, max(ys) + w]


def _pt(ox, oy, d, H, x, y):
    """Local (forward x, up y) in units of person height -> image pixels; d mirrors left/right."""
    return (ox + d * x * H, oy - y * H)


def make_pose(
    verb: str, looks: bool, feet: tuple[float, float], *, H: float, d: int, rng: random.Random
) -> Pose:
    """Pose for a primary ``verb``; the person faces direction ``d`` (+1 right) toward the object.

    ``looks`` says whether the head turns toward the object (the look_at label).
    """
    ox, oy = feet
    j = lambda s=0.03: rng.uniform(-s, s)  # noqa: E731 - small pose jitter
    P = lambda x, y: _pt(ox, oy, d, H, x + j(0.015), y + j(0.015))  # noqa: E731
    lean = 0.0
    hip_y, neck_y = 0.5, 0.8
    legs = [(P(0.03, 0.25), P(0.07, 0.0)), (P(-0.03, 0.25), P(-0.07, 0.0))]
    arms = [(P(0.06, 0.6), P(0.1, 0.42)), (P(-0.06, 0.6), P(-0.1, 0.42))]
    if verb == "hold":
        arms[0] = (P(0.16, 0.66), P(0.3, 0.6))
    elif verb == "carry":
        arms = [(P(0.1, 0.58), P(0.2, 0.64)), (P(0.06, 0.56), P(0.16, 0.6))]
        legs = [(P(0.08, 0.25), P(0.14, 0.0)), (P(-0.05, 0.25), P(-0.12, 0.0))]
    elif verb == "ride":
        hip_y, neck_y = 0.58, 0.9
        legs = [(P(0.1, 0.38), P(0.06, 0.2)), (P(-0.04, 0.38), P(-0.02, 0.2))]
        arms = [(P(0.12, 0.74), P(0.26, 0.66)), (P(0.08, 0.72), P(0.22, 0.64))]
    elif verb == "sit_on":
        hip_y, neck_y = 0.42, 0.72
        legs = [(P(0.22, 0.42), P(0.24, 0.12)), (P(0.2, 0.4), P(0.2, 0.1))]
        arms = [(P(0.06, 0.52), P(0.14, 0.42)), (P(-0.04, 0.52), P(0.02, 0.42))]
    elif verb == "kick":
        legs = [(P(0.16, 0.28), P(0.32, 0.14)), (P(-0.02, 0.25), P(-0.04, 0.0))]
        arms = [(P(-0.1, 0.62), P(-0.22, 0.56)), (P(0.1, 0.62), P(0.2, 0.58))]
    elif verb == "throw":
        arms = [(P(0.1, 0.9), P(0.18, 1.05)), (P(-0.1, 0.62), P(-0.2, 0.52))]
        legs = [(P(0.08, 0.25), P(0.15, 0.0)), (P(-0.06, 0.25), P(-0.12, 0.0))]
    elif verb == "push":
        lean = 0.12
        arms = [(P(0.24, 0.7), P(0.4, 0.66)), (P(0.22, 0.66), P(0.38, 0.62))]
        legs = [(P(0.0, 0.25), P(0.05, 0.0)), (P(-0.16, 0.22), P(-0.28, 0.0))]
    elif verb == "lift":
        arms = [(P(0.1, 0.92), P(0.07, 1.1)), (P(-0.1, 0.92), P(-0.07, 1.1))]
        legs = [(P(0.07, 0.25), P(0.12, 0.0)), (P(-0.07, 0.25), P(-0.12, 0.0))]
    elif verb == "walk_with":
        legs = [(P(0.12, 0.26), P(0.22, 0.0)), (P(-0.1, 0.26), P(-0.2, 0.0))]
        arms = [(P(0.12, 0.6), P(0.22, 0.5)), (P(-0.1, 0.6), P(-0.16, 0.46))]
    hip = P(0.0, hip_y)
    neck = P(lean, neck_y)
    head = P(lean * 1.2, neck_y + 0.12)
    gaze = d if looks else -d
    return Pose(
        head=head,
        head_r=0.1 * H,
        neck=neck,
        hip=hip,
        hands=arms,
        legs=legs,
        gaze=gaze,
        width=max(2.0, 0.06 * H),
    )


def object_anchor(
    verb: str, pose: Pose, H: float, *, d: int, ow: float, oh: float, feet, rng: random.Random
):
    """Centre of the object for a verb, relative to the pose (this is what defines the verb)."""
    fx, fy = feet
    if verb == "hold":
        hx, hy = pose.hands[0][1]
        return hx + d * ow * 0.35, hy
    if verb == "carry":
        return fx + d * (0.18 * H), fy - 0.6 * H
    if verb in ("ride", "sit_on"):
        return fx + d * 0.05 * H, pose.hip[1] + oh * 0.5 + 0.02 * H
    if verb == "kick":
        fx2, fy2 = pose.legs[0][1]
        return fx2 + d * (ow * 0.5 + 0.02 * H), fy - oh * 0.5
    if verb == "throw":
        hx, hy = pose.hands[0][1]
        return hx + d * (0.3 + rng.uniform(0, 0.2)) * H, hy - rng.uniform(0.05, 0.25) * H
    if verb == "push":
        hx, hy = pose.hands[0][1]
        return hx + d * ow * 0.5, fy - oh * 0.5
    if verb == "lift":
        return fx, fy - 1.1 * H - oh * 0.45
    if verb == "walk_with":
        return fx + d * (0.3 * H + ow * 0.5), fy - oh * 0.5
    # look_at / no_interaction: the object is at a distance, on the ground or a little up.
    dist = rng.uniform(0.55, 0.95) * H + ow * 0.5
    return fx + d * dist, fy - oh * 0.5 - rng.choice([0.0, 0.0, 0.3]) * H


def jitter_color(rgb, rng: random.Random, hue=0.025, *, val=0.15):
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    h = (h + rng.uniform(-hue, hue)) % 1.0
    v = min(1.0, max(0.05, v * (1 + rng.uniform(-val, val))))
    s = min(1.0, max(0.0, s * (1 + rng.uniform(-0.1, 0.1))))
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h, s, v))


def _darker(rgb, f=0.55):
    return tuple(int(c * f) for c in rgb)


def draw_object(dr: ImageDraw.ImageDraw, kind: ObjectKind, cx, *, cy, w, h, color, d: int):
    """Draw one object centred at (cx, cy) in a w x h box (supersampled coordinates)."""
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    dark = _darker(color)
    lw = max(2, int(min(w, h) * 0.08))
    s = kind.shape
    if s == "disc":
        dr.ellipse([x0, y0, x1, y1], fill=color, outline=dark, width=lw)
    elif s == "square":
        dr.rectangle([x0, y0, x1, y1], fill=color, outline=dark, width=lw)
    elif s == "bottle":
        dr.rectangle([x0, y0 + h * 0.3, x1, y1], fill=color, outline=dark, width=lw)
        dr.rectangle(
            [cx - w * 0.22, y0, cx + w * 0.22, y0 + h * 0.32], fill=color, outline=dark, width=lw
        )
    elif s == "quadruped":
        by0, by1 = y0 + h * 0.15, y0 + h * 0.6
        dr.ellipse([x0 + w * 0.1, by0, x1 - w * 0.12, by1], fill=color)
        hx = x1 - w * 0.12 if d > 0 else x0 + w * 0.12
        dr.ellipse([hx - w * 0.12, y0, hx + w * 0.12, y0 + h * 0.3], fill=color)
        for fx in (0.2, 0.35, 0.62, 0.78):
            lx = x0 + w * fx
            dr.line([(lx, by1 - h * 0.05), (lx, y1)], fill=color, width=max(2, int(w * 0.06)))
    elif s == "bicycle":
        r = h * 0.32
        lx, rx, wy = x0 + r, x1 - r, y1 - r
        for wx in (lx, rx):
            dr.ellipse([wx - r, wy - r, wx + r, wy + r], outline=color, width=lw)
        top = y0 + h * 0.22
        dr.line([(lx, wy), (cx, top), (rx, wy), (lx, wy)], fill=color, width=lw)
        dr.line([(cx, top), (cx - w * 0.05, y0)], fill=dark, width=lw)
    elif s == "chair":
        seat = y0 + h * 0.5
        back_x = x0 if d > 0 else x1 - w * 0.2
        dr.rectangle([back_x, y0, back_x + w * 0.2, seat], fill=color)
        dr.rectangle([x0, seat, x1, seat + h * 0.15], fill=color)
        dr.line([(x0 + w * 0.1, seat), (x0 + w * 0.1, y1)], fill=color, width=lw)
        dr.line([(x1 - w * 0.1, seat), (x1 - w * 0.1, y1)], fill=color, width=lw)
    elif s == "umbrella":
        dr.pieslice([x0, y0, x1, y0 + h * 0.9], 180, 360, fill=color, outline=dark)
        dr.line([(cx, y0 + h * 0.45), (cx, y1)], fill=dark, width=lw)
    elif s == "board":
        dr.rounded_rectangle([x0, y0, x1, y0 + h * 0.55], radius=h * 0.25, fill=color, outline=dark)
        r = h * 0.22
        for wx in (x0 + w * 0.2, x1 - w * 0.2):
            dr.ellipse([wx - r, y1 - 2 * r, wx + r, y1], fill=(30, 30, 30))
    elif s == "diamond":
        dr.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=color, outline=dark)
    elif s == "bench":
        dr.rectangle([x0, y0, x1, y0 + h * 0.45], fill=color)
        for fx in (0.1, 0.9):
            dr.line([(x0 + w * fx, y0 + h * 0.4), (x0 + w * fx, y1)], fill=dark, width=lw)
    elif s == "cup":
        dr.polygon(
            [(x0, y0), (x1, y0), (x1 - w * 0.15, y1), (x0 + w * 0.15, y1)],
            fill=color,
            outline=(90, 90, 90),
        )
    elif s == "book":
        dr.rectangle([x0, y0, x1, y1], fill=color, outline=(200, 200, 200), width=lw)
    elif s == "flat":
        dr.ellipse([x0, y0, x1, y1], fill=color, outline=dark, width=lw)
    else:  # pragma: no cover - vocabulary and renderer are kept in step by tests
        raise ValueError(f"unknown shape family {s!r}")
    _texture(dr, kind.texture, x0, y0=y0, x1=x1, y1=y1, dark=dark, color=color)


def _texture(dr, texture, x0, *, y0, x1, y1, dark, color):
    w, h = x1 - x0, y1 - y0
    if texture == "hatch":
        for k in range(1, 4):
            dr.line([(x0 + w * k / 4, y0), (x0 + w * k / 4, y1)], fill=dark, width=2)
            dr.line([(x0, y0 + h * k / 4), (x1, y0 + h * k / 4)], fill=dark, width=2)
    elif texture == "stripes":
        for k in range(1, 5):
            dr.line(
                [(x0 + w * k / 5, y0 + h * 0.1), (x0 + w * k / 5, y0 + h * 0.45)],
                fill=(250, 250, 250),
                width=2,
            )
    elif texture == "dots":
        r = max(1.5, min(w, h) * 0.07)
        for fx, fy in ((0.3, 0.3), (0.6, 0.45), (0.4, 0.7), (0.7, 0.2)):
            px, py = x0 + w * fx, y0 + h * fy
            dr.ellipse([px - r, py - r, px + r, py + r], fill=(20, 20, 20))
    elif texture == "lines":
        for k in range(1, 4):
            dr.line(
                [(x0 + w * 0.15, y0 + h * k / 4), (x1 - w * 0.15, y0 + h * k / 4)],
                fill=(220, 220, 220),
                width=2,
            )
    elif texture == "ring":
        dr.ellipse(
            [x0 + w * 0.3, y0 + h * 0.25, x1 - w * 0.3, y1 - h * 0.25],
            outline=(30, 90, 20),
            width=2,
        )


def draw_person(dr: ImageDraw.ImageDraw, pose: Pose, shirt, *, skin=(235, 190, 150)):
    w = int(pose.width)
    for elbow, hand in pose.legs:
        dr.line([pose.hip, elbow, hand], fill=(40, 40, 90), width=w, joint="curve")
    dr.line([pose.hip, pose.neck], fill=shirt, width=int(w * 1.6))
    for elbow, hand in pose.hands:
        dr.line([pose.neck, elbow, hand], fill=shirt, width=w, joint="curve")
    hx, hy = pose.head
    r = pose.head_r
    dr.ellipse(
        [hx - r, hy - r, hx + r, hy + r], fill=skin, outline=(90, 60, 40), width=max(1, w // 3)
    )
    # The face: an eye and a nose on the side the head turns to.
    ex = hx + pose.gaze * r * 0.45
    er = max(1.5, r * 0.2)
    dr.ellipse([ex - er, hy - r * 0.25 - er, ex + er, hy - r * 0.25 + er], fill=(0, 0, 0))
    dr.polygon(
        [
            (hx + pose.gaze * r * 0.9, hy),
            (hx + pose.gaze * r * 1.35, hy + r * 0.2),
            (hx + pose.gaze * r * 0.9, hy + r * 0.35),
        ],
        fill=skin,
    )


def draw_background(dr, size, rng: random.Random):
    """Light background with a horizon and clutter strokes, so crops are not blank."""
    base = tuple(rng.randint(200, 245) for _ in range(3))
    dr.rectangle([0, 0, size, size], fill=base)
    horizon = rng.uniform(0.45, 0.7) * size
    ground = tuple(max(0, c - rng.randint(15, 40)) for c in base)
    dr.rectangle([0, horizon, size, size], fill=ground)
    for _ in range(rng.randint(4, 10)):
        c = tuple(rng.randint(150, 210) for _ in range(3))
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        L = rng.uniform(0.03, 0.12) * size
        a = rng.uniform(0, math.pi)
        dr.line(
            [(x, y), (x + L * math.cos(a), y + L * math.sin(a))],
            fill=c,
            width=max(1, int(size * 0.006)),
        )


def new_canvas(size: int, rng: random.Random):
    img = Image.new("RGB", (size * SS, size * SS))
    dr = ImageDraw.Draw(img)
    draw_background(dr, size * SS, rng)
    return img, dr


def finish(img: Image.Image, size: int) -> Image.Image:
    return img.resize((size, size), Image.Resampling.LANCZOS)


OBJECT_BY_NAME = {o.name: o for o in OBJECTS}
