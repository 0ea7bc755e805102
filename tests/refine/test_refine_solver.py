"""The temporal solver on procedural SMPL motion with known truth (no images, CPU, a few s each).

Ground truth: a walk, a squat, a kick and arm swings on the synthetic SMPL body seen by a
known camera; 2D keypoints with noise of 2% of the person's height, dropped frames and gross
outliers; a 3D prior jittered by 3-9 degrees per joint and frame, with a depth error and a
wrong skeleton (inference_server/synthetic/motion.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from torch_support import torch_threads

from inference_server.errors import JobCancelled
from inference_server.refine import RefineOptions
from inference_server.refine.contacts import foot_contacts
from inference_server.refine.solver import Camera, refine_track
from inference_server.synthetic.fidelity import evidence, run_case
from inference_server.synthetic.motion import corrupt, make_track


@pytest.fixture(autouse=True)
def _few_threads():
    with torch_threads(1):
        yield


@pytest.mark.parametrize(("kind", "prior"), [("walk", "lite"), ("walk", "glot"), ("squat", "glot"),
                                             ("kick", "lite"), ("arms", "glot")])
def test_solver_fits_the_truth_better_than_the_prior(kind, prior):
    case = run_case(kind, prior)
    before, after = case.before, case.after
    assert case.result.refined, case.result.notice
    # 2D: down to the keypoint noise level (against the exact projections)
    assert after["error_2d_px"] <= case.noise_px, (after, case.noise_px)
    assert after["error_2d_px"] < 0.5 * before["error_2d_px"]
    # the solver's own figure: its mean distance to the noisy keypoints, about the noise
    assert case.result.error_px < case.result.error_before_px
    assert case.result.error_px < 2.0 * case.noise_px
    # smoothness: acceleration error cut at least 3 times
    assert after["accel_mm"] * 3 <= before["accel_mm"], (before, after)
    # 3D never worse than the prior
    assert after["mpjpe_mm"] <= before["mpjpe_mm"], (before, after)
    assert after["pa_mpjpe_mm"] <= before["pa_mpjpe_mm"], (before, after)
    # planted feet stay planted; no lag behind the motion
    assert after["foot_slide_cm"] <= 1.0, after
    assert after["peak_velocity_mm"] <= before["peak_velocity_mm"], (before, after)
    for name in ("global_orient", "body_pose", "betas", "transl", "joints3d", "rest_joints"):
        assert np.isfinite(getattr(case.result, name)).all()


def test_glot_prior_keeps_one_shape_for_the_track():
    case = run_case("squat", "glot", num_frames=60)
    betas = case.result.betas
    assert np.ptp(betas, axis=0).max() == 0.0, "one skeleton (betas) per track"
    assert np.abs(betas[0] - case.truth.betas).mean() < np.abs(case.given.betas - case.truth.betas).mean()


def test_without_2d_evidence_the_temporal_terms_still_smooth():
    case = run_case("walk", "lite", num_frames=60, with_2d=False)
    assert case.result.refined
    assert np.isnan(case.result.error_px)
    assert case.after["accel_mm"] * 3 <= case.before["accel_mm"]
    assert case.after["pa_mpjpe_mm"] <= case.before["pa_mpjpe_mm"]


def test_dropped_frames_lean_on_their_neighbours():
    case = run_case("walk", "lite", seed=3)
    filled = case.given.filled
    assert filled.sum() >= 4
    fk_err = np.linalg.norm(case.result.transl[filled] - case.truth.transl[filled], axis=-1).mean()
    prior_err = np.linalg.norm(case.given.transl[filled] - case.truth.transl[filled], axis=-1).mean()
    assert fk_err < prior_err


def test_contact_rule_finds_planted_feet_on_clean_motion():
    truth = make_track("walk", 90)
    kp = np.concatenate([truth.keypoints(), np.ones((90, 33, 1))], -1)
    found = foot_contacts(truth.joints, kp, truth.height_px, truth.fps)
    assert (found == truth.contacts).mean() >= 0.85
    # a raised foot held still is not planted
    kick = make_track("kick", 90)
    found = foot_contacts(kick.joints, None, kick.height_px, kick.fps)
    raised = kick.joints[:, 7, 1] < kick.joints[:, 8, 1] - 0.2
    assert raised.any() and not found[raised, 0].any()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_diverging_track_keeps_its_unrefined_motion():
    truth = make_track("walk", 40)
    given = corrupt(truth, "lite", seed=2)
    given.keypoints[:, :, :2] = 1e300  # absurd keypoints: the energy overflows
    ev = evidence(given, "lite")
    kept = {name: getattr(ev, name).copy() for name in ("global_orient", "body_pose", "transl")}
    result = refine_track(ev, Camera(truth.focal_px, truth.width, truth.height), truth.fps)
    for name, before in kept.items():  # the caller's arrays are never touched
        np.testing.assert_array_equal(getattr(ev, name), before)
    assert not result.refined
    assert result.notice and "converge" in result.notice or "non-finite" in result.notice
    np.testing.assert_array_equal(result.global_orient, given.global_orient.astype(np.float32))
    np.testing.assert_array_equal(result.transl, given.transl.astype(np.float32))
    for name in ("global_orient", "body_pose", "transl", "joints3d"):
        assert np.isfinite(getattr(result, name)).all()


def test_cancel_stops_the_solver():
    truth = make_track("arms", 40)
    ev = evidence(corrupt(truth, "lite"), "lite")
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(JobCancelled):
        refine_track(ev, Camera(truth.focal_px, truth.width, truth.height), truth.fps,
                     RefineOptions(), should_cancel=cancel)


def test_frame_rate_sets_the_temporal_weights():
    """The same motion at 60 fps is smoothed like at 30 fps (physical units, not frames)."""
    at30 = run_case("arms", "lite", num_frames=45, fps=30.0)
    at60 = run_case("arms", "lite", num_frames=90, fps=60.0)
    assert at60.after["pa_mpjpe_mm"] <= at60.before["pa_mpjpe_mm"]
    assert at60.after["error_2d_px"] <= at60.noise_px
    assert abs(at60.after["mpjpe_mm"] - at30.after["mpjpe_mm"]) < 0.5 * at30.after["mpjpe_mm"]


def test_left_right_leg_swaps_are_undone_and_walking_is_left_alone():
    from inference_server.refine.swaps import LEG_PAIRS, unswap_legs

    given = corrupt(make_track("walk", 90), "lite", seed=4)
    _, fixed = unswap_legs(given.keypoints)
    assert fixed <= 1  # legs passing each other in a walk are (nearly always) not swaps
    swapped = given.keypoints.copy()
    frames = [20, 21, 22, 50, 71]  # BlazePose's mistake, as seen on the still photo video
    for left, right in LEG_PAIRS[1:]:  # ankles, heels, toes exchanged; knees kept
        swapped[frames, left], swapped[frames, right] = given.keypoints[frames, right], given.keypoints[frames, left]
    back, fixed = unswap_legs(swapped)
    assert 3 * len(frames) <= fixed <= 3 * len(frames) + 1
    np.testing.assert_allclose(back[frames], given.keypoints[frames])
