"""Stage "refine": the temporal solver over each whole track (:mod:`inference_server.refine`).

A track the solver cannot refine keeps the backend's motion, with a notice.
"""

from __future__ import annotations

from glot_blender.core.motion_clip import TrackMotion

from ..backends.base import PoseBackend
from .context import JobContext
from .people import PersonTrack


def refine_people(people: list[PersonTrack], motions: list[TrackMotion], backend: PoseBackend,
                  info, focal: float, fps: float, job: JobContext) -> list[TrackMotion]:
    """Each track through :func:`inference_server.refine.refine_motion`, with its keypoints."""
    from ..refine import Camera, ShapeBasis, refine_motion

    rest_joints_of = backend.rest_joints_function()
    basis = ShapeBasis.from_function(rest_joints_of) if rest_joints_of is not None else None
    camera = Camera(focal, info.width, info.height)
    out = []
    job.report("refine", 0, len(motions), f"{len(motions)} person(s)", force=True)
    for i, (person, motion) in enumerate(zip(people, motions)):
        job.check_cancel()
        with job.timed("refine"):
            refined, result = refine_motion(motion, person.keypoints, camera, fps,
                                            backend.crop_scale, basis,
                                            should_cancel=job.should_cancel)
        if result.notice:
            job.notices.append(f"person {motion.track_id}: {result.notice}, so the backend's "
                               "motion was kept")
        person.keypoints = None
        out.append(refined)
        job.report("refine", i + 1, len(motions), force=True)
    return out
