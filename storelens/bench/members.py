"""Benchmark part 11: members at chain scale.

Two measures, one command (``storelens bench --part members``):

- **Identification on real photos.** The registry's labelled photos (``sample_videos.photos``) go through the
  one face path; a real gallery (FAISS, the default threshold and margin) enrols one or two photos of each
  person with several, and one photo of every other person in turn, alternately enrolled as a distractor
  or kept out as a stranger. Every other photo of an enrolled person is asked; every stranger is asked. The
  table says how many people and photos each figure rests on, with and without the mirrored face averaged in.
- **Bulk import.** ``storelens gallery import`` of a synthetic manifest (registry portraits reused under
  different member ids; ``--allow-lookalikes``, since they are the same faces) as a store installer runs it:
  members a second end to end, peak memory; then the same import killed with SIGKILL halfway and run again,
  and the gallery checked: every member exactly once, the index and the database agreeing.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from storelens.config import Config, GalleryConfig, default_config
from storelens.exposure import DarkFrameLift
from storelens.face_path import FacePath, choose_subject, subject_rule
from storelens.gallery.factory import open_gallery
from storelens.gallery.gallery import NewVector
from storelens.gallery.records import Consent, MemberInfo
from storelens.images import load_image
from storelens.sample_videos.photos import build_labelled_set, fetch_photos
from storelens.stage_messages import Embeddings, FaceModels, Frame

START = "<!-- storelens-bench:members:start -->"
END = "<!-- storelens-bench:members:end -->"
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "person_a_2.jpg", "person_b_1.jpg")


def _embed_set(path: FacePath, config: Config, labelled: Path) -> dict[str, list[np.ndarray]]:
    """Each person's photo embeddings (the subject of each photo), by person."""
    rule = subject_rule(config.enrolment)
    out: dict[str, list[np.ndarray]] = {}
    for person in sorted(p for p in labelled.iterdir() if p.is_dir()):
        for photo in sorted(person.iterdir()):
            found = path.find(Frame(load_image(photo)))
            row = choose_subject(found.faces, found.frame.size, rule)
            if row is None or found.quality[row] <= 0:
                continue
            out.setdefault(person.name, []).append(
                path.embed(found.frame, found.faces.select(np.array([row]))).vectors[0]
            )
    return out


def identification(vectors: dict[str, list[np.ndarray]], config: Config, fm: FaceModels, enrol: int) -> dict[str, Any]:
    """Rank-1 identification and false identification with ``enrol`` photos per person of several.

    Args:
        vectors: each person's photo embeddings (D,).
        config: the defaults (threshold and margin from the manifest).
        fm: the models (the recogniser's spec names the gallery's model).
        enrol: photos enrolled per person who has more than ``enrol``.
    """
    several = {p: v for p, v in vectors.items() if len(v) > enrol}
    singles = sorted(p for p, v in vectors.items() if len(v) <= enrol)
    distractors, strangers = singles[::2], singles[1::2]
    cfg = config.model_copy(update={"gallery": GalleryConfig(refresh_seconds=0)})
    with tempfile.TemporaryDirectory() as tmp:
        gallery = open_gallery(cfg, fm.recogniser_spec, Path(tmp))
        consent = Consent(reference="BENCH", notice_version="1", purpose="bench")
        batch = [
            (
                MemberInfo(member_id=p),
                consent,
                [NewVector(v, f"{p}-{i}", Path(f"{p}-{i}.jpg")) for i, v in enumerate(vs)],
            )
            for p, vs in [(p, v[:enrol]) for p, v in several.items()] + [(p, vectors[p][:1]) for p in distractors]
        ]
        gallery.enroll_many(batch, report=False)
        probes = [(p, v) for p, vs in several.items() for v in vs[enrol:]]
        named = gallery.match(Embeddings(np.stack([v for _, v in probes]), gallery.model)).member_ids
        right = sum(n == p for (p, _), n in zip(probes, named, strict=True))
        wrong = sum(n is not None and n != p for (p, _), n in zip(probes, named, strict=True))
        stranger_vecs = [vectors[p][0] for p in strangers]
        false = 0
        if stranger_vecs:
            false = sum(
                n is not None for n in gallery.match(Embeddings(np.stack(stranger_vecs), gallery.model)).member_ids
            )
        threshold = gallery.policy.threshold
        gallery.close()
    return {
        "enrol_photos": enrol,
        "enrolled_people": len(several) + len(distractors),
        "people_asked": len(several),
        "photos_asked": len(probes),
        "named_right": right,
        "named_wrong": wrong,
        "strangers": len(strangers),
        "strangers_named": false,
        "threshold": threshold,
    }


