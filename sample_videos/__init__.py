"""Sample videos: the store-entrance generator and its ground truth."""
