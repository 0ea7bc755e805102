"""Everyone in one world: the camera's path, the floor, each person's world motion.

Input: the camera solve of :mod:`.camera_motion` (camera-0-from-camera-t per analysed frame)
and every person's camera-frame SMPL motion (``transl``/``global_orient``; one metric scale:
the pipeline's depth). Steps (docs/world.md):

1. Everyone's joints in camera 0's frame (the camera's rotation per frame applied).
2. When the camera travelled (parallax), its path: the solve gives the direction per frame,
   the length comes from the people's planted feet, which must not move in the world.
3. Foot contacts (:mod:`glot_blender.core.foot_contact`), then gravity and the floor: a
   robust plane through the planted feet of all people; when the contact points do not
   spread enough to tilt a plane, "up" is the people's mean upright direction while they stand;
   when no one stands, the camera is taken as held level.
4. The world frame: z up, floor z = 0, y = the first camera's heading on the floor, origin
   below the first camera. Camera trajectory and every person's ``world_transl`` /
   ``world_orient`` in it; planted feet put on the floor and kept from sliding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from glot_blender.core.foot_contact import FOOT_JOINTS, FootContactOptions, detect_contacts
from glot_blender.core.kinematics import CAMERA_TO_BLENDER, forward_kinematics
from glot_blender.core.motion_clip import CameraTrajectory, MotionClip, TrackMotion
from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from glot_blender.core.smpl_skeleton import JOINT_NAMES

from .camera_motion import CameraSolve

#: the world's up seen from a level video camera (x right, y down, z forward)
LEVEL_UP = np.array([0.0, -1.0, 0.0])
TOES = np.array([toe for _ankle, toe in FOOT_JOINTS])
NECK = JOINT_NAMES.index("neck")


@dataclass(frozen=True)
class WorldOptions:
    """min_floor_points: fewer planted-foot samples and no floor is fitted; floor_inlier_m:
    the plane fit drops samples farther than this; min_spread_m: the samples must spread this
    far (std) in two directions to tilt a plane; max_tilt_deg: a fitted up farther than this
    from a level camera's is refused; upright_speed_mps: frames with a planted foot and the
    pelvis slower than this (walking, not running or falling) give the upright direction;
    scale_sigma: smoothing (frames) of the camera's travel per frame;
    plant: put planted feet on the floor and keep them from sliding; travel_speed_mps: while
    the camera's travel is still unknown, feet slower than this (seen from camera 0) may be
    planted; min_confidence: people whose mean confidence is lower (the pose model hardly saw
    them: false detections) give no floor samples or scale, unless no one reaches it."""

    min_floor_points: int = 12
    floor_inlier_m: float = 0.05
    min_spread_m: float = 0.15
    max_tilt_deg: float = 50.0
    upright_speed_mps: float = 2.0
    scale_sigma: float = 3.0
    travel_speed_mps: float = 3.0
    min_confidence: float = 0.1
    plant: bool = True


@dataclass
class WorldResult:
    """camera: the clip's camera trajectory; tracks: the motions with world fields;
    notices: what the user should know (fallbacks taken)."""

    camera: CameraTrajectory
    tracks: list[TrackMotion]
    notices: list[str] = field(default_factory=list)


@dataclass
class _Person:
    """One track in camera 0's frame: rows (N,) analysed-frame index, rot (N,3,3) camera-0-
    from-camera, joints (N,24,3) camera-0 coordinates without the camera's travel."""

    track: TrackMotion
    rows: np.ndarray
    rot: np.ndarray
    joints: np.ndarray


def ground_people(solve: CameraSolve, tracks: list[TrackMotion], fps: float, start_frame: int,
                  frame_step: int, options: WorldOptions | None = None) -> WorldResult:
    """Put every person and the camera into one world (see the module doc)."""
    options = options or WorldOptions()
    notices: list[str] = []
    people = [_in_camera0(solve, t, start_frame, frame_step) for t in tracks]
    seen = [p for p in people if float(p.track.confidence.mean()) >= options.min_confidence]
    witnesses = seen or people
    travel = np.zeros((solve.num_frames, 3))
    if solve.kind == "moving":
        travel = camera_travel(solve, witnesses, fps, options, notices)
    points, upright = _floor_samples(witnesses, travel, fps, options)
    up, height, residual, source = fit_floor(points, upright, options)
    if source == "level":
        notices.append("no one stood on the floor long enough to find it: the camera was taken "
                       "as held level")
    world_from_cam0 = world_rotation(up)
    offset = np.array([0.0, 0.0, height])
    camera = CameraTrajectory(
        rotation=world_from_cam0 @ solve.rotations,
        position=travel @ world_from_cam0.T + offset,
        kind=solve.kind, total_rotation_deg=solve.total_rotation_deg, up_source=source,
        floor_residual_m=residual)
    if solve.kind == "static":  # exactly the same pose in every frame
        camera.rotation[:] = world_from_cam0
        camera.position[:] = offset
    out = [_world_track(p, camera, fps, options) for p in people]
    return WorldResult(camera, out, notices)


