"""After pass 2: no junk people. A track whose crops the pose model does not recognise as a person
in most frames (a face, hair, a poster, background: boxes a detector drew on no body) is left
out with a notice; a track that shows only the upper body is marked so (its legs are left at
rest by the backend, not invented) and said so. Backends that cannot tell (GLoT) judge nothing.
"""

from __future__ import annotations

import numpy as np

from ..backends.base import PoseBackend, shows_upper_body_only
from ..errors import NoPersonError
from .context import JobContext
from .people import PersonTrack

#: a track whose pose is recognised in fewer of its frames than this is not a person
MIN_RECOGNISED = 0.5


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
    if people and not kept:
        raise NoPersonError(
            f"the detector followed {len(people)} track(s), but the pose model recognised a "
            "person in none of them (boxes on faces, pictures or background): try another "
            "--detector, or a clip where people's bodies are in view")
    return kept