def pair_spread(vectors: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """The lowest same-person and the highest different-person similarity over every pair of photos, and counts."""
    labels = [p for p, vs in vectors.items() for _ in vs]
    sims = np.stack([v for vs in vectors.values() for v in vs]) @ np.stack([v for vs in vectors.values() for v in vs]).T
    same = np.equal.outer(np.array(labels), np.array(labels))
    upper = np.triu(np.ones_like(same), k=1).astype(bool)
    genuine, impostor = sims[same & upper], sims[~same & upper]
    return {
        "genuine_pairs": int(genuine.size),
        "impostor_pairs": int(impostor.size),
        "lowest_genuine": round(float(genuine.min()), 3) if genuine.size else None,
        "highest_impostor": round(float(impostor.max()), 3) if impostor.size else None,
    }


def measure_identification(fm: FaceModels) -> dict[str, Any]:
    """Both protocols (one and two enrolment photos), with and without the mirrored face averaged in."""
    config = default_config()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        labelled = Path(tmp) / "set"
        build_labelled_set(labelled, lambda image: fm.detector.detect(Frame(image)).boxes)
        for mirror in (False, True):
            spec = fm.recogniser_spec.model_copy(update={"mirror_average": mirror})
            path = FacePath(replace(fm, recogniser_spec=spec), DarkFrameLift(config.detection.lift_dark_below))
            vectors = _embed_set(path, config, labelled)
            spread = pair_spread(vectors)
            for enrol in (1, 2):
                rows.append({"mirror": mirror, **spread, **identification(vectors, config, fm, enrol)})
        people = len(vectors)
        photos = sum(len(v) for v in vectors.values())
    return {"people": people, "photos": photos, "rows": rows}


def write_manifest(folder: Path, members: int) -> Path:
    """A JSON Lines manifest of ``members`` synthetic members, each with one registry portrait (reused)."""
    photos = fetch_photos()
    folder.mkdir(parents=True, exist_ok=True)
    for name in PORTRAITS:
        (folder / name).write_bytes(photos[name].read_bytes())
    path = folder / "members.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(members):
            row = {
                "member_id": f"M{i:06d}",
                "name": f"Member {i}",
                "consent_reference": f"CRM-{i:06d}",
                "photos": [PORTRAITS[i % len(PORTRAITS)]],
            }
            fh.write(json.dumps(row) + "\n")
    return path


def _import_command(manifest: Path, gallery: Path) -> list[str]:
    storelens = str(Path(sys.executable).with_name("storelens"))
    return [storelens, "gallery", "import", str(manifest), "--gallery", str(gallery), "--allow-lookalikes", "--json"]


def _peak_rss_mib() -> float:
    """The largest finished child's peak resident memory (``ru_maxrss`` of children, KiB), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def measure_import(fm: FaceModels, members: int) -> dict[str, Any]:
    """One clean import of ``members`` timed, then one killed halfway and resumed, checked."""
    from storelens.gallery.gallery import INDEX_NAME
    from storelens.gallery.index import VectorIndex

    config = default_config()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_manifest(Path(tmp) / "crm", members)
        t0 = time.perf_counter()
        done = subprocess.run(_import_command(manifest, Path(tmp) / "g1"), capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        rss = _peak_rss_mib()
        statuses = [json.loads(line)["status"] for line in done.stdout.splitlines() if line.startswith("{")]
        # Killed halfway: SIGKILL once half the verdicts are out, then run again.
        g2 = Path(tmp) / "g2"
        with subprocess.Popen(
            _import_command(manifest, g2), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        ) as proc:
            seen = 0
            for _ in proc.stdout or ():
                seen += 1
                if seen >= members // 2:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            proc.wait()
        again = subprocess.run(_import_command(manifest, g2), capture_output=True, text=True, check=False)
        second = [json.loads(line)["status"] for line in again.stdout.splitlines() if line.startswith("{")]
        gallery = open_gallery(config, fm.recogniser_spec, g2)
        listed = gallery.members()
        _, saved_generation = VectorIndex.load(g2 / INDEX_NAME, gallery.dim, config.gallery.ivf_nprobe)
        after = {
            "members_after": len(listed),
            "vectors_after": sum(m.vectors for m in listed),
            "index_vectors": len(gallery),
            "index_current": saved_generation == gallery.templates.generation(),
        }
        gallery.close()
    return {
        "members": members,
        "seconds": round(seconds, 1),
        "per_second": round(members / seconds, 1),
        "peak_rss_mib": round(rss, 0),
        "enrolled": statuses.count("enrolled"),
        "refused": statuses.count("refused"),
        "killed_after": seen,
        "resumed_enrolled": second.count("enrolled"),
        "resumed_skipped": second.count("skipped"),
        **after,
    }


def members_markdown(ident: dict[str, Any], imp: dict[str, Any], machine: str, date: str, command: str) -> str:
    """The part-11 section of docs/benchmarks.md."""
    lines = [
        START,
        "## Part 11: members at chain scale",
        "",
        f"- Machine: {machine}",
        f"- Date: {date}",
        f"- Command: `{command}`",
        "",
        "### Identification on real photos (the registry's labelled set)",
        "",
        f"{ident['people']} people, {ident['photos']} usable photos, through the one face path; a real gallery at the "
        "default threshold and margin. People with more photos than are enrolled are asked with each other photo; "
        "people with one photo are alternately enrolled (distractors) and kept out (strangers, asked once). The last "
        f"two columns are over every pair of photos: {ident['rows'][0]['genuine_pairs']} same-person and "
        f"{ident['rows'][0]['impostor_pairs']:,} different-person pairs; the match threshold is "
        f"{ident['rows'][0]['threshold']:.3f}. A set of this size says little: no registry package we found holds "
        "100 people with 3 photos each (docs/benchmarks.md, where we looked).",
        "",
        "| mirrored face averaged in | enrolment photos | people enrolled | photos asked (people) | named right "
        "| named wrong | strangers named | lowest same-person pair | highest different-person pair |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ident["rows"]:
        asked = r["photos_asked"]
        lines.append(
            f"| {'yes' if r['mirror'] else 'no'} | {r['enrol_photos']} | {r['enrolled_people']} "
            f"| {asked} ({r['people_asked']}) | {r['named_right']}/{asked} ({r['named_right'] / max(asked, 1):.0%}) "
            f"| {r['named_wrong']} | {r['strangers_named']}/{r['strangers']} | {r['lowest_genuine']} "
            f"| {r['highest_impostor']} |"
        )
    lines += [
        "",
        "### Bulk import (`storelens gallery import`)",
        "",
        f"- {imp['members']:,} members (one registry portrait each, six portraits reused under different ids), "
        f"JSON Lines manifest, `--allow-lookalikes`.",
        f"- **{imp['per_second']} members a second** end to end ({imp['seconds']} s, process start included); "
        f"peak resident memory **{imp['peak_rss_mib']:.0f} MiB**; {imp['enrolled']:,} enrolled, "
        f"{imp['refused']} refused.",
        f"- Killed with SIGKILL after {imp['killed_after']:,} verdicts, then run again: {imp['resumed_skipped']:,} "
        f"skipped as already enrolled, {imp['resumed_enrolled']:,} enrolled. Afterwards: {imp['members_after']:,} "
        f"members holding {imp['vectors_after']:,} vectors, {imp['index_vectors']:,} in the FAISS index; the saved "
        f"index {'is' if imp['index_current'] else 'is not'} at the database's generation.",
        END,
        "",
    ]
    return "\n".join(lines)
