"""The temporal solver: one optimisation over all frames of a track.

Variables: per-frame local joint rotations (6D), per-frame root translation (camera frame),
one skeleton per track (bone scales or betas, :mod:`.body`). Energy (:mod:`.terms`):

* robust (Geman-McClure) reprojection of BlazePose landmarks through the clip's pinhole
  camera, weighted by keypoint confidence and frame reliability;
* a prior to the backend's rotations (chordal per joint) and, weakly, its root translation,
  so 2D fixes alignment while the backend decides depth and twist;
* joint acceleration and rotation second differences in physical units (frame-rate aware);
* knee/elbow hinge limits; zero velocity of feet in contact (:mod:`.contacts`);
* a skeleton prior (bone scales near the backend's, betas near their track mean).

Frames that are filled across a gap or have low confidence get small reprojection and prior
weights, so the temporal terms carry them. L-BFGS runs a fixed budget in short steps
(cancellation is checked between steps) and stops early on convergence. A track that does
not converge (non-finite values, or a 2D error worse than the backend's) keeps its
unrefined motion and a notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from glot_blender.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle

from ..errors import JobCancelled
from .body import (
    DTYPE,
    FOOT_JOINTS,
    SOLVER_LANDMARKS,
    ShapeBasis,
    Skeleton,
    forward_kinematics,
    landmark_points,
    matrix_to_rot6d,
    offset_scale,
    rot6d_to_matrix,
)
from .contacts import ContactRule, foot_contacts
from .swaps import unswap_legs
from .terms import (
    acceleration,
    foot_still,
    hinge_limits,
    project,
    reprojection,
    rotation_acceleration,
    rotation_prior,
)

#: keypoints below this confidence are not used (BlazePose's own visibility threshold)
MIN_CONFIDENCE = 0.3
#: a frame's reliability never drops the prior below this share (the pose stays anchored)
MIN_PRIOR_WEIGHT = 0.1
#: the solver gives up (keeps the backend's motion) when its 2D error ends above this
#: multiple of the backend's own
WORSE_FACTOR = 1.05


@dataclass(frozen=True)
class RefineWeights:
    """Weights and scales of the energy terms (each term is a dimensionless mean)."""

    reprojection: float = 1.0
    #: Geman-McClure scale, in person heights: residuals far beyond it stop pulling
    robust_scale: float = 0.05
    rotation_prior: float = 0.02
    translation_prior: float = 0.002
    #: metres of root translation that cost one unit of the translation prior
    translation_scale: float = 0.1
    acceleration: float = 0.06
    #: m/s^2 and rad/s^2 that cost one unit of the temporal terms
    acceleration_scale: float = 10.0
    rotation_acceleration: float = 0.06
    rotation_acceleration_scale: float = 30.0
    hinge: float = 1.0
    foot: float = 0.05
    #: metres per frame of a planted foot that cost one unit
    foot_scale: float = 0.01
    skeleton: float = 0.05


@dataclass(frozen=True)
class RefineOptions:
    """Iteration budget and weights. align_iterations: translation and root first;
    iterations: then everything; step: iterations between cancellation checks."""

    align_iterations: int = 10
    iterations: int = 60
    step: int = 20
    tolerance: float = 1e-9
    #: seconds (sigma) of the zero-phase Gaussian that smooths the backend's rotations and
    #: translation into the starting point and the prior's target: their frame-to-frame
    #: jitter is noise, their slower motion is kept (the 2D term restores fast motion)
    prior_smooth_s: float = 0.1
    weights: RefineWeights = field(default_factory=RefineWeights)
    contacts: ContactRule = field(default_factory=ContactRule)


@dataclass(frozen=True)
class Camera:
    """The clip's pinhole camera: focal length in pixels, principal point at the centre."""

    focal_px: float
    width: int
    height: int

    @property
    def centre(self) -> tuple[float, float]:
        return (0.5 * self.width, 0.5 * self.height)


