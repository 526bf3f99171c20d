"""``storelens bench``: performance measured on this machine, written to docs/benchmarks.md.

Part 1 (models): detector milliseconds per 640x640 frame, recogniser milliseconds per face (batched
and one at a time), and in the same run dlib's own ``compute_face_descriptor`` on the same chips
(the baseline our ONNX conversion must beat: goal ratio <= 0.5). Each figure is the median of
``--runs`` repetitions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from storelens.apps.faces import load_face_models, load_person_detector
from storelens.bench import PARTS
from storelens.config import default_config
from storelens.edge.recognise import FaceEmbedder
from storelens.images import load_image
from storelens.manifest import load_manifest, models_dir
from storelens.models.prepare import cache_dir, fetch_origin
from storelens.sample_videos.photos import fetch_photos
from storelens.stage_messages import FaceModels, Frame

log = logging.getLogger(__name__)

START = "<!-- storelens-bench:models:{pack}:start -->"
END = "<!-- storelens-bench:models:{pack}:end -->"
SETS_START = "<!-- storelens-bench:sets:start -->"
SETS_END = "<!-- storelens-bench:sets:end -->"
DEFAULT_PACKS = ("default", "scrfd_dlib")


def session_provider(fm: FaceModels) -> str:
    """The execution provider the recogniser's ONNX Runtime session runs on."""
    embedder = fm.embedder
    return embedder.session.get_providers()[0] if isinstance(embedder, FaceEmbedder) else "?"


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "unknown memory"
    return f"{cpu}, {os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}"


def median_ms(fn: Callable[[], object], runs: int, per: int = 1) -> float:
    """Median over ``runs`` of fn's wall time in milliseconds, divided by ``per`` items."""
    fn()  # warm-up, not counted
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0 / per)
    return statistics.median(times)


def dlib_version() -> str | None:
    """The installed dlib's version, or None."""
    try:
        import dlib  # test/bench-only dependency (dlib-bin)
    except ImportError:
        return None
    return str(dlib.__version__)


def dlib_baseline(chips_rgb: np.ndarray, runs: int) -> float | None:
    """Milliseconds per chip of dlib's compute_face_descriptor; None when dlib is not installed."""
    try:
        import dlib
    except ImportError:
        return None
    spec = load_manifest().get("dlib_resnet_v1")
    if spec.origin is None:
        return None
    dat = fetch_origin(spec.origin, cache_dir())
    net = dlib.face_recognition_model_v1(str(dat))

    def run() -> None:
        for chip in chips_rgb:
            net.compute_face_descriptor(np.ascontiguousarray(chip))

    return median_ms(run, runs, len(chips_rgb))