def ground_clip(clip: MotionClip, solve: CameraSolve,
                options: WorldOptions | None = None) -> tuple[MotionClip, list[str]]:
    """The clip with its camera trajectory and every person's world motion, and notices."""
    result = ground_people(solve, clip.tracks, clip.fps, clip.start_frame, clip.frame_step,
                           options)
    return dataclasses.replace(clip, tracks=result.tracks, camera=result.camera), result.notices


def describe_camera(camera: CameraTrajectory, seconds_per_frame: float | None = None) -> str:
    """One line for people: the motion found and the floor fit."""
    motion = {"static": "static (tripod)", "turning": "turning", "moving": "moving (travelling)"}
    text = f"camera: {motion.get(camera.kind, camera.kind)}"
    if camera.kind != "static":
        text += f", {camera.total_rotation_deg:.1f} deg total rotation"
    floor = {"floor": "floor fitted to the feet", "people": "up from the people standing",
             "level": "no floor found, camera taken as level"}[camera.up_source]
    text += f"; {floor}"
    if camera.floor_residual_m >= 0:
        text += f", residual {100 * camera.floor_residual_m:.1f} cm"
    text += f"; camera height {camera.position[0, 2]:.2f} m"
    if seconds_per_frame is not None:
        text += f" (solve {1000 * seconds_per_frame:.1f} ms/frame)"
    return text


