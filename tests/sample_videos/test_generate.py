"""The sample video is generated into the user's cache directory, never into the installed package."""

from __future__ import annotations

from pathlib import Path

import storelens.sample_videos
from storelens.models.prepare import cache_dir
from storelens.sample_videos.generate import load_truth, scenario_key


def test_the_video_lives_in_the_cache_directory(video: Path) -> None:
    package = Path(storelens.sample_videos.__file__).parent
    assert video.is_file() and video.parent == cache_dir() / "sample_videos"
    assert not (package / "cache").exists() or not any((package / "cache").iterdir())
    assert scenario_key(load_truth()) in video.name  # regenerated when the scenario changes
