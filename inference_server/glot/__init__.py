"""GLoT (CVPR 2023) in plain torch: the released network and fast whole-track inference.

``load_glot(path, device)`` -> ``GLoTModel``; ``model.infer_track(features)`` -> ``TrackResult``.
"""

from inference_server.glot.api import GLoTModel, TrackResult, load_glot
from inference_server.glot.infer import window_indices
from inference_server.glot.model import GLoTNetwork

__all__ = ["GLoTModel", "GLoTNetwork", "TrackResult", "load_glot", "window_indices"]
