"""Calibration: camera geometry and similarity thresholds (later release)."""
