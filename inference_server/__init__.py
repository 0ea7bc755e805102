"""GLoT inference server: video -> per-person SMPL motion, run as its own process."""

__version__ = "0.1.0"