def measure_models(runs: int, directory: Path, pack: str) -> dict[str, Any]:
    """Part 1: the model layer, for the model set ``pack``."""
    fm = load_face_models(default_config(pack=pack), directory)
    photos = fetch_photos()
    group = load_image(photos["solvay_conference_1927.jpg"])
    frame640 = Frame(np.asarray(cv2.resize(group, (640, 640), interpolation=cv2.INTER_AREA), dtype=np.uint8))
    det_ms = median_ms(lambda: fm.detector.detect(frame640), runs)
    full = Frame(group)
    dets = fm.detector.detect(full)
    from storelens.edge.align import align_faces

    chips = align_faces(full.image, dets.keypoints, fm.recogniser_spec)
    n = len(chips)
    rec_batch_ms = median_ms(lambda: fm.embedder.embed_chips(chips), runs, n)

    def one_by_one() -> None:
        for i in range(n):
            fm.embedder.embed_chips(chips[i : i + 1])

    rec_single_ms = median_ms(one_by_one, runs, n)
    # dlib's network takes its own 150x150 chips of the same faces, whatever the set's recogniser takes.
    dlib_chips = align_faces(full.image, dets.keypoints, load_manifest().get("dlib_resnet_v1"))
    dlib_ms = dlib_baseline(np.ascontiguousarray(dlib_chips[..., ::-1]), max(1, runs // 2))
    engines = measure_engines(fm, directory, frame640, chips, runs)
    return {
        "part": "models",
        "pack": pack,
        "set": f"{fm.detector_spec.name} + {fm.recogniser_spec.name}",
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "runs": runs,
        "onnxruntime": f"{ort.__version__}; the recogniser on {session_provider(fm)}",
        "detector": fm.detector_spec.name,
        "recogniser": fm.recogniser_spec.name,
        "faces": n,
        "detector_ms_per_frame_640": round(det_ms, 2),
        "recogniser_ms_per_face_batched": round(rec_batch_ms, 3),
        "recogniser_ms_per_face_single": round(rec_single_ms, 3),
        "dlib": dlib_version(),
        "dlib_ms_per_face": round(dlib_ms, 3) if dlib_ms is not None else None,
        "ratio_ours_batched_to_dlib": round(rec_batch_ms / dlib_ms, 4) if dlib_ms else None,
        "ratio_ours_single_to_dlib": round(rec_single_ms / dlib_ms, 4) if dlib_ms else None,
        "engines": engines,
    }


def measure_engines(
    fm: FaceModels, directory: Path, frame640: Frame, chips: np.ndarray, runs: int
) -> dict[str, dict[str, Any]]:
    """Each model of the set on ONNX Runtime and on OpenCV DNN, same file, same input, in this run.

    Per model: milliseconds per call on each engine (the detector on a 640x640 frame, the recogniser on one
    face), the largest difference of their outputs, and the engine the manifest names (``cpu_engine``).
    """
    from storelens.config import RuntimeConfig
    from storelens.edge.detect import FaceDetector
    from storelens.errors import ModelError
    from storelens.models.runtime import open_session

    out: dict[str, dict[str, Any]] = {}
    for spec in (fm.detector_spec, fm.recogniser_spec):
        path = directory / spec.file
        row: dict[str, Any] = {"manifest": spec.cpu_engine}
        results = {}
        for engine in ("onnxruntime", "opencv"):
            try:
                session = open_session(path, spec, RuntimeConfig(engine=engine))
            except ModelError as exc:
                row[engine] = f"cannot run it ({str(exc)[:80]})"
                continue
            if spec.task == "detection":
                detector = FaceDetector(session, spec)
                row[engine] = round(median_ms(partial(detector.detect, frame640), runs), 2)
                results[engine] = detector.detect(frame640).boxes
            else:
                embedder = FaceEmbedder(session, spec)
                row[engine] = round(median_ms(partial(embedder.embed_chips, chips[:1]), runs), 2)
                results[engine] = embedder.embed_chips(chips)
        if len(results) == 2 and results["onnxruntime"].shape == results["opencv"].shape:
            row["max_difference"] = float(np.abs(results["onnxruntime"] - results["opencv"]).max(initial=0.0))
        out[spec.name] = row
    return out


def to_markdown(r: dict[str, Any]) -> str:
    """The part-1 section of docs/benchmarks.md."""
    dlib = f"{r['dlib_ms_per_face']:.2f}" if r["dlib_ms_per_face"] is not None else "not measured (dlib not installed)"
    ratio_b = r["ratio_ours_batched_to_dlib"]
    ratio_s = r["ratio_ours_single_to_dlib"]
    lines = [
        START.format(pack=r["pack"]),
        f"## Part 1: face models ({r['pack']}: {r['detector']} + {r['recogniser']})",
        "",
        f"- Machine: {r['machine']}",
        f"- Date: {r['date']}",
        f"- Command: `{r['command']}` (median of {r['runs']} runs after one warm-up; dlib: median of "
        f"{max(1, r['runs'] // 2)})",
        f"- ONNX Runtime: {r['onnxruntime']}; models {r['detector']} and {r['recogniser']}",
        f"- Faces: the {r['faces']} faces of solvay_conference_1927.jpg (registry photo), aligned chips",
        "",
        "| measure | value |",
        "|---|---|",
        f"| detector, ms per 640x640 frame | {r['detector_ms_per_frame_640']:.2f} |",
        f"| recogniser (ours, ONNX), ms per face, batch of {r['faces']} | {r['recogniser_ms_per_face_batched']:.3f} |",
        f"| recogniser (ours, ONNX), ms per face, one at a time | {r['recogniser_ms_per_face_single']:.3f} |",
        f"| baseline: dlib {r['dlib'] or ''} compute_face_descriptor, ms per face, same chips | {dlib} |",
        f"| ratio ours / dlib, batched (goal <= 0.5) | {ratio_b if ratio_b is not None else 'n/a'} |",
        f"| ratio ours / dlib, one at a time (goal <= 0.5) | {ratio_s if ratio_s is not None else 'n/a'} |",
        "",
        "Each model on both engines, the same file and input (detector: ms per 640x640 frame, boxes compared;",
        "recogniser: ms per face one at a time, the unit descriptors of every face compared); `auto` runs each on",
        "the engine its manifest names:",
        "",
        "| model | ONNX Runtime, ms | OpenCV DNN, ms | largest output difference | manifest's engine |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {e.get('onnxruntime')} | {e.get('opencv')} | {_diff(e.get('max_difference'))} "
            f"| {e['manifest']} |"
            for name, e in r.get("engines", {}).items()
        ],
        "",
        "The dlib baseline is the PyPI `dlib-bin` wheel (dlib's own C++ on the CPU, no CUDA), on the same",
        "chips. `dlib_resnet_v1` is that network converted to ONNX by `models/dlib_convert.py` (outputs match",
        "dlib's to a cosine of at least 0.999 on every chip, tests/models/test_dlib_convert.py).",
        END.format(pack=r["pack"]),
    ]
    return "\n".join(lines) + "\n"


def _diff(value: Any) -> str:
    return f"{value:.1e}" if isinstance(value, float) else "n/a"


def sets_markdown(models: dict[str, dict[str, Any]], edge: dict[str, dict[str, Any]]) -> str:
    """The model sets side by side, from results measured in the same run."""
    packs = list(models or edge)

    def row(label: str, goal: str, cell: Callable[[str], str]) -> str:
        return f"| {label} | " + " | ".join(cell(p) for p in packs) + f" | {goal} |"

    def m(p: str, key: str) -> str:
        return str(models[p][key]) if p in models else "not measured"

    def e(p: str, key: str) -> Any:
        return edge[p].get(key) if p in edge else None

    def lat(p: str) -> str:
        value = (e(p, "latency") or {}).get("p95_ms")
        return f"{value:.0f}" if isinstance(value, int | float) else "not measured"

    head = [p + " (" + (models.get(p) or edge.get(p) or {}).get("set", "") + ")" for p in packs]
    lines = [
        SETS_START,
        "## The model sets side by side",
        "",
        "Measured in the same run on the same machine (details per set below).",
        "",
        "| measure | " + " | ".join(head) + " | goal |",
        "|---|" + "---|" * len(packs) + "---|",
        row("detector, ms per 640x640 frame", "", lambda p: m(p, "detector_ms_per_frame_640")),
        row(
            "recogniser, ms per face (batch of 29 / one at a time)",
            "",
            lambda p: f"{m(p, 'recogniser_ms_per_face_batched')} / {m(p, 'recogniser_ms_per_face_single')}",
        ),
        row("edge: analysed fps, one camera", "", lambda p: str(e(p, "analysed_fps") or "not measured")),
        row("edge: 720p cameras sustained at 5 analysed fps", ">= 4", lambda p: str(e(p, "cameras_at_5fps"))),
        row("edge: capture-to-publish latency p95, ms", "<= 300", lat),
        row(
            "edge: embeddings per track, mean / max",
            "",
            lambda p: f"{e(p, 'embeddings_per_track_mean')} / {e(p, 'embeddings_per_track_max')}",
        ),
        row(
            "edge: members announced on the sample video",
            "each once",
            lambda p: ", ".join(e(p, "arrivals") or []) or "none",
        ),
        SETS_END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, start: str, end: str) -> None:
    """Replace (or append) the section between ``start`` and ``end`` markers of a Markdown file."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# StoreLens benchmarks\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmarks and report them."""
    from storelens.bench import api as bench_api
    from storelens.bench import commerce as bench_commerce
    from storelens.bench import counting as bench_counting
    from storelens.bench import degradation as bench_degradation
    from storelens.bench import edge as bench_edge
    from storelens.bench import gallery as bench_gallery
    from storelens.bench import gating as bench_gating
    from storelens.bench import hq as bench_hq
    from storelens.bench import members as bench_members
    from storelens.bench import startup as bench_cli

    directory = models_dir(args.models_dir)
    parts = list(PARTS) if "all" in args.part else list(dict.fromkeys(args.part))
    packs = list(dict.fromkeys(args.pack or DEFAULT_PACKS))
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: list[tuple[str, str, str]] = []
    by_pack: dict[str, dict[str, dict[str, Any]]] = {"models": {}, "edge": {}}
    for pack in packs:
        if "models" in parts:
            step(f"part 1, the models of set {pack}")
            result = measure_models(args.runs, directory, pack)
            by_pack["models"][pack] = result
            emit(args, result)
            sections.append((to_markdown(result), START.format(pack=pack), END.format(pack=pack)))
        if "edge" in parts:
            step(f"part 3, the edge pipeline with set {pack}")
            fm = load_face_models(default_config(pack=pack), directory)
            runs = max(1, min(args.runs, 3))
            people = load_person_detector(default_config(pack=pack), directory)
            result = bench_edge.measure_edge(fm, pack, runs, args.baseline_seconds, args.max_cameras, people)
            by_pack["edge"][pack] = result
            md = bench_edge.edge_markdown(result, machine(), date, command_line())
            emit(args, result, md)
            sections.append((md, bench_edge.START.format(pack=pack), bench_edge.END.format(pack=pack)))
    if "gallery" in parts:
        step("part 2, the gallery")
        fm = load_face_models(default_config(pack=packs[0]), directory)
        result = bench_gallery.measure_gallery(fm, args.runs, args.scales)
        md = bench_gallery.gallery_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_gallery.START, bench_gallery.END))
    if "api" in parts:
        step("part 4, the live push")
        result = bench_api.measure_live(arrivals=args.arrivals)
        md = bench_api.api_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_api.START, bench_api.END))
    if "commerce" in parts:
        step("part 5, imports and the card")
        members, transactions = [*args.commerce_scale, 1_000_000][:2]
        result = bench_commerce.measure_commerce(members, transactions)
        md = bench_commerce.commerce_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_commerce.START, bench_commerce.END))
    if "hq" in parts:
        step("part 6, head office")
        stores, days, members, boxes = args.hq_scale
        result = bench_hq.measure_hq(stores, days, members, boxes, float(args.hq_rate), 10.0)
        md = bench_hq.hq_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_hq.START, bench_hq.END))
    if "cli" in parts:
        step("part 7, command start-up")
        result = bench_cli.measure_cli(args.runs)
        md = bench_cli.cli_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_cli.START, bench_cli.END))
    if "degradation" in parts:
        step("part 8, recognition under poor cameras")
        result = bench_degradation.measure_degradation(directory)
        md = bench_degradation.degradation_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_degradation.START, bench_degradation.END))
    if "gating" in parts:
        step("part 9, motion gating, cameras per box and time to greet")
        result = bench_gating.measure_gating(
            load_face_models(default_config(pack=packs[0]), directory),
            args.max_cameras,
            load_person_detector(default_config(pack=packs[0]), directory),
        )
        md = bench_gating.gating_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_gating.START, bench_gating.END))
    if "counting" in parts:
        step("part 10, people counted on real footage")
        config = default_config(pack=packs[0])
        people = load_person_detector(config, directory)
        result = bench_counting.measure_counting(load_face_models(config, directory), people, config.models.person)
        md = bench_counting.counting_markdown(result, machine(), date, command_line())
        emit(args, result, md)
        sections.append((md, bench_counting.START, bench_counting.END))
    if "members" in parts:
        step("part 11, members at chain scale")
        fm = load_face_models(default_config(pack=packs[0]), directory)
        ident = bench_members.measure_identification(fm)
        imported = bench_members.measure_import(fm, args.import_members)
        md = bench_members.members_markdown(ident, imported, machine(), date, command_line())
        emit(args, {"part": "members", "identification": ident, "import": imported}, md)
        sections.append((md, bench_members.START, bench_members.END))
    if "chain-year" in parts:
        step("part 12, a year of chain rows at chain scale")
        from storelens.bench import chain_year

        year = chain_year.measure(args.year_stores)
        md = chain_year.chain_year_markdown(year, machine(), date, command_line())
        emit(args, {"part": "chain-year", **year}, md)
        sections.append((md, chain_year.START, chain_year.END))
    if len(packs) > 1 and (by_pack["models"] or by_pack["edge"]):
        md = sets_markdown(by_pack["models"], by_pack["edge"])
        if not args.json:
            sys.stdout.write(md)
        sections.insert(0, (md, SETS_START, SETS_END))
    if args.write:
        for md, start, end in sections:
            write_section(Path(args.write), md, start, end)
        log.info("wrote %s", args.write)
    return 0


def step(what: str) -> None:
    """One line on stderr as each part begins: a run takes minutes, and says where it is."""
    sys.stderr.write(f"storelens: bench: {what}\n")
    sys.stderr.flush()


def command_line() -> str:
    """The command as typed, for the report."""
    return "storelens " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "storelens bench"


def emit(args: argparse.Namespace, result: dict[str, Any], markdown: str | None = None) -> None:
    """A result as a JSON line (``--json``) or as Markdown."""
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        sys.stdout.write(markdown if markdown is not None else to_markdown(result))
