"""Calibration: a camera's snapshot and verdict, FAR/FRR on real photos and the threshold recommendation."""
