"""Edge pipeline: capture, detect, track, recognise, publish."""
