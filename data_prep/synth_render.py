"""Scene sampling, rendering and exact ground-truth optical flow for `motionvla synth-videos`.

Geometry. Everything lives on a *world* canvas 1.5x the view's side, so a moving camera never shows a
border. The camera of frame ``t`` is a homography ``C_t`` from world coordinates to view pixels
(``C_0`` centres the view on the world); pan, zoom and roll compose a translation, a scaling or a
rotation about the view centre onto it. Objects are sprites (colour premultiplied by alpha) placed at
world positions ``pos_t``, and every layer is warped into the view in one ``cv2.warpPerspective`` with
the sprite-to-view matrix ``C_t @ T(pos_t)``: one resampling per layer, so a frame is an exact function
of ``(C_t, pos_t)`` and the flow below is the true motion of what is drawn, not an approximation of it.

Flow convention (the project's): float ``(2, H, W)``, x then y, from frame t to t+1, such that
``frame1[y + v, x + u] ~ frame0[y, x]``. The scene point at view pixel ``p`` of frame t is the world
point ``w = C_t^-1(p)``; it belongs to the topmost layer whose alpha there exceeds 1/2 (or to the
background) and moves by that layer's world displacement ``d`` (0 for the background and static
objects), so ``total(p) = C_{t+1}(w + d) - p``, ``camera(p) = C_{t+1} C_t^-1 (p) - p`` and
``object = total - camera``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# Named colours (RGB) of the captioned objects; distractors use colours that are not in this list.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 175, 60), "blue": (40, 80, 230), "yellow": (240, 215, 40),
    "purple": (140, 60, 190), "orange": (245, 140, 30), "cyan": (40, 205, 215), "pink": (245, 120, 180),
}
DISTRACTOR_COLOURS = ((235, 235, 235), (25, 25, 25), (128, 128, 128), (120, 75, 40))
SHAPES = ("circle", "square", "triangle")
# direction -> (unit world vector, caption phrase, EgoDex-style task name)
DIRECTIONS: dict[str, tuple[tuple[float, float], str, str]] = {
    "left": ((-1.0, 0.0), "to the left", "move_left"),
    "right": ((1.0, 0.0), "to the right", "move_right"),
    "up": ((0.0, -1.0), "up", "move_up"),
    "down": ((0.0, 1.0), "down", "move_down"),
}
CAMERA_MOTIONS = ("pan", "zoom", "roll")

WORLD_SCALE = 1.5
SPEED_PX = (1.5, 4.0)  # mover speed, world px/frame at a 256-pixel view (scaled with the size)
PAN_PX = (0.5, 2.0)  # px/frame at 256
ZOOM_PER_FRAME = (0.003, 0.01)
ROLL_DEG = (0.2, 0.6)
MAX_ZOOM, MAX_ROLL_DEG = 1.4, 20.0  # over a whole video
OBJECT_RADIUS = (0.065, 0.095)  # fraction of the view side
DISTRACTOR_RADIUS = (0.03, 0.045)
SUPERSAMPLE = 4  # sprites are drawn 4x larger and area-averaged down: smooth, anti-aliased edges
SPRITE_BLUR = 0.6  # px
DRAW_SHIFT = 4  # cv2 fractional bits: vertices at 1/16 of a (supersampled) pixel


@dataclass
class Layer:
    """One sprite: world position ``start + velocity * max(0, t - onset)`` (px), drawn in list order."""

    role: str  # "mover", "static" or "distractor"
    colour: str  # a COLOURS name, or "" for a distractor
    shape: str
    radius: float  # world px
    start: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)  # world px per frame once moving
    onset: int = 0  # first frame t whose step t -> t+1 moves

    def position(self, t: int) -> np.ndarray:
        return np.asarray(self.start) + np.asarray(self.velocity) * max(0, t - self.onset)

    def step(self, t: int) -> np.ndarray:
        """World displacement from frame t to t+1."""
        return self.position(t + 1) - self.position(t)

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}".strip()


@dataclass
class Scene:
    """Everything that decides one video, in world pixels (the JSON-able part goes into the ground truth)."""

    size: int
    frames: int
    world: int
    layers: list[Layer]  # distractors, then the static named objects, then the mover (drawn on top)
    direction: str
    speed_px: float
    onset_frame: int
    camera_motion: str  # "none", "pan", "zoom" or "roll"
    camera_amount: float  # px/frame (pan), relative scale change/frame (zoom), degrees/frame (roll)
    camera_direction: float  # pan angle in radians; +1/-1 for zoom (in/out) and roll (clockwise/not)
    cameras: np.ndarray = dataclasses.field(repr=False)  # float64 (T, 3, 3): world -> view of each frame
    speed_word: str = ""  # the caption's adverb for the speed ("quickly"); "" = the speed is not named

    @property
    def mover(self) -> Layer:
        return self.layers[-1]

    @property
    def named(self) -> list[Layer]:
        """Captioned objects, mover first."""
        return [self.mover] + [layer for layer in self.layers if layer.role == "static"]

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "cameras"}
        fields["layers"] = [dataclasses.asdict(layer) for layer in self.layers]
        return fields


def caption_for(scene: Scene) -> str:
    """``"the red circle moves to the left while the blue square and the green triangle stay"``."""
    mover, *others = [f"the {layer.name}" for layer in scene.named]
    rest = others[0] if len(others) == 1 else ", ".join(others[:-1]) + " and " + others[-1]
    adverb = f"{scene.speed_word} " if scene.speed_word else ""
    return f"{mover} moves {adverb}{DIRECTIONS[scene.direction][1]} while {rest} {'stays' if len(others) == 1 else 'stay'}"


def _translation(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def camera_matrices(size: int, world: int, frames: int, kind: str, amount: float, direction: float) -> np.ndarray:
    """World-to-view homographies ``C_t`` (float64 ``(T, 3, 3)``) of a camera moving at a constant rate."""
    base = _translation((size - world) / 2, (size - world) / 2)
    c = (size - 1) / 2
    about_centre = lambda m: _translation(c, c) @ m @ _translation(-c, -c)  # noqa: E731
    out = []
    for t in range(frames):
        if kind == "pan":
            move = _translation(t * amount * math.cos(direction), t * amount * math.sin(direction))
        elif kind == "zoom":
            s = (1.0 + direction * amount) ** t
            move = about_centre(np.diag([s, s, 1.0]))
        elif kind == "roll":
            a = math.radians(direction * amount * t)
            move = about_centre(np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]]))
        else:
            move = np.eye(3)
        out.append(move @ base)
    return np.stack(out)


def apply_homography(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``h`` applied to points ``xy`` of shape ``(2, ...)`` (x then y); returns the same shape, float64."""
    x, y = xy[0], xy[1]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    return np.stack(((h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w))


def _view_covered(cameras: np.ndarray, size: int, world: int) -> bool:
    """Whether every frame sees only world canvas (1 px to spare for bilinear sampling)."""
    corners = np.array([[-1.0, size, size, -1.0], [-1.0, -1.0, size, size]])
    for cam in cameras:
        xy = apply_homography(np.linalg.inv(cam), corners)
        if xy.min() < 0 or xy.max() > world - 1:
            return False
    return True


def _stays_in_view(cameras: np.ndarray, layer: Layer, size: int, pad: float) -> bool:
    """Whether the layer's whole disc (radius + pad) is inside the view in every frame."""
    for t, cam in enumerate(cameras):
        centre = apply_homography(cam, layer.position(t)[:, None])[:, 0]
        reach = (layer.radius + pad) * math.sqrt(abs(np.linalg.det(cam[:2, :2])))
        if centre.min() < reach or centre.max() > size - 1 - reach:
            return False
    return True


def sample_camera(kind: str, size: int, world: int, frames: int,
                  rng: np.random.Generator) -> tuple[str, float, float, np.ndarray]:
    """A constant-rate camera motion of ``kind`` (or none): ``(kind, amount, direction, cameras (T, 3, 3))``."""
    if kind == "none":
        return kind, 0.0, 0.0, camera_matrices(size, world, frames, kind, 0.0, 0.0)
    steps = max(1, frames - 1)
    if kind == "pan":
        amount, direction = float(rng.uniform(*PAN_PX)) * size / 256, float(rng.uniform(0, 2 * math.pi))
    else:
        amount, direction = float(rng.uniform(*(ZOOM_PER_FRAME if kind == "zoom" else ROLL_DEG))), float(
            rng.choice([-1.0, 1.0]))
        # Long videos: a bounded total, so "to the left" still reads as left in the view at the end.
        amount = min(amount, MAX_ZOOM ** (1 / steps) - 1 if kind == "zoom" else MAX_ROLL_DEG / steps)
    cameras = camera_matrices(size, world, frames, kind, amount, direction)
    while not _view_covered(cameras, size, world):  # slow the camera rather than show the world's border
        amount *= 0.8
        cameras = camera_matrices(size, world, frames, kind, amount, direction)
    return kind, amount, direction, cameras


def sample_scene(size: int, frames: int, objects: int, distractors: int, camera_kind: str,
                 rng_scene: np.random.Generator, rng_camera: np.random.Generator,
                 rng_place: np.random.Generator, speeds: tuple[tuple[str, float], ...] = ()) -> Scene:
    """Draws the objects, the mover's motion and the camera; places everything so that it stays in view.

    The named objects get distinct colours and never overlap at frame 0; the mover starts at
    ``onset_frame`` (uniform in ``[0, frames // 2]``) and then moves at a constant speed in one direction:
    uniform in ``SPEED_PX``, or (``speeds``: (adverb, px per frame at 256) pairs) one of the named speeds,
    whose adverb the caption then says.
    """
    scale = size / 256
    world = int(round(WORLD_SCALE * size))
    colours = rng_scene.choice(list(COLOURS), size=objects, replace=False)
    shapes = rng_scene.choice(SHAPES, size=objects)
    radii = rng_scene.uniform(*OBJECT_RADIUS, size=objects) * size
    direction = str(rng_scene.choice(list(DIRECTIONS)))
    onset = int(rng_scene.integers(0, frames // 2 + 1))
    if speeds:
        speed_word, speed = speeds[int(rng_scene.integers(len(speeds)))]
        speed = float(speed) * scale
    else:
        speed_word, speed = "", float(rng_scene.uniform(*SPEED_PX)) * scale

    kind, amount, cam_dir, cameras = sample_camera(camera_kind, size, world, frames, rng_camera)
    pad = max(1.0, 2 * scale)
    steps = max(1, frames - 1 - onset)
    speed = min(speed, (0.8 * size - 2 * (radii[0] + pad)) / steps)  # the whole path must fit in the view
    unit = np.asarray(DIRECTIONS[direction][0])
    view0 = np.linalg.inv(cameras[0])[:2, 2]  # world position of the view's top-left corner at frame 0

    def place(radius: float, velocity: np.ndarray, layer_onset: int, role: str, colour: str, shape: str,
              avoid: list[Layer], tries: int = 400) -> Layer | None:
        lo, hi = radius + pad, size - 1 - radius - pad
        path = velocity * max(0, frames - 1 - layer_onset)
        for _ in range(tries):
            x = rng_place.uniform(lo - min(path[0], 0), hi - max(path[0], 0))
            y = rng_place.uniform(lo - min(path[1], 0), hi - max(path[1], 0))
            layer = Layer(role, colour, shape, float(radius), (float(view0[0] + x), float(view0[1] + y)),
                          (float(velocity[0]), float(velocity[1])), layer_onset)
            apart = all(np.hypot(*(layer.position(0) - o.position(0))) > radius + o.radius + pad for o in avoid)
            if apart and _stays_in_view(cameras, layer, size, pad):
                return layer
        return None

    named: list[Layer] = []
    while len(named) < objects:  # crowded small views: shrink the objects and slow the mover until all fit
        named = []
        for i in range(objects):
            velocity, role = (unit * speed, "mover") if i == 0 else (np.zeros(2), "static")
            layer = place(radii[i], velocity, onset if i == 0 else 0, role, str(colours[i]), str(shapes[i]), named)
            if layer is None:
                radii, speed = radii * 0.9, speed * 0.9
                break
            named.append(layer)

    extra = []
    for _ in range(distractors):
        radius = float(rng_scene.uniform(*DISTRACTOR_RADIUS)) * size
        angle = rng_scene.uniform(0, 2 * math.pi)
        dspeed = float(rng_scene.uniform(*SPEED_PX)) * scale
        dspeed = min(dspeed, (0.8 * size - 2 * (radius + pad)) / max(1, frames - 1))
        shape, layer = str(rng_scene.choice(SHAPES)), None
        while layer is None:
            velocity = dspeed * np.array([math.cos(angle), math.sin(angle)])
            layer = place(radius, velocity, 0, "distractor", "", shape, [], tries=50)
            dspeed *= 0.8
        extra.append(layer)
    return Scene(size, frames, world, extra + named[1:] + named[:1], direction, float(speed),
                 onset, kind, float(amount), float(cam_dir), cameras, speed_word)


def render_background(world: int, rng: np.random.Generator) -> np.ndarray:
    """Muted blobs at three scales, fine grain and thin lines: texture everywhere for flow and homography
    fits. float32 ``(world, world, 3)``, 0..255."""
    def smooth(cells: int, channels: int) -> np.ndarray:
        noise = rng.standard_normal((cells, cells, channels)).astype(np.float32)
        return cv2.resize(noise, (world, world), interpolation=cv2.INTER_CUBIC).reshape(world, world, channels)

    # Brightness carries most of the texture and colour only a little, so the named objects stand out.
    image = 120 + 40 * smooth(5, 1) + 22 * smooth(max(4, world // 24), 1) + 14 * smooth(max(4, world // 6), 1)
    image = image + 22 * smooth(4, 3) + 10 * smooth(max(4, world // 24), 3)
    grain = cv2.GaussianBlur(rng.standard_normal((world, world)).astype(np.float32), (0, 0), 0.8)
    image += 20 * grain[..., None]
    scale = 1 << DRAW_SHIFT
    for _ in range(int(24 * (world / 384) ** 2) + 6):
        p0, p1 = rng.uniform(0, world, 2) * scale, rng.uniform(0, world, 2) * scale
        colour = tuple(float(c) for c in rng.uniform(50, 210) + rng.uniform(-20, 20, 3))  # nearly grey
        cv2.line(image, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])), colour, int(rng.integers(1, 3)),
                 cv2.LINE_AA, DRAW_SHIFT)
    # Lines are drawn 1 px wide at the world's resolution; a light blur keeps their warps alias-free.
    return np.clip(cv2.GaussianBlur(image, (0, 0), 0.6), 0, 255)


def render_sprite(layer: Layer, rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A striped, spotted shape: premultiplied float32 ``(S, S, 4)`` (RGB + alpha) and the centre's offset.

    The shape's centre is at sprite pixel ``(offset, offset)``. Stripes (a darker shade) and spots (a
    lighter one) keep the named hue while giving the interior texture that flow can track.
    """
    offset = int(math.ceil(layer.radius)) + 2
    side = 2 * offset + 1
    big, k = side * SUPERSAMPLE, SUPERSAMPLE
    scale = 1 << DRAW_SHIFT
    # Supersampled pixel i covers sprite pixel (i + 0.5) / k - 0.5, so the centre sits at offset*k + (k-1)/2.
    cx = (offset * k + (k - 1) / 2) * scale
    r = layer.radius * k * scale

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(cx + x)), int(round(cx + y))

    mask = np.zeros((big, big), np.float32)
    if layer.shape == "circle":
        cv2.circle(mask, pt(0, 0), int(round(r)), 1.0, -1, cv2.LINE_AA, DRAW_SHIFT)
    else:
        if layer.shape == "square":
            h = r * 0.85
            corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
        else:  # triangle, pointing up, centred on its circumcentre
            corners = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        cv2.fillPoly(mask, [np.array([pt(x, y) for x, y in corners], np.int32)], 1.0, cv2.LINE_AA, DRAW_SHIFT)

    base = np.array(rgb, np.float32)
    colour = np.full((big, big, 3), base, np.float32)
    angle = rng.uniform(0, math.pi)
    period = max(3.0, layer.radius * rng.uniform(0.45, 0.7)) * k * scale
    normal = np.array([math.cos(angle), math.sin(angle)])
    along = np.array([-normal[1], normal[0]]) * 2 * r
    dark = tuple(float(c) for c in 0.55 * base)
    for j in range(-int(2 * r // period) - 1, int(2 * r // period) + 2):
        mid = normal * j * period
        cv2.line(colour, pt(*(mid - along)), pt(*(mid + along)), dark, max(1, int(period / scale / 2)), cv2.LINE_AA,
                 DRAW_SHIFT)
    light = tuple(float(c) for c in 0.55 * base + 0.45 * 255)
    for _ in range(3):
        x, y = rng.uniform(-0.6, 0.6, 2) * r
        cv2.circle(colour, pt(x, y), int(r * rng.uniform(0.1, 0.18)), light, -1, cv2.LINE_AA, DRAW_SHIFT)

    alpha = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA)
    rgb_small = cv2.resize(colour * mask[..., None], (side, side), interpolation=cv2.INTER_AREA)
    # A slight blur, like a lens's: without it, bilinear placement at a fractional offset visibly softens a
    # stripe in one frame and not the next, which is not the brightness constancy that flow assumes.
    sprite = cv2.GaussianBlur(np.dstack((rgb_small, alpha)).astype(np.float32), (0, 0), SPRITE_BLUR)
    return sprite, offset


def layer_colour(layer: Layer, rng: np.random.Generator) -> tuple[int, int, int]:
    if layer.colour:
        return COLOURS[layer.colour]
    return DISTRACTOR_COLOURS[int(rng.integers(len(DISTRACTOR_COLOURS)))]


def render_frames(scene: Scene, rng_look: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Renders the video and its ground truth.

    Returns:
        ``frames``: uint8 ``(T, H, W, 3)`` RGB; and the ground truth as float32 ``total`` and ``object``
        ``(T-1, 2, H, W)``, bool ``mover_mask``, ``moving_mask`` and ``valid_mask`` ``(T-1, H, W)``
        (``valid``: the point seen at p is still visible, and inside the view, in frame t+1), float64
        ``homographies`` ``(T-1, 3, 3)`` (``C_{t+1} C_t^-1``) and ``cameras`` ``(T, 3, 3)``.
    """
    size, n = scene.size, scene.frames
    background = render_background(scene.world, rng_look)
    sprites = [render_sprite(layer, layer_colour(layer, rng_look), rng_look) for layer in scene.layers]
    flags = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    frames = np.empty((n, size, size, 3), np.uint8)
    owners = np.empty((n, size, size), np.int8)  # index into scene.layers of the visible layer, -1 = background
    for t, cam in enumerate(scene.cameras):
        image = cv2.warpPerspective(background, cam, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT)
        owner = np.full((size, size), -1, np.int8)
        for k, (layer, (sprite, offset)) in enumerate(zip(scene.layers, sprites)):
            pos = layer.position(t)
            to_view = cam @ _translation(pos[0] - offset, pos[1] - offset)
            # Warp only into the sprite's bounding box: a sprite covers a few percent of the view.
            side = sprite.shape[0]
            box = apply_homography(to_view, np.array([[0.0, side, side, 0.0], [0.0, 0.0, side, side]]) - 0.5)
            x0, y0 = (max(0, int(math.floor(v)) - 1) for v in box.min(axis=1))
            x1, y1 = (min(size, int(math.ceil(v)) + 2) for v in box.max(axis=1))
            if x1 <= x0 or y1 <= y0:
                continue
            warped = cv2.warpPerspective(sprite, _translation(-x0, -y0) @ to_view, (x1 - x0, y1 - y0), **flags)
            alpha = warped[..., 3:]
            image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + warped[..., :3]
            owner[y0:y1, x0:x1][alpha[..., 0] > 0.5] = k
        frames[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        owners[t] = owner

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    pixels = np.stack((xs, ys))
    gt = {name: np.zeros((n - 1, 2, size, size), np.float32) for name in ("total", "object")}
    gt |= {name: np.zeros((n - 1, size, size), bool) for name in ("mover_mask", "moving_mask", "valid_mask")}
    gt["homographies"] = np.stack([scene.cameras[t + 1] @ np.linalg.inv(scene.cameras[t]) for t in range(n - 1)])
    gt["cameras"] = scene.cameras.copy()
    mover = len(scene.layers) - 1
    for t in range(n - 1):
        owner = owners[t]
        world = apply_homography(np.linalg.inv(scene.cameras[t]), pixels)
        camera = apply_homography(gt["homographies"][t], pixels)
        target = camera.copy()  # where each pixel's scene point lands in frame t+1
        for k, layer in enumerate(scene.layers):
            d = layer.step(t)
            if not d.any():
                continue
            where = owner == k
            target[:, where] = apply_homography(scene.cameras[t + 1], world[:, where] + d[:, None])
            gt["moving_mask"][t] |= where
        gt["total"][t] = target - pixels
        gt["object"][t] = target - camera
        gt["mover_mask"][t] = owner == mover
        tx, ty = np.rint(target[0]).astype(np.int64), np.rint(target[1]).astype(np.int64)
        inside = (tx >= 0) & (tx < size) & (ty >= 0) & (ty < size)
        gt["valid_mask"][t] = inside & (owners[t + 1][np.clip(ty, 0, size - 1), np.clip(tx, 0, size - 1)] == owner)
    return frames, gt
