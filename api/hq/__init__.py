"""The chain API of head office (``storelens hq serve``): reports over every store, boxes, members, erasures."""
