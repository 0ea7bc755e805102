"""After pass 2: no junk people. A track whose crops the pose model does not recognise as a person
in most frames (a face, hair, a poster, background: boxes a detector drew on no body) is left
out with a notice; a second track on the same body (a detector's box on someone's legs, beside
the box on the whole person: their landmarks coincide) is left out too; a track that shows only
the upper body is marked so (its legs are left at rest by the backend, not invented) and said
so. Backends that cannot tell (GLoT) judge nothing.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..backends.base import PoseBackend, shows_upper_body_only
from ..errors import NoPersonError
from .context import JobContext
from .people import PersonTrack

#: a track whose pose is recognised in fewer of its frames than this is not a person
MIN_RECOGNISED = 0.5
#: two tracks are one body in a frame when their visible landmarks are this close on average
#: (fraction of the larger box side) ...
SAME_BODY_DISTANCE = 0.1
#: ... or when one's landmarks lie inside the other's, spanning at most this share of its
#: height ...
NESTED_SPAN = 0.7
NESTED_MARGIN = 0.1  # (the bounds of the larger one grown by this share of its height)
#: ... in at least this share of the frames they share
SAME_BODY_FRAMES = 0.5


def check_people(people: list[PersonTrack], backend: PoseBackend,
                 job: JobContext) -> list[PersonTrack]:
    """The tracks that are people (``upper_body`` set), notices for the others; NoPersonError
    when none is left."""
    kept = []
    for person in people:
        evidence = backend.person_evidence(person.features)
        if evidence is None:
            kept.append(person)
            continue
        recognised, legs = (np.asarray(e, bool) for e in evidence)
        share = float(recognised.mean()) if len(recognised) else 0.0
        span = f"frames {int(person.frame_ids[0])}-{int(person.frame_ids[-1])}"
        if share < MIN_RECOGNISED:
            job.notices.append(
                f"a track in {span} was left out: the pose model recognised a person in only "
                f"{share:.0%} of its {len(recognised)} crops (the detector's boxes were on a face, "
                "hair, a picture or background, not on a body)")
            continue
        if shows_upper_body_only(recognised, legs):
            person.upper_body = True
            job.notices.append(
                f"person {person.track_id} ({span}) is seen from the waist up: the upper body is "
                "animated, the legs are left at rest (not observed, not invented)")
        kept.append(person)
    kept = _one_track_per_body(kept, backend, job)
    if people and not kept:
        raise NoPersonError(
            f"the detector followed {len(people)} track(s), but the pose model recognised a "
            "person in none of them (boxes on faces, pictures or background): try another "
            "--detector, or a clip where people's bodies are in view")
    return kept


def _one_track_per_body(people: list[PersonTrack], backend: PoseBackend,
                        job: JobContext) -> list[PersonTrack]:
    """Leave out tracks whose landmarks coincide with a longer (or larger) track's."""
    from ..backends.base import TrackInput

    keypoints = []
    for p in people:
        track = TrackInput(p.track_id, p.frame_ids, p.bboxes, p.features, p.filled, p.det_score)
        keypoints.append(backend.keypoints_2d(track) if backend.has_keypoints_2d else None)
    order = sorted(range(len(people)), key=lambda i: (-len(people[i].frame_ids),
                                                      -float(np.mean(people[i].bboxes[:, 2]))))
    kept: list[int] = []
    for i in order:
        twin = next((k for k in kept if _same_body(people[i], keypoints[i], people[k],
                                                   keypoints[k])), None)
        if twin is None:
            kept.append(i)
            continue
        p = people[i]
        job.notices.append(
            f"a track in frames {int(p.frame_ids[0])}-{int(p.frame_ids[-1])} was left out: it "
            f"followed the same body as person {people[twin].track_id} (its landmarks coincide "
            "with or lie inside theirs: a second box on one person)")
    return [people[i] for i in sorted(kept)]


def _same_body(a: PersonTrack, kp_a: np.ndarray | None, b: PersonTrack,
               kp_b: np.ndarray | None) -> bool:
    if kp_a is None or kp_b is None:
        return False
    common, ia, ib = np.intersect1d(a.frame_ids, b.frame_ids, return_indices=True)
    if len(common) == 0:
        return False
    pa, pb = kp_a[ia], kp_b[ib]
    seen = (pa[..., 2] >= 0.5) & (pb[..., 2] >= 0.5)
    dist = np.linalg.norm(pa[..., :2] - pb[..., :2], axis=-1)
    scale = np.maximum(a.bboxes[ia, 2], b.bboxes[ib, 2])
    with np.errstate(invalid="ignore"):
        mean = np.where(seen.any(axis=1), (dist * seen).sum(axis=1) / seen.sum(axis=1), np.inf)
    same = (mean < SAME_BODY_DISTANCE * scale) | _nested(pa, pb) | _nested(pb, pa)
    return bool(same.sum() >= SAME_BODY_FRAMES * len(common))


def _nested(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Per frame: all of ``inner``'s visible landmarks lie within ``outer``'s landmark bounds
    and span at most NESTED_SPAN of its height (a smaller "person" made up inside someone's
    body, e.g. the pose model on a box around their legs). (F, 33, 3) each."""
    out_seen, in_seen = outer[..., 2] >= 0.5, inner[..., 2] >= 0.5
    big = np.where(out_seen[..., None], outer[..., :2], np.nan)
    small = np.where(in_seen[..., None], inner[..., :2], np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(big, axis=1), np.nanmax(big, axis=1)
        margin = NESTED_MARGIN * (hi[:, 1:2] - lo[:, 1:2])
        lo, hi = lo - margin, hi + margin
        slo, shi = np.nanmin(small, axis=1), np.nanmax(small, axis=1)
        inside = np.all((slo >= lo) & (shi <= hi), axis=1)
        span = NESTED_SPAN / (1 + 2 * NESTED_MARGIN)  # of the grown bounds
        smaller = (shi[:, 1] - slo[:, 1]) <= span * (hi[:, 1] - lo[:, 1])
    return inside & smaller & out_seen.any(axis=1) & in_seen.any(axis=1)