def _in_camera0(solve: CameraSolve, track: TrackMotion, start_frame: int,
                frame_step: int) -> _Person:
    rows = np.clip((track.frame_ids - start_frame) // max(frame_step, 1), 0, solve.num_frames - 1)
    rot = solve.rotations[rows]
    joints = forward_kinematics(track.rest_joints, track.poses, track.transl).joints
    return _Person(track, rows, rot, np.einsum("nij,nkj->nki", rot, joints))


# --------------------------------------------------------------------------- camera travel


def _contacts(joints_cam0: np.ndarray, fps: float, speed_mps: float | None = None) -> np.ndarray:
    """(N,2) planted feet of joints in camera-0 coordinates (judged in a level z-up frame);
    speed_mps: the foot-speed limit (None: foot_contact's default)."""
    if len(joints_cam0) < 2:
        return np.zeros((len(joints_cam0), 2), bool)
    options = FootContactOptions() if speed_mps is None else FootContactOptions(speed_mps=speed_mps)
    return detect_contacts(joints_cam0 @ CAMERA_TO_BLENDER.T, fps, options).contacts


def camera_travel(solve: CameraSolve, people: list[_Person], fps: float, options: WorldOptions,
                  notices: list[str]) -> np.ndarray:
    """(F,3) the camera centre in camera 0 (metres). The solve gives the direction of travel;
    its length per frame makes planted feet stand still: for a foot planted in frames t and
    t+1, the camera moved by the foot's apparent step (reversed). Frames without a planted
    foot take the length of their neighbours; without any, the camera is taken as turning."""
    f = solve.num_frames
    direction = _filled_directions(solve)
    travel = np.zeros((f, 3))
    # first with the camera's travel unknown (planted feet seem to move with it: any foot
    # speed a camera reaches counts), then again with the travel found
    for speed in (options.travel_speed_mps, None):
        steps = _foot_steps(people, travel, fps, f, speed)
        length = np.einsum("fc,fc->f", steps[1:], direction[1:])  # step t-1 -> t
        known = np.isfinite(length)
        if not known.any():
            notices.append("the camera moved but no planted foot gave the scale of its travel: "
                           "only its turning is used")
            return np.zeros((f, 3))
        idx = np.arange(f - 1)
        length = np.interp(idx, idx[known], length[known])
        length = gaussian_filter1d(length, options.scale_sigma, mode="nearest")
        travel = np.zeros((f, 3))
        travel[1:] = np.cumsum(length[:, None] * direction[1:], axis=0)
    return travel


def _filled_directions(solve: CameraSolve) -> np.ndarray:
    """(F,3) the solve's direction of travel, frames without parallax (too little travel yet
    to see it) taking the nearest frame's that has one."""
    known = np.flatnonzero(solve.moving & (np.linalg.norm(solve.directions, axis=1) > 0.5))
    if len(known) == 0:
        return np.zeros_like(solve.directions)
    nearest = known[np.abs(np.arange(solve.num_frames)[:, None] - known[None]).argmin(axis=1)]
    return solve.directions[nearest]


def _foot_steps(people: list[_Person], travel: np.ndarray, fps: float, f: int,
                speed_mps: float | None) -> np.ndarray:
    """(F,3) per frame t the mean camera step t-1 -> t implied by feet planted in both frames
    (NaN where none)."""
    total = np.zeros((f, 3))
    count = np.zeros(f)
    for p in people:
        joints = p.joints + travel[p.rows][:, None]
        contacts = _contacts(joints, fps, speed_mps)
        consecutive = np.diff(p.rows) == 1
        for side, toe in enumerate(TOES):
            planted = contacts[1:, side] & contacts[:-1, side] & consecutive
            # the foot stays put: travel_t - travel_{t-1} = -(foot_t - foot_{t-1}), the feet
            # seen without the travel
            step = -(np.diff(p.joints[:, toe], axis=0))
            rows = p.rows[1:][planted]
            np.add.at(total, rows, step[planted])
            np.add.at(count, rows, 1)
    out = np.full((f, 3), np.nan)
    seen = count > 0
    out[seen] = total[seen] / count[seen, None]
    return out


# --------------------------------------------------------------------------- floor


def _floor_samples(people: list[_Person], travel: np.ndarray, fps: float,
                   options: WorldOptions) -> tuple[np.ndarray, np.ndarray]:
    """Planted toe positions (M,3) and the upright (pelvis -> neck) directions (K,3) of frames
    with a planted foot, in camera 0."""
    points, upright = [], []
    for p in people:
        joints = p.joints + travel[p.rows][:, None]
        contacts = _contacts(joints, fps)
        for side, toe in enumerate(TOES):
            points.append(joints[contacts[:, side], toe])
        speed = np.linalg.norm(np.gradient(joints[:, 0], axis=0), axis=1) * fps \
            if len(joints) > 1 else np.zeros(len(joints))
        planted = contacts.any(axis=1) & (speed < options.upright_speed_mps)
        spine = joints[planted, NECK] - joints[planted, 0]
        upright.append(spine / np.maximum(np.linalg.norm(spine, axis=1, keepdims=True), 1e-9))
    return np.concatenate(points) if points else np.zeros((0, 3)), \
        np.concatenate(upright) if upright else np.zeros((0, 3))


def _tilt_ok(up: np.ndarray, options: WorldOptions) -> bool:
    return float(np.degrees(np.arccos(np.clip(up @ LEVEL_UP, -1, 1)))) <= options.max_tilt_deg


def fit_plane(points: np.ndarray, inlier_m: float,
              rounds: int = 4) -> tuple[np.ndarray, float, np.ndarray]:
    """Robust plane n.x = d through points (M,3): least squares (SVD), refitted on the points
    within ``inlier_m`` (at least half of them kept). Returns (n facing the level camera's up,
    d, inlier mask)."""
    keep = np.ones(len(points), bool)
    n, d = LEVEL_UP.copy(), 0.0
    for _ in range(rounds):
        centre = points[keep].mean(axis=0)
        n = np.linalg.svd(points[keep] - centre)[2][-1]
        n = n if n @ LEVEL_UP >= 0 else -n
        d = float(n @ centre)
        dist = np.abs(points @ n - d)
        new = dist <= max(inlier_m, float(np.median(dist)))
        if np.array_equal(new, keep):
            break
        keep = new
    return n, d, keep


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def fit_floor(points: np.ndarray, upright: np.ndarray,
              options: WorldOptions) -> tuple[np.ndarray, float, float, str]:
    """(up (3,) in camera 0, camera height above the floor (m), residual RMS (m) or -1,
    source "floor" | "people" | "level").

    The planted toes spread in two directions: up is the normal of a robust plane through
    them. They spread along one line (people walking one way): up is perpendicular to that
    line, as close as possible to the people's mean upright direction (their lean along the
    walk drops out). They do not spread (people standing): up is the people's mean upright
    direction. Too few samples: a level camera's up."""
    if len(points) < options.min_floor_points:
        return LEVEL_UP.copy(), _height(points, LEVEL_UP), -1.0, "level"
    reference, source = LEVEL_UP.copy(), "level"
    if len(upright) >= options.min_floor_points and _tilt_ok(_unit(upright.mean(0)), options):
        reference, source = _unit(upright.mean(0)), "people"
    _u, spread, axes = np.linalg.svd(points - points.mean(0), full_matrices=False)
    spread = spread / np.sqrt(len(points))
    up = reference
    if spread[1] >= options.min_spread_m:
        normal, _d, _keep = fit_plane(points, options.floor_inlier_m)
        if _tilt_ok(normal, options):
            up, source = normal, "floor"
    elif spread[0] >= options.min_spread_m:
        line = axes[0]
        candidate = _unit(reference - (reference @ line) * line)
        if _tilt_ok(candidate, options):
            up, source = candidate, "floor"
    heights = points @ up
    level = float(np.median(heights))
    resid = heights - level
    inliers = np.abs(resid) <= max(options.floor_inlier_m, 2 * float(np.median(np.abs(resid))))
    residual = float(np.sqrt(np.mean(resid[inliers] ** 2)))
    # floor points are below the camera (up.x = level < 0): the camera is -level above it
    return up, -level, residual, source


def _height(points: np.ndarray, up: np.ndarray) -> float:
    """Camera height above the lowest samples (0 without any)."""
    return -float(np.median(points @ up)) if len(points) else 0.0


def world_rotation(up: np.ndarray) -> np.ndarray:
    """world-from-camera-0 (3,3): z = up, y = the camera's forward on the floor, x = y x z."""
    z = up / np.linalg.norm(up)
    fwd = np.array([0.0, 0.0, 1.0])
    if abs(fwd @ z) > 0.99:  # looking straight down/up: the image's top is the heading
        fwd = np.array([0.0, -1.0, 0.0])
    y = fwd - (fwd @ z) * z
    y /= np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


# --------------------------------------------------------------------------- people


def world_smpl(track: TrackMotion, rot: np.ndarray,
               position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(world_transl, world_orient) of a track seen from cameras world-from-camera ``rot``
    (N,3,3) at ``position`` (N,3): SMPL rotates about the pelvis J0, so
    ``world_transl = R (J0 + transl) + c - J0``."""
    j0 = track.rest_joints[0].astype(np.float64)
    transl = np.einsum("nij,nj->ni", rot, j0 + track.transl) + position - j0
    orient = matrix_to_axis_angle(rot @ axis_angle_to_matrix(track.global_orient))
    return transl, orient


def _world_track(person: _Person, camera: CameraTrajectory, fps: float,
                 options: WorldOptions) -> TrackMotion:
    track = person.track
    transl, orient = world_smpl(track, camera.rotation[person.rows],
                                camera.position[person.rows])
    if options.plant and track.num_frames > 1:
        transl = plant_feet(track, transl, orient, fps)
    return dataclasses.replace(track, world_transl=transl.astype(np.float32),
                               world_orient=orient.astype(np.float32))


def plant_feet(track: TrackMotion, transl: np.ndarray, orient: np.ndarray, fps: float,
               rounds: int = 2) -> np.ndarray:
    """World translation (N,3) with planted feet on z = 0 (the mean height of the planted toes
    of each contact frame; the vertical correction is interpolated between contacts, and the
    contacts are found again after it, ``rounds`` times) and kept from sliding
    (:func:`anchor_feet`)."""
    poses = np.concatenate([orient[:, None], track.poses[:, 1:]], axis=1)
    joints = forward_kinematics(track.rest_joints, poses, transl).joints
    out = transl.copy()
    contacts = np.zeros((len(out), 2), bool)
    for _ in range(rounds):
        contacts = detect_contacts(joints, fps).contacts
        frames = np.flatnonzero(contacts.any(axis=1))
        if len(frames) == 0:
            return out
        planted = contacts[frames]
        toe_z = (joints[frames][:, TOES, 2] * planted).sum(axis=1) / planted.sum(axis=1)
        dz = np.interp(np.arange(len(out)), frames, -toe_z)
        out[:, 2] += dz
        joints[..., 2] += dz[:, None]
    out[:, :2] += anchor_feet(joints, contacts)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def anchor_feet(joints: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """Horizontal root correction (N,2) that holds each planted foot (mid-foot: ankle and toe)
    at the mean place of its contact run; frames between contacts take the correction
    interpolated from their neighbours. Anchoring each run at its own mean (rather than where
    it began, as :func:`glot_blender.core.foot_contact.lock_feet` does for re-applied motion)
    adds no drift from noisy or broken contacts: a person standing still stays where they stand."""
    feet = joints[:, np.array(FOOT_JOINTS)].mean(axis=2)[..., :2]  # (N, 2 sides, 2)
    total = np.zeros((len(joints), 2))
    count = np.zeros(len(joints))
    for side in range(2):
        for a, b in _runs(contacts[:, side]):
            total[a:b] += feet[a:b, side].mean(axis=0) - feet[a:b, side]
            count[a:b] += 1
    known = count > 0
    if not known.any():
        return total
    idx = np.arange(len(joints))
    corr = total[known] / count[known, None]
    return np.stack([np.interp(idx, idx[known], corr[:, k]) for k in range(2)], axis=1)
