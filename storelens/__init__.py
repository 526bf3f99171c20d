"""StoreLens: in-store face recognition edge service (VIP arrivals, anonymous footfall)."""

import os

__version__ = "0.1.0"

# OpenCV reads its decoder's pixel limit once, when it loads: set before anything imports cv2. The photo
# limit itself is checked from the file's header first (storelens.images); this is the backstop.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(100_000_000))
