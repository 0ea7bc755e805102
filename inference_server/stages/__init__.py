"""The pipeline's stages (:mod:`inference_server.pipeline` runs them in order):

- :mod:`.context` — progress events, cancellation, stage timings and notices of one analysis;
- :mod:`.people` — pass 1: decode, detect (batched, every k-th frame), track;
- :mod:`.features` — pass 2: decode again, crop each tracked box, ``backend.encode_crops``;
- :mod:`.solve` — per track ``backend.solve_track`` and the camera-space translation;
- :mod:`.refine` — per track the temporal solver (:mod:`inference_server.refine`);
- :mod:`.output` — the motion clip and the result summary.
"""
