"""Builds the reproducible store-entrance sample video from ``truth.json`` and registry photos.

The scenario (who walks where, when, under what light, who enters, who is enrolled) lives in
``truth.json``, committed with this generator. The video is generated on demand into
the user's cache directory (``$STORELENS_CACHE_DIR`` or ``~/.cache/storelens``, under ``sample_videos/``;
never the install folder, which the service user cannot write) and reused while the scenario and photos are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.atomic import one_at_a_time, replacing
from storelens.images import load_image
from storelens.models.prepare import cache_dir
from storelens.sample_videos.photos import fetch_photos
from storelens.stage_messages import FaceModels, Frame

Progress = Callable[[int, int], None]  # (done, in all)
log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TRUTH = HERE / "truth.json"
STORE_DAY = HERE / "store_day.json"  # the long, mostly quiet clip the gating benchmark runs on
GENERATOR_VERSION = "2"


def load_truth(path: Path = TRUTH) -> dict[str, Any]:
    """The scenario and its expected results."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class Sprite:
    """A head cut from a photo: BGR (S, S, 3) and a soft elliptical alpha (S, S), face box width in it."""

    image: NDArray[np.uint8]
    alpha: NDArray[np.float32]
    face_fraction: float


def cut_sprite(image: NDArray[np.uint8], box: NDArray[np.float32]) -> Sprite:
    """A square head crop around a face box (1.8x the face), with a soft elliptical mask."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.05 * (y2 - y1)
    side = int(1.8 * max(x2 - x1, y2 - y1))
    half = side // 2
    padded = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_REFLECT)
    px, py = int(cx) + side, int(cy) + side
    crop = padded[py - half : py - half + side, px - half : px - half + side].copy()
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    dist = ((xx - side / 2) / (0.46 * side)) ** 2 + ((yy - side / 2) / (0.5 * side)) ** 2
    alpha = np.clip((1.0 - dist) / 0.15, 0.0, 1.0).astype(np.float32)
    return Sprite(np.asarray(crop, dtype=np.uint8), alpha, (x2 - x1) / side)


def background(width: int, height: int) -> NDArray[np.uint8]:
    """A plain store entrance: wall, glass door frame, floor, door mat."""
    img = np.zeros((height, width, 3), np.uint8)
    for y in range(height):
        t = y / height
        img[y] = (int(150 + 40 * t), int(160 + 30 * t), int(170 + 20 * t)) if y < 300 else (90, 100, 110)
    cv2.rectangle(img, (320, 40), (960, 300), (120, 110, 95), 12)
    cv2.rectangle(img, (332, 52), (948, 300), (200, 205, 190), -1)
    cv2.rectangle(img, (300, 560), (980, 700), (60, 55, 70), -1)
    return img


@dataclass(frozen=True)
class Look:
    """How a person looks at one moment: light, and what makes the face hard to recognise.

    Attributes:
        light: brightness factor (1: as photographed).
        blur: Gaussian blur sigma in head pixels (out of focus, or moving fast); 0: sharp.
        turn: the head squeezed horizontally by this fraction, as a head turned away looks; 0: frontal.
        occlude: fraction of the face hidden from the chin up (a display, a raised hand); 0: none.
    """

    light: float = 1.0
    blur: float = 0.0
    turn: float = 0.0
    occlude: float = 0.0


def look_at(person: dict[str, Any], t: float) -> Look:
    """A person's look at time ``t``.

    Effects are listed in truth.json as ``[[from_s, to_s, amount], ...]`` in seconds since the person
    appears (``blur``, ``turn``, ``occlude``); ``light`` is one factor or ``[first, last]`` over the walk.
    """
    local = t - person["t0"]
    light = person["light"]
    level = float(light[0] + _progress(person, t) * (light[1] - light[0])) if isinstance(light, list) else float(light)

    def amount(key: str) -> float:
        return max([float(a) for start, end, a in person.get(key, []) if start <= local < end], default=0.0)

    return Look(level, amount("blur"), amount("turn"), amount("occlude"))


def paste(
    frame: NDArray[np.uint8],
    sprite: Sprite,
    centre: tuple[float, float],
    face_px: float,
    look: Look,
    colour: tuple[int, int, int],
) -> None:
    """Draw a person (shoulders and head) with the face ``face_px`` wide centred at ``centre``."""
    side = max(8, int(face_px / sprite.face_fraction))
    head = (
        cv2.resize(
            sprite.image, (side, side), interpolation=cv2.INTER_AREA if side < len(sprite.image) else cv2.INTER_LINEAR
        ).astype(np.float32)
        * look.light
    )
    alpha = cv2.resize(sprite.alpha, (side, side))[..., None]
    if look.blur > 0:
        head = np.asarray(cv2.GaussianBlur(head, (0, 0), look.blur), np.float32)
    if look.turn > 0:  # squeeze towards the centre line, keeping the size of the sprite
        narrow = max(4, round(side * (1 - look.turn)))
        pad = (side - narrow) // 2
        squeezed = np.zeros_like(head)
        squeezed[:, pad : pad + narrow] = np.asarray(cv2.resize(head, (narrow, side)), np.float32)
        head = squeezed
        thin = np.zeros_like(alpha)
        thin[:, pad : pad + narrow, 0] = cv2.resize(alpha[..., 0], (narrow, side))
        alpha = thin
    if look.occlude > 0:  # the face spans the middle of the sprite; cover it from its chin up
        chin = 0.5 + sprite.face_fraction * 0.55
        top = int(side * (chin - look.occlude * sprite.face_fraction * 1.1))
        head[top:] = (70.0, 80.0, 150.0)
        alpha[top:] = 1.0
    cx, cy = int(centre[0]), int(centre[1])
    h, w = frame.shape[:2]
    cv2.ellipse(frame, (cx, cy + int(0.95 * side)), (int(0.8 * side), int(0.55 * side)), 0, 180, 360, colour, -1)
    x0, y0 = cx - side // 2, cy - side // 2
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if xa >= xb or ya >= yb:
        return
    region = frame[ya:yb, xa:xb].astype(np.float32)
    part = head[ya - y0 : yb - y0, xa - x0 : xb - x0]
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0]
    frame[ya:yb, xa:xb] = np.clip(region * (1 - a) + part * a, 0, 255).astype(np.uint8)


def scenario_key(truth: dict[str, Any]) -> str:
    """Changes whenever the scenario or the generator changes (not with the expected results or the notes)."""
    drawn = {k: v for k, v in truth.items() if not k.startswith("expected") and k != "about"}
    raw = json.dumps(drawn, sort_keys=True) + GENERATOR_VERSION
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def sprites_for(truth: dict[str, Any], fm: FaceModels) -> dict[tuple[str, int], Sprite]:
    """Head sprites for every (photo, face index) of the scenario; faces are numbered left to right."""
    photos = fetch_photos()
    out: dict[tuple[str, int], Sprite] = {}
    for person in truth["people"]:
        key = (person["photo"], int(person["face"]))
        if key in out:
            continue
        image = load_image(photos[key[0]])
        faces = fm.detector.detect(Frame(image))
        order = np.argsort(faces.boxes[:, 0], kind="stable")
        out[key] = cut_sprite(image, faces.boxes[order[key[1]]])
    return out


def render(truth: dict[str, Any], fm: FaceModels, out: Path, progress: Progress | None = None) -> Path:
    """Write the video (mp4v) to ``out``; ``progress(frames done, frames in all)`` after each frame."""
    video = truth["video"]
    width, height, fps, seconds = video["width"], video["height"], video["fps"], video["seconds"]
    sprites = sprites_for(truth, fm)
    base = background(width, height)
    rng = np.random.default_rng(video["seed"])
    colours: list[tuple[int, int, int]] = []
    for _ in truth["people"]:
        r, g, b = (int(c) for c in rng.integers(30, 220, 3))
        colours.append((r, g, b))
    with replacing(out, suffix=".mp4") as tmp:  # two demos or test workers may render it at once
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"{tmp}: OpenCV cannot write mp4v video")
        line = truth["camera"]["entry_line"]
        frames = int(seconds * fps)
        pool = [_noise_pair(rng, frame_shape=(height, width, 3)) for _ in range(int(video.get("noise_pool", 0)))]
        for i in range(frames):
            if progress is not None:
                progress(i, frames)
            t = i / fps
            frame = base.copy()
            cv2.line(frame, tuple(line["start"]), tuple(line["end"]), (70, 160, 230), 2)
            active = [(p, c) for p, c in zip(truth["people"], colours, strict=True) if p["t0"] <= t <= p["t1"]]
            # farther (smaller) people first, so nearer ones are drawn over them
            active.sort(key=lambda pc: _size(pc[0], t))
            for person, colour in active:
                u = _progress(person, t)
                x = person["from"][0] + u * (person["to"][0] - person["from"][0])
                y = person["from"][1] + u * (person["to"][1] - person["from"][1])
                paste(
                    frame,
                    sprites[(person["photo"], int(person["face"]))],
                    (x, y),
                    _size(person, t),
                    look_at(person, t),
                    colour,
                )
            if pool:  # a long clip: sensor noise drawn once, then cycled (the sample video draws it per frame)
                up, down = pool[i % len(pool)]
                writer.write(cv2.subtract(cv2.add(frame, up), down))
                continue
            noise = rng.normal(0, 3.0, frame.shape).astype(np.float32)
            writer.write(np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8))
        writer.release()
    return out


def _progress(person: dict[str, Any], t: float) -> float:
    """How far along their walk a person is at ``t``: 0 when they appear, 1 when they leave.

    A person with ``stand: [from_s, to_s]`` (seconds since they appear) stops where they are for that while.
    """
    local, walking = t - person["t0"], person["t1"] - person["t0"]
    if "stand" in person:
        start, end = (float(v) for v in person["stand"])
        local = local if local < start else start if local < end else local - (end - start)
        walking -= end - start
    return min(max(local / walking, 0.0), 1.0)


def clear_view_at(person: dict[str, Any]) -> float:
    """The clip time from which a person's face is in clear view: their blur, turn and cover are over."""
    ends = [float(end) for key in ("blur", "turn", "occlude") for _, end, _ in person.get(key, [])]
    return float(person["t0"]) + max(ends, default=0.0)


def _noise_pair(
    rng: np.random.Generator, frame_shape: tuple[int, int, int]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Gaussian noise (sigma 3) split into its positive and negative parts, to add and subtract with saturation."""
    noise = np.rint(rng.normal(0, 3.0, frame_shape))
    return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)


def _size(person: dict[str, Any], t: float) -> float:
    u = _progress(person, t)
    return float(person["size"][0] + u * (person["size"][1] - person["size"][0]))


def sample_video(
    fm: FaceModels, truth_path: Path = TRUTH, cache: Path | None = None, progress: Progress | None = None
) -> Path:
    """The sample video, generated if missing or out of date (in ``cache``, default the user's cache directory)."""
    cache = cache or cache_dir() / "sample_videos"
    truth = load_truth(truth_path)
    key = scenario_key(truth)
    out = cache / f"{Path(truth['video']['file']).stem}-{key}.mp4"
    if out.is_file():
        return out
    with one_at_a_time(cache / ".render.lock"):  # a second demo or test worker waits for the first one's video
        if out.is_file():
            return out
        log.info("generating the sample video %s", out)
        return render(truth, fm, out, progress)
