"""``storelens calibrate camera``: what the box sees, for the installer mounting the camera.

A frame from the camera (RTSP or file) with the region of interest, the entry line and its entering
direction, and every face with its width in pixels and whether it passes the minimum; plus a short
verdict on whether faces are large enough where people cross the line. Then a survey of the faces the
camera shows over a stretch of video (:func:`survey`): their width, brightness, sharpness, pose and
compression, the share the recogniser's quality gate would take, and one line saying whether recognition
will work at this camera and, when not, what to change. On a camera that counts, the people the person
detector finds are drawn too (``calibration/counting.py`` says whether the camera is placed to count).
A camera that does not recognise (its role, or the privacy rules) is never asked for faces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from storelens.config import CameraConfig, EdgeConfig
from storelens.edge.capture import is_live, open_capture
from storelens.edge.track import roi_filter
from storelens.errors import CaptureError, StoreLensError
from storelens.exposure import face_exposure, signal_to_noise
from storelens.face_path import FacePath
from storelens.faces import measure_face
from storelens.i18n import Translator
from storelens.stage_messages import Detections, FaceModels, Frame, People, PersonFinder

GREEN, RED, BLUE, YELLOW, WHITE = (60, 200, 60), (40, 40, 230), (230, 160, 40), (0, 220, 255), (240, 240, 240)
START = datetime(2000, 1, 1, tzinfo=UTC)  # frames are stamped from here by their position in the stream
NEAR_LINE_PX = 150


@dataclass(frozen=True)
class CameraCheck:
    """The outcome of a camera check.

    Attributes:
        frame_size: (width, height) of the camera's frames.
        faces: widths in pixels of the faces found, (N,).
        near_line: widths of the faces whose centre is within 150 px of the entry line.
        min_face_px: the minimum in force for this camera.
        verdict: one line for the installer.
        ok: whether the camera is usable as mounted.
    """

    frame_size: tuple[int, int]
    faces: list[float]
    near_line: list[float]
    min_face_px: int
    verdict: str
    ok: bool


def looks(camera: CameraConfig, at_seconds: float, seconds: float, per_second: float = 2.0) -> Iterator[Frame]:
    """``per_second`` frames a second of ``seconds`` of video, from ``at_seconds`` (files) or from now (live).

    Raises:
        CaptureError: the camera cannot be opened.
    """
    cap = open_capture(camera.source)
    if not cap.isOpened():
        raise CaptureError(f"camera {camera.id}: cannot open {camera.source}")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if not is_live(camera.source) and at_seconds > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, at_seconds * 1000)
        deadline = time.monotonic() + seconds + 10
        step = max(1, round(fps / per_second))
        for i in range(max(1, int(seconds * fps))):
            ok, image = cap.read()
            if not ok or image is None or time.monotonic() > deadline:
                break
            if i % step == 0:
                yield Frame(np.ascontiguousarray(image), camera.id, i, START + timedelta(seconds=i / fps))
    finally:
        cap.release()


def grab(
    camera: CameraConfig,
    detect: FaceModels | None,
    at_seconds: float,
    search_seconds: float = 10.0,
    people: PersonFinder | None = None,
) -> tuple[Frame, Detections, People]:
    """The frame with the most faces and people in ``search_seconds`` from ``at_seconds`` (files) or from now (live).

    Args:
        camera: the camera.
        detect: the face detector; None on a camera that looks for no face.
        at_seconds: files only, where to start.
        search_seconds: how long to look.
        people: the person detector on a camera that counts, else None.

    Raises:
        CaptureError: the camera cannot be opened or gives no frame.
    """
    best: tuple[Frame, Detections, People] | None = None
    for frame in looks(camera, at_seconds, search_seconds):
        faces = detect.detector.detect(frame) if detect is not None else Detections.empty()
        bodies = people.detect(frame) if people is not None else People.empty()
        if best is None or len(faces) + len(bodies) > len(best[1]) + len(best[2]):
            best = (frame, faces, bodies)
    if best is None:
        raise CaptureError(f"camera {camera.id}: no frame from {camera.source}")
    return best


def _line_distance(
    points: NDArray[np.floating], start: tuple[float, float], end: tuple[float, float]
) -> NDArray[np.float32]:
    p, a, b = points.astype(np.float64), np.array(start, np.float64), np.array(end, np.float64)
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1).astype(np.float32)


def check(
    camera: CameraConfig,
    frame: Frame,
    faces: Detections,
    min_face_px: int,
    tr: Translator | None = None,
    find_faces: bool = True,
) -> CameraCheck:
    """Judge one frame: are faces large enough where people cross the line? The verdict in ``tr``'s language.

    A camera that looks for no face (``find_faces`` False) is judged by counting alone (``calibration/counting.py``).
    """
    tr = tr or Translator()
    widths = [float(w) for w in faces.widths]
    w, h = frame.size
    if not find_faces:
        return CameraCheck((w, h), [], [], min_face_px, tr.gettext("no face is looked for at this camera"), True)
    near: list[float] = []
    if camera.entry_line is not None and len(faces):
        centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
        dist = _line_distance(centres, camera.entry_line.start, camera.entry_line.end)
        near = [widths[i] for i in range(len(widths)) if dist[i] <= NEAR_LINE_PX]
    if not widths:
        return CameraCheck(
            (w, h),
            [],
            [],
            min_face_px,
            tr.gettext("NO FACE SEEN: ask someone to walk through the entrance while this runs, then check again"),
            False,
        )
    judged = near if camera.entry_line is not None else widths
    if camera.entry_line is not None and not near:
        verdict = tr.gettext(
            "NO FACE NEAR THE LINE: {n} face(s) seen, none within {px} px of the entry line; move the line to "
            "where people walk, or re-aim the camera",
            n=len(widths),
            px=NEAR_LINE_PX,
        )
        return CameraCheck((w, h), widths, near, min_face_px, verdict, False)
    small = [x for x in judged if x < min_face_px]
    where = tr.gettext("at the entry line") if camera.entry_line is not None else tr.gettext("in view")
    if small:
        verdict = tr.gettext(
            "TOO SMALL: {n} of {of} face(s) {where} are under {px} px wide (smallest {smallest} px); zoom in or "
            "mount the camera closer",
            n=len(small),
            of=len(judged),
            where=where,
            px=min_face_px,
            smallest=round(min(small)),
        )
        return CameraCheck((w, h), widths, near, min_face_px, verdict, False)
    verdict = tr.gettext(
        "OK: faces {where} are {low}-{high} px wide (minimum {px} px) in a {size} frame",
        where=where,
        low=round(min(judged)),
        high=round(max(judged)),
        px=min_face_px,
        size="x".join(map(str, (w, h))),
    )
    return CameraCheck((w, h), widths, near, min_face_px, verdict, True)


def gating_note(edge: EdgeConfig, tr: Translator | None = None) -> str:
    """One line on when the detector runs at this camera (``edge.motion_gating`` and its settings)."""
    tr = tr or Translator()
    if not edge.motion_gating:
        return tr.gettext("motion gating off: the detectors run on every analysed frame")
    return tr.gettext(
        "motion gating on: the detectors run when {share} of the region of interest changes, while someone "
        "is tracked, and at least every {seconds} s",
        share=tr.percent(edge.motion_min_share, 1),
        seconds=tr.number(edge.full_detection_seconds),
    )


def _put_text(
    img: NDArray[np.uint8], text: str, origin: tuple[int, int], scale: float, colour: Any, thick: int
) -> None:
    """Draw ``text`` at ``origin`` (its baseline's left end), in place.

    OpenCV's Hershey font for ASCII; Pillow with WenQuanYi Micro Hei (fonts-wqy-microhei) for anything else,
    since Hershey fonts draw ASCII only.
    """
    if text.isascii():
        cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick)
        return
    from PIL import Image, ImageDraw

    size = max(10, int(32 * scale))
    font = _wide_font(size)
    canvas = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    ImageDraw.Draw(canvas).text((origin[0], origin[1] - size), text, font=font, fill=tuple(reversed(colour)))
    img[:] = cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)


@cache
def _wide_font(size: int) -> Any:
    """A font with Latin and CJK glyphs at ``size`` px (Pillow's own default where none is installed)."""
    from PIL import ImageFont

    for path in WIDE_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


WIDE_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def draw(
    camera: CameraConfig,
    frame: Frame,
    faces: Detections,
    result: CameraCheck,
    note: str = "",
    tr: Translator | None = None,
    people: People | None = None,
) -> NDArray[np.uint8]:
    """The frame with the ROI, the entry line and its direction, each person, each face and its width, and ``note``.

    Returns:
        (h, w, 3) uint8 BGR image, its words in ``tr``'s language.
    """
    tr = tr or Translator()
    img = np.ascontiguousarray(frame.image.copy())
    if note:  # a banner at the top: what the detector looks at (motion gating)
        cv2.rectangle(img, (0, 0), (img.shape[1], 30), (0, 0, 0), -1)
        _put_text(img, note[:150], (10, 21), 0.55, BLUE, 1)
    if camera.roi is not None:
        cv2.polylines(img, [np.asarray(camera.roi, np.int32).reshape(-1, 1, 2)], True, BLUE, 2)
        corner = (int(camera.roi[0][0]), int(camera.roi[0][1]))
        _put_text(img, tr.gettext("region of interest"), corner, 0.6, BLUE, 2)
    if camera.entry_line is not None:
        line = camera.entry_line
        a, b = np.array(line.start, float), np.array(line.end, float)
        cv2.line(img, tuple(a.astype(int)), tuple(b.astype(int)), YELLOW, 3)
        mid = (a + b) / 2
        normal = np.array([-(b - a)[1], (b - a)[0]])
        normal /= max(float(np.linalg.norm(normal)), 1e-9)
        if line.inside_side() < 0:  # the arrow points to the store side
            normal = -normal
        tip = mid + 80 * normal
        cv2.arrowedLine(img, tuple(mid.astype(int)), tuple(tip.astype(int)), YELLOW, 3, tipLength=0.3)
        _put_text(img, tr.gettext("entering"), (int(tip[0] + 10), int(tip[1] + 10)), 0.7, YELLOW, 2)
    for box, score in zip((people or People.empty()).boxes, (people or People.empty()).scores, strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), WHITE, 2)
        _put_text(img, tr.gettext("person {score}", score=tr.percent(float(score))), (x1 + 4, y2 - 8), 0.5, WHITE, 1)
    for box, width in zip(faces.boxes, result.faces, strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        colour = GREEN if width >= result.min_face_px else RED
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
        fits = tr.gettext("ok") if width >= result.min_face_px else tr.gettext("too small")
        _put_text(img, f"{round(width)}px {fits}", (x1, max(y1 - 8, 14)), 0.6, colour, 2)
    cv2.rectangle(img, (0, img.shape[0] - 34), (img.shape[1], img.shape[0]), (0, 0, 0), -1)
    _put_text(img, result.verdict[:150], (10, img.shape[0] - 10), 0.6, GREEN if result.ok else RED, 2)
    return np.asarray(img, dtype=np.uint8)


def snapshot(
    camera: CameraConfig,
    fm: FaceModels | None,
    min_face_px: int,
    out: Path,
    at_seconds: float = 0.0,
    note: str = "",
    tr: Translator | None = None,
    people: PersonFinder | None = None,
) -> CameraCheck:
    """Grab, judge, draw and write ``out`` (PNG), with ``note`` as a banner.

    The geometry is checked against the real frame size. ``fm`` None: the camera looks for no face (its
    role, or the privacy rules); ``people``: the person detector of a camera that counts.

    Raises:
        StoreLensError: the camera gives no frame, its geometry lies outside the frame, or ``out`` is unwritable.
    """
    frame, faces, bodies = grab(camera, fm, at_seconds, people=people)
    w, h = frame.size
    CameraConfig.model_validate(camera.model_dump() | {"frame_size": (w, h)})  # refuses geometry off the frame
    result = check(camera, frame, faces, min_face_px, tr, find_faces=fm is not None)
    if not cv2.imwrite(str(out), draw(camera, frame, faces, result, note, tr, bodies)):
        raise StoreLensError(f"{out}: cannot write the snapshot (PNG)")
    return result


DARK_FACE = 50.0  # mean grey level of faces (as the camera delivers them) under which they are dark: advice
BLACK_FACE = 32.0  # ... under an eighth of the range: nearly black, whatever the lift does: recognition will not work
MIN_SNR = 3.0  # faces' contrast over noise at the recogniser's size (exposure.signal_to_noise) needed to work
BACKLIT_RATIO = 0.6  # faces darker than this share of the frame's brightness, in a bright frame, are backlit
BACKLIT_FRAME = 100.0  # ... a frame this bright or brighter
SHARP_FACE = 60.0  # Laplacian variance of a 64x64 grey face under which faces are blurred
BLOCKY = 1.6  # 8x8 block edges this much stronger than the rest: the stream is compressed too hard
WORKS_SHARE = 0.5  # recognition works when at least this share of the faces seen pass the quality gate


@dataclass(frozen=True)
class FaceSurvey:
    """The faces a camera showed over a stretch of video, as the recogniser would judge them.

    Attributes:
        frames: frames looked at (two a second).
        faces: faces seen inside the region of interest.
        passing: faces that pass the quality gate (wide enough, and quality at least the minimum).
        width_px: median face width, in pixels.
        brightness: median face brightness as the camera delivers it (before any dark-frame lift), 0-255.
        snr: median contrast over noise of the faces as delivered, at the recogniser's size.
        scene_brightness: median frame brightness, 0-255.
        sharpness: median Laplacian variance of the faces at 64x64.
        yaw: median absolute yaw (nose offset from the eye midpoint, in eye distances).
        blockiness: median compression blockiness of the faces (1: none).
        works: whether recognition will work at this camera.
        verdict: one line: whether it will, and what to change.
    """

    frames: int
    faces: int
    passing: int
    width_px: float
    brightness: float
    snr: float
    scene_brightness: float
    sharpness: float
    yaw: float
    blockiness: float
    works: bool
    verdict: str

    @property
    def share(self) -> float:
        """Share of the faces seen that pass the quality gate."""
        return self.passing / self.faces if self.faces else 0.0


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0


def survey(
    camera: CameraConfig,
    path: FacePath,
    min_embed_px: int,
    min_quality: float,
    seconds: float,
    at_seconds: float = 0.0,
) -> FaceSurvey:
    """Look at ``seconds`` of the camera, two frames a second, and judge every face in the region of interest.

    Args:
        camera: the camera (its source and region of interest).
        path: the face path with the dark-frame lift in force, applied as the pipeline applies it (the recogniser
            is not run: the gate decides before it would be).
        min_embed_px: ``edge.min_embed_face_px``.
        min_quality: ``edge.min_face_quality``.
        seconds: how long to look.
        at_seconds: files only, where to start.

    Raises:
        CaptureError: the camera cannot be opened or gives no frame.
    """
    widths: list[float] = []
    bright: list[float] = []
    sharp: list[float] = []
    yaws: list[float] = []
    blocks: list[float] = []
    scene: list[float] = []
    snrs: list[float] = []
    passing = frames = 0
    for raw in looks(camera, at_seconds, seconds):
        frames += 1
        shown = path.prepare(raw)
        scene.append(path.lift.last_brightness or 0.0)  # the lift measured the frame as delivered
        faces = path.detect(shown)
        faces = faces.select(roi_filter(faces.boxes, camera.roi))
        for row, (box, score, kps) in enumerate(zip(faces.boxes, faces.scores, faces.keypoints, strict=True)):
            x1, y1, x2, y2 = (int(v) for v in box)
            as_delivered = face_exposure(raw.image, box)
            snrs.append(signal_to_noise(raw.image[max(y1, 0) : max(y2, 1), max(x1, 0) : max(x2, 1)]))
            crop = shown.image[max(y1, 0) : max(y2, 1), max(x1, 0) : max(x2, 1)]
            patch = np.asarray(cv2.resize(crop, (64, 64)), np.uint8) if crop.size else crop
            measures = measure_face(patch, box, float(score), kps)  # as face_quality measures it
            sharp.append(measures.sharpness)
            yaws.append(abs(measures.yaw))
            widths.append(float(x2 - x1))
            bright.append(as_delivered.brightness)
            blocks.append(as_delivered.blockiness)
            quality = path.quality_of(shown, faces, row)
            passing += int(quality >= min_quality and x2 - x1 >= min_embed_px)
    if frames == 0:
        raise CaptureError(f"camera {camera.id}: no frame from {camera.source}")
    found = FaceSurvey(
        frames,
        len(widths),
        passing,
        _median(widths),
        _median(bright),
        _median(snrs),
        _median(scene),
        _median(sharp),
        _median(yaws),
        _median(blocks),
        False,
        "",
    )
    works, verdict = recognition_verdict(found, min_embed_px)
    return replace(found, works=works, verdict=verdict)


def recognition_verdict(s: FaceSurvey, min_embed_px: int) -> tuple[bool, str]:
    """Whether recognition will work, and what to change, from a survey's medians.

    Returns:
        (works, one line for the installer).
    """
    if s.faces == 0:
        return False, (
            f"NO FACE SEEN in {s.frames} frames: recognition cannot be judged; ask someone to walk in while this runs"
        )
    blocking: list[str] = []  # any of these: recognition will not work, whatever share passes the gate
    causes: list[str] = []
    backlit = s.scene_brightness >= BACKLIT_FRAME and s.brightness < BACKLIT_RATIO * s.scene_brightness
    poor_light = s.brightness < BLACK_FACE or s.snr < MIN_SNR
    if backlit:
        (blocking if poor_light else causes).append(
            f"backlit (faces at {s.brightness:.0f}, the scene at {s.scene_brightness:.0f} of 255; faces' contrast "
            f"{s.snr:.1f} times their noise): turn on wide dynamic range (WDR) or backlight compensation, or aim "
            "away from the street's light"
        )
    elif s.brightness < DARK_FACE or poor_light:
        (blocking if poor_light else causes).append(
            f"too dark (faces at {s.brightness:.0f} of 255, their contrast {s.snr:.1f} times their noise): light the "
            "entrance, or raise the camera's exposure or turn on its night mode"
        )
    if s.width_px < min_embed_px:
        blocking.append(
            f"faces too small ({s.width_px:.0f} px, {min_embed_px} needed): a longer lens, or mount the camera "
            "lower and closer to where people walk in"
        )
    if s.sharpness < SHARP_FACE:
        causes.append("faces blurred: focus the lens, or shorten the exposure time against motion blur")
    if s.blockiness >= BLOCKY:
        causes.append("faces broken into compression blocks: raise the stream's bitrate or quality")
    share = f"{s.passing} of {s.faces} faces ({s.share:.0%}) pass the size, sharpness and pose gate"
    if s.share >= WORKS_SHARE and not blocking:
        advice = f"; could be better: {causes[0]}" if causes else ""
        return True, f"RECOGNITION WILL WORK: {share}{advice}"
    why = "; ".join(blocking + causes) or "faces turned away or low-confidence: aim the camera at people's faces"
    return False, f"RECOGNITION WILL NOT WORK: {share}; {why}"
