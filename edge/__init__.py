"""The edge pipeline: capture, detect, align, embed, track, decide per track, visits, footfall, outbox, publish."""
