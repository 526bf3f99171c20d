"""Sample videos: the store-entrance generator, its ground truth (``truth.json``), the registry photos, a shop."""
