"""BlazePose from the mediapipe wheel, run directly: the multi-person detector
(``--detector blazepose``) and the landmark model on the detector's rotated ROI.

Modules: :mod:`.model` (files and the LiteRT runtime), :mod:`.decode` (anchors, scores,
weighted NMS, ROI), :mod:`.detector` (whole frame + tiles).
"""
