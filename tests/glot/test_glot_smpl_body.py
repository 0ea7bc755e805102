"""The synthetic SMPL body: official layout, human skeleton, deterministic."""

from __future__ import annotations

import numpy as np

from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, PARENTS
from inference_server.synthetic.smpl_body import SPECIAL_VERTICES, make_smpl_arrays

SHAPES = {
    "v_template": (6890, 3), "shapedirs": (6890, 3, 10), "posedirs": (6890, 3, 207),
    "J_regressor": (24, 6890), "weights": (6890, 24), "f": (13776, 3),
    "kintree_table": (2, 24), "J_regressor_extra": (9, 6890), "J_regressor_h36m": (17, 6890),
}


def test_layout_and_skeleton() -> None:
    arrays = make_smpl_arrays(0)
    assert {k: v.shape for k, v in arrays.items()} == SHAPES
    joints = arrays["J_regressor"] @ arrays["v_template"]
    np.testing.assert_allclose(joints, DEFAULT_REST_JOINTS, atol=1e-6)
    np.testing.assert_allclose(arrays["weights"].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(arrays["J_regressor_extra"].sum(1), 1.0, atol=1e-6)
    assert list(arrays["kintree_table"][0, 1:]) == list(PARENTS[1:])
    assert arrays["f"].min() >= 0 and arrays["f"].max() < 6890
    assert (arrays["f"][:, 0] != arrays["f"][:, 1]).all()
    # skinning: each vertex mostly follows one joint
    assert (arrays["weights"].max(1) >= 0.85 - 1e-6).all()
    # the nose sits in front of the head, toes below the knees
    nose = arrays["v_template"][332]
    assert nose[2] > DEFAULT_REST_JOINTS[15][2] and 3216 in SPECIAL_VERTICES
    assert arrays["v_template"][3216][1] < DEFAULT_REST_JOINTS[4][1]
    # float32-representable values (pickle and checkpoint hold the same numbers)
    for name in ("v_template", "shapedirs", "posedirs", "weights"):
        assert np.array_equal(arrays[name], arrays[name].astype(np.float32).astype(np.float64))


def test_deterministic_per_seed() -> None:
    a, b, c = make_smpl_arrays(3), make_smpl_arrays(3), make_smpl_arrays(4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["v_template"], c["v_template"])
