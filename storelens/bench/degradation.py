"""``storelens bench --part degradation``: recognition on real registry faces degraded as poor cameras degrade them.

Not a speed figure: the accuracy figures of ``storelens calibrate degradation`` on the registry set, with the
dark-frame lift on and off in the same run, written into docs/benchmarks.md (part 8) so that the figures the
manual quotes come from one command.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

START = "<!-- storelens-bench:degradation:start -->"
END = "<!-- storelens-bench:degradation:end -->"


def measure_degradation(directory: Path | None) -> dict[str, Any]:
    """Both runs (lift on, lift off) of the measure on the registry set, as plain data."""
    from storelens.apps.faces import load_face_models
    from storelens.calibration.degradation import measure
    from storelens.config import default_config
    from storelens.exposure import DarkFrameLift
    from storelens.face_path import FacePath
    from storelens.gallery.factory import match_policy
    from storelens.sample_videos.photos import build_labelled_set
    from storelens.stage_messages import Frame

    config = default_config()
    fm = load_face_models(config, directory)
    threshold = match_policy(config, fm.recogniser_spec).threshold
    with tempfile.TemporaryDirectory() as tmp:
        labelled = Path(tmp) / "set"
        build_labelled_set(labelled, lambda image: fm.detector.detect(Frame(image)).boxes)
        runs = {
            name: measure(labelled, FacePath(fm, DarkFrameLift(below)), threshold)
            for name, below in (("lift", config.detection.lift_dark_below), ("no lift", 0.0))
        }
    lifted = runs["lift"]
    return {
        "part": "degradation",
        "people": lifted.people,
        "photos": lifted.photos,
        "threshold": threshold,
        "lift_dark_below": config.detection.lift_dark_below,
        "mild_rate": lifted.mild_rate(),
        "mild_rate_of_clean": lifted.mild_rate_of_clean(),
        "rows": [
            {
                "name": r.name,
                "hard": r.hard,
                "genuine": [r.genuine_accepted, r.genuine_pairs],
                "genuine_of_clean": r.genuine_accepted_of_clean,
                "impostor": [r.impostor_accepted, r.impostor_pairs],
                "impostor_max": r.impostor_max,
                "not_found": r.not_found,
                "refused": r.refused,
                "face_px": r.face_px,
                "genuine_without_lift": off.genuine_accepted,
                "impostor_without_lift": off.impostor_accepted,
            }
            for r, off in zip(lifted.rows, runs["no lift"].rows, strict=True)
        ],
    }


def degradation_markdown(r: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-8 section of docs/benchmarks.md."""
    clean = r["rows"][0]["genuine"][0]
    lines = [
        START,
        "## Part 8: recognition under poor cameras (real registry faces, degraded)",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        f"- Set: the registry's labelled photos (`calibrate registry-set`): **{r['people']} people, {r['photos']} "
        f"photos**; each photo enrolled clean and tried degraded against every other: "
        f"{r['rows'][0]['genuine'][1]} ordered same-person pairs (8 unordered: Obama x4, Macron x2, Ardern x2) "
        f"and {r['rows'][0]['impostor'][1]:,} ordered different-person pairs per degradation.",
        f"- Default models (YuNet + SFace), match threshold {r['threshold']:.3f}, dark-frame lift below a mean grey "
        f"level of {r['lift_dark_below']:g}; without the lift in the same run.",
        "",
        "| degradation | kind | same person accepted | of those accepted clean | strangers accepted | highest stranger "
        "| no face found | refused by the gate | median face px | same person, no lift | strangers, no lift |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        g, i = row["genuine"], row["impostor"]
        kind = "baseline" if row["name"] == "clean" else ("hard" if row["hard"] else "mild")
        lines.append(
            f"| {row['name']} | {kind} | {g[0]}/{g[1]} ({g[0] / g[1]:.0%}) | {row['genuine_of_clean']}/{clean} "
            f"| **{i[0]}**/{i[1]:,} | {row['impostor_max']:.3f} | {row['not_found']} | {row['refused']} "
            f"| {row['face_px']:.0f} | {row['genuine_without_lift']}/{g[1]} | {row['impostor_without_lift']} |"
        )
    lines += [
        "",
        f"Mild degradations: {r['mild_rate']:.1%} of same-person pairs accepted on average; "
        f"{r['mild_rate_of_clean']:.1%} of the pairs accepted undegraded stay accepted. The undegraded set "
        f"itself accepts {clean} of {r['rows'][0]['genuine'][1]}: Macron 2014 against 2025, the lowest same-person "
        "pair, lies at the threshold, and under it in most degradations. 16 same-person pairs are far too few for a "
        "rate finer than about one in six; the stranger counts rest on over two thousand pairs each.",
        END,
        "",
    ]
    return "\n".join(lines)
