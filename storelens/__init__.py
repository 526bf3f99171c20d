"""StoreLens: in-store face recognition edge service (VIP arrivals, anonymous footfall)."""

__version__ = "0.1.0"