@dataclass
class TrackEvidence:
    """One track as the backend left it, plus its 2D evidence.

    global_orient (N,3), body_pose (N,69) axis-angle; transl (N,3) camera-space metres;
    rest_joints (24,3); joints3d (N,24,3) root-relative posed joints; betas (N,10); frame_weight (N,) 0..1 reliability (0 for filled
    frames); keypoints (N,33,3) BlazePose landmarks as pixel x, y and confidence, or None;
    shape_basis: the body model's rest joints as a function of betas (None: bone scales).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    betas: np.ndarray
    frame_weight: np.ndarray
    keypoints: np.ndarray | None = None
    shape_basis: ShapeBasis | None = None

    @property
    def num_frames(self) -> int:
        return len(self.global_orient)


@dataclass
class RefineResult:
    """The solver's output (the backend's motion unchanged where ``refined`` is False).

    error_px / error_before_px: mean distance in pixels between the projected landmarks and
    the confident 2D keypoints after / before (NaN without 2D evidence); contacts (N,2) bool.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    transl: np.ndarray
    refined: bool
    error_px: float
    error_before_px: float
    contacts: np.ndarray
    notice: str | None = None
    iterations: int = 0
    seconds: float = 0.0


def axis_angle(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotations (Rodrigues; smooth at zero)."""
    theta2 = (v * v).sum(-1)[..., None, None]
    zero = torch.zeros_like(v[..., 0])
    k = torch.stack([torch.stack([zero, -v[..., 2], v[..., 1]], -1),
                     torch.stack([v[..., 2], zero, -v[..., 0]], -1),
                     torch.stack([-v[..., 1], v[..., 0], zero], -1)], -2)
    theta = torch.sqrt(theta2 + 1e-24)
    a = torch.where(theta2 > 1e-12, torch.sin(theta) / theta, 1.0 - theta2 / 6.0)
    b = torch.where(theta2 > 1e-12, (1.0 - torch.cos(theta)) / (theta2 + 1e-24), 0.5 - theta2 / 24.0)
    return torch.eye(3, dtype=v.dtype) + a * k + b * (k @ k)


def _smoothed(x: torch.Tensor, sigma_frames: float) -> torch.Tensor:
    """Gaussian filter along the frames (a copy)."""
    if sigma_frames <= 0 or x.shape[0] < 3:
        return x.clone()
    return torch.as_tensor(gaussian_filter1d(x.numpy(), sigma_frames, axis=0, mode="nearest"))


class _Problem:
    """Variables, fixed data and the energy of one track."""

    def __init__(self, ev: TrackEvidence, camera: Camera, fps: float, options: RefineOptions):
        n = ev.num_frames
        poses = np.concatenate([ev.global_orient, ev.body_pose], 1).reshape(n, 24, 3)
        local = torch.as_tensor(axis_angle_to_matrix(poses.astype(np.float64)), dtype=DTYPE)
        sigma = options.prior_smooth_s * fps
        smooth6d = _smoothed(matrix_to_rot6d(local), sigma)
        self.local0 = rot6d_to_matrix(smooth6d)
        self.transl0 = _smoothed(torch.as_tensor(np.asarray(ev.transl, np.float64)), sigma)
        # the backend's own motion first, to measure its 2D error; then the smoothed start
        self.rot6d = torch.nn.Parameter(matrix_to_rot6d(local).clone())
        self.transl = torch.nn.Parameter(torch.tensor(np.asarray(ev.transl, np.float64)))  # a copy
        # per joint one rotation shared by all frames: moves the whole track's pose at once (a
        # bias such as legs held too close together), which per-frame variables tied by the
        # temporal terms do only slowly
        self.shared_gain = 1.0 / np.sqrt(max(n, 1))
        self.joint_turn = torch.nn.Parameter(torch.zeros((24, 3), dtype=DTYPE))
        mean_betas = np.asarray(ev.betas, np.float64).mean(0)
        self.skeleton = Skeleton(ev.rest_joints, ev.shape_basis, mean_betas)
        self.camera, self.fps, self.w = camera, float(fps), options.weights
        self.offset_scale = offset_scale(ev.rest_joints)
        self.frame_weight = torch.as_tensor(np.clip(ev.frame_weight, 0.0, 1.0), dtype=DTYPE)
        self.prior_weight = MIN_PRIOR_WEIGHT + (1.0 - MIN_PRIOR_WEIGHT) * self.frame_weight
        with torch.no_grad():
            joints0, _ = self.posed()
        rest = self.skeleton.rest().detach().numpy()
        body_height = float(rest[:, 1].max() - rest[:, 1].min())
        depth = joints0[:, 0, 2].clamp_min(0.1)
        self.height_px = camera.focal_px * body_height / depth
        self.keypoints = self.kp_weights = None
        self.swaps_fixed = 0
        if ev.keypoints is not None:
            full, self.swaps_fixed = unswap_legs(ev.keypoints)
            kp = full[:, list(SOLVER_LANDMARKS)]
            conf = np.where(np.isfinite(kp).all(-1) & (kp[..., 2] >= MIN_CONFIDENCE), kp[..., 2], 0.0)
            self.keypoints = torch.as_tensor(np.nan_to_num(kp[..., :2]))
            self.kp_weights = torch.as_tensor(conf) * self.frame_weight[:, None]
        self.raw_keypoints = None if ev.keypoints is None else full
        self.contact_rule = options.contacts
        self.contacts = np.zeros((n, 2), bool)
        self.contact_pairs = torch.zeros((max(n - 1, 0), 2), dtype=DTYPE)
        self.error_before_px = self.error_px()
        with torch.no_grad():
            self.rot6d.copy_(smooth6d)
            self.transl.copy_(self.transl0)

    @torch.no_grad()
    def find_contacts(self) -> None:
        """Planted feet (:mod:`.contacts`) from the current motion, for the foot term."""
        joints, _ = self.posed()
        self.contacts = foot_contacts(joints.numpy(), self.raw_keypoints, self.height_px.numpy(),
                                      self.fps, self.contact_rule)
        pairs = self.contacts[1:] & self.contacts[:-1]
        self.contact_pairs = torch.as_tensor(pairs.astype(np.float64))

    def local(self) -> torch.Tensor:
        """(N,24,3,3) local rotations, each joint turned by its rotation shared by the track."""
        return axis_angle(self.joint_turn * self.shared_gain) @ rot6d_to_matrix(self.rot6d)

    def posed(self, local: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Camera-space joints (N,24,3) and world rotations."""
        joints, world = forward_kinematics(self.skeleton.rest(),
                                           self.local() if local is None else local)
        return joints + self.transl[:, None, :], world

    def pixels(self, joints: torch.Tensor, world: torch.Tensor) -> torch.Tensor:
        points = landmark_points(joints, world, self.offset_scale)
        return project(points, self.camera.focal_px, self.camera.centre)

    def energy(self) -> torch.Tensor:
        w = self.w
        local = self.local()
        joints, world = self.posed(local)
        total = w.rotation_prior * rotation_prior(local, self.local0, self.prior_weight)
        total = total + w.translation_prior * (
            ((self.transl - self.transl0) / w.translation_scale) ** 2).sum(-1).mean()
        if self.keypoints is not None:
            total = total + w.reprojection * reprojection(
                self.pixels(joints, world), self.keypoints, self.kp_weights, self.height_px,
                w.robust_scale)
        total = total + w.acceleration * acceleration(joints, self.fps, w.acceleration_scale)
        total = total + w.rotation_acceleration * rotation_acceleration(
            local, self.fps, w.rotation_acceleration_scale)
        total = total + w.hinge * hinge_limits(local)
        feet = joints[:, [list(pair) for pair in FOOT_JOINTS]]
        total = total + w.foot * foot_still(feet, self.contact_pairs, w.foot_scale)
        return total + w.skeleton * self.skeleton.prior()

    @torch.no_grad()
    def error_px(self) -> float:
        """Mean pixel distance to the confident keypoints (NaN without any)."""
        if self.keypoints is None or not bool((self.kp_weights > 0).any()):
            return float("nan")
        joints, world = self.posed()
        dist = (self.pixels(joints, world) - self.keypoints).norm(dim=-1)
        used = self.kp_weights > 0
        return float(dist[used].mean())


def _run_lbfgs(params: list[torch.Tensor], energy: Callable[[], torch.Tensor], iterations: int,
               options: RefineOptions, should_cancel: Callable[[], bool] | None) -> int:
    """L-BFGS (strong Wolfe) in steps of ``options.step`` iterations; returns iterations run."""
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=options.step, history_size=20,
                            tolerance_change=options.tolerance, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = energy()
        value.backward()
        return value

    done = 0
    previous = None
    while done < iterations:
        if should_cancel is not None and should_cancel():
            raise JobCancelled("The analysis was cancelled; no motion clip was written.")
        budget = min(options.step, iterations - done)
        opt.param_groups[0]["max_iter"] = budget
        opt.param_groups[0]["max_eval"] = budget * 5 // 4
        value = float(opt.step(closure).detach())
        state = opt.state[params[0]]
        ran = int(state.get("n_iter", 0)) - done
        done += max(ran, 1)
        if not np.isfinite(value):
            break
        if previous is not None and abs(previous - value) <= options.tolerance * max(1.0, abs(value)):
            break
        if ran < budget:  # L-BFGS stopped on its own tolerances: converged
            break
        previous = value
    return done


def _unrefined(ev: TrackEvidence, problem: _Problem | None, error: float, notice: str,
               started: float) -> RefineResult:
    n = ev.num_frames
    contacts = problem.contacts if problem is not None else np.zeros((n, 2), bool)
    return RefineResult(
        global_orient=np.asarray(ev.global_orient, np.float32),
        body_pose=np.asarray(ev.body_pose, np.float32), betas=np.asarray(ev.betas, np.float32),
        rest_joints=np.asarray(ev.rest_joints, np.float32), joints3d=np.asarray(ev.joints3d, np.float32),
        transl=np.asarray(ev.transl, np.float32), refined=False, error_px=error,
        error_before_px=error, contacts=contacts, notice=notice,
        seconds=time.perf_counter() - started)


def refine_track(ev: TrackEvidence, camera: Camera, fps: float,
                 options: RefineOptions = RefineOptions(),
                 should_cancel: Callable[[], bool] | None = None) -> RefineResult:
    """Optimise one whole track; see the module docstring. Raises JobCancelled when asked to."""
    started = time.perf_counter()
    problem = _Problem(ev, camera, fps, options)
    before = problem.error_before_px
    try:
        align = [problem.transl, problem.joint_turn] if problem.keypoints is not None else []
        done = 0
        if align and options.align_iterations > 0:
            done += _run_lbfgs(align, problem.energy, options.align_iterations, options, should_cancel)
        params = [problem.rot6d, problem.transl, problem.joint_turn,
                  *problem.skeleton.parameters()]
        # the body first, then the feet planted where the solved motion says they are
        first = options.iterations // 2
        done += _run_lbfgs(params, problem.energy, first, options, should_cancel)
        problem.find_contacts()
        done += _run_lbfgs(params, problem.energy, options.iterations - first, options, should_cancel)
    except JobCancelled:
        raise
    except (RuntimeError, ValueError) as exc:  # a numerical failure inside torch
        return _unrefined(ev, problem, before, f"the solver failed ({exc})", started)
    after = problem.error_px()
    with torch.no_grad():
        local = problem.local()
        rest = problem.skeleton.rest()
        joints, _ = forward_kinematics(rest, local)
        transl = problem.transl.detach().clone()
    arrays = (local, rest, joints, transl)
    if not all(bool(torch.isfinite(a).all()) for a in arrays):
        return _unrefined(ev, problem, before, "the solver's values became non-finite", started)
    if np.isfinite(before) and not after <= WORSE_FACTOR * before + 0.5:
        return _unrefined(ev, problem, before, f"the solver did not converge (2D error {after:.1f} px "
                          f"against the backend's {before:.1f} px)", started)
    n = ev.num_frames
    aa = matrix_to_axis_angle(local.numpy()).reshape(n, 72)
    betas = problem.skeleton.betas_value()
    betas = np.asarray(ev.betas, np.float64) if betas is None else np.tile(betas, (n, 1))
    return RefineResult(
        global_orient=aa[:, :3].astype(np.float32), body_pose=aa[:, 3:].astype(np.float32),
        betas=betas.astype(np.float32), rest_joints=rest.numpy().astype(np.float32),
        joints3d=joints.numpy().astype(np.float32), transl=transl.numpy().astype(np.float32),
        refined=True, error_px=after, error_before_px=before, contacts=problem.contacts,
        iterations=done, seconds=time.perf_counter() - started)
