"""A synthetic SMPL body with the official array layout (no SMPL data involved).

``make_smpl_arrays(seed)`` builds a plausible stand-in for the neutral SMPL model: 6890
vertices scattered around the bones of a human skeleton whose joints, as the joint regressor
computes them from the template, are exactly ``glot_blender.core.smpl_skeleton.DEFAULT_REST_JOINTS``.
Each joint owns 8 "core" vertices placed in symmetric pairs around it (its J_regressor row
averages them, to float32 rounding) and about 280 vertices along the bone to its parent. Skinning weights go
mostly to the owning joint; shape and pose blend shapes are small and random. The special
vertices SPIN reads (nose, eyes, ears, toes, heels, fingertips) sit where those body parts are.

All float arrays are float64 holding float32-representable values, so a pickle written from
them and a float32 checkpoint built from them carry identical numbers.
"""

from __future__ import annotations

import numpy as np

from glot_blender.core.smpl_skeleton import DEFAULT_REST_JOINTS, PARENTS

NUM_VERTS = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
NUM_BETAS = 10
NUM_POSE_BASIS = 207
#: first vertex index of the joints' core vertices (8 per joint; no special vertex in range)
CORE_START = 3500
CORE_PER_JOINT = 8
#: radius of the core vertex pairs around each joint, metres
CORE_RADIUS = 0.03
#: radius of the vertices scattered around each bone, metres
LIMB_RADIUS = 0.045
#: skinning weight of a vertex's own joint (the rest goes to the parent)
OWN_WEIGHT = 0.85
#: parent index written for the root in kintree_table (as in the official pickles)
ROOT_PARENT = 4294967295

#: SPIN/smplx special vertices -> (SMPL joint they sit at, offset from it in metres)
SPECIAL_VERTICES: dict[int, tuple[int, tuple[float, float, float]]] = {
    332: (15, (0.0, 0.02, 0.10)),      # nose
    6260: (15, (-0.03, 0.06, 0.08)),   # right eye
    2800: (15, (0.03, 0.06, 0.08)),    # left eye
    4071: (15, (-0.07, 0.04, 0.0)),    # right ear
    583: (15, (0.07, 0.04, 0.0)),      # left ear
    3216: (10, (0.01, 0.0, 0.08)),     # left big toe
    3226: (10, (0.05, 0.0, 0.06)),     # left small toe
    3387: (7, (0.0, -0.06, -0.05)),    # left heel
    6617: (11, (-0.01, 0.0, 0.08)),    # right big toe
    6624: (11, (-0.05, 0.0, 0.06)),    # right small toe
    6787: (8, (0.0, -0.06, -0.05)),    # right heel
    2746: (22, (0.03, 0.0, 0.05)), 2319: (22, (0.10, 0.0, 0.03)), 2445: (22, (0.11, 0.0, 0.0)),
    2556: (22, (0.10, 0.0, -0.02)), 2673: (22, (0.08, 0.0, -0.04)),   # left fingertips
    6191: (23, (-0.03, 0.0, 0.05)), 5782: (23, (-0.10, 0.0, 0.03)), 5905: (23, (-0.11, 0.0, 0.0)),
    6016: (23, (-0.10, 0.0, -0.02)), 6133: (23, (-0.08, 0.0, -0.04)),  # right fingertips
}

#: the 9 extra joints of J_regressor_extra (SPIN): SMPL joints whose cores they average
EXTRA_JOINTS: tuple[tuple[int, ...], ...] = (
    (2,), (1,), (12,), (15,), (0,), (9, 12), (3, 6), (12, 15), (15,),
)
#: the 17 Human3.6M joints as SMPL joints (pelvis, right leg, left leg, spine, head, arms)
H36M_FROM_SMPL: tuple[int, ...] = (0, 2, 5, 8, 1, 4, 7, 6, 9, 12, 15, 16, 18, 20, 17, 19, 21)


def _f32(a: np.ndarray) -> np.ndarray:
    """float64 array holding float32-representable values."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _core_indices(joint: int) -> np.ndarray:
    start = CORE_START + CORE_PER_JOINT * joint
    return np.arange(start, start + CORE_PER_JOINT)


def _owners() -> np.ndarray:
    """(6890,) the joint each vertex belongs to."""
    owner = np.arange(NUM_VERTS) % NUM_JOINTS
    for j in range(NUM_JOINTS):
        owner[_core_indices(j)] = j
    for vid, (joint, _) in SPECIAL_VERTICES.items():
        owner[vid] = joint
    return owner


def _template(rng: np.random.Generator, owner: np.ndarray) -> np.ndarray:
    joints = DEFAULT_REST_JOINTS.astype(np.float64)
    toward = np.array([p if p >= 0 else 3 for p in PARENTS])[owner]  # root spreads to spine
    t = rng.uniform(0.0, 0.9, (NUM_VERTS, 1))
    verts = joints[owner] + t * (joints[toward] - joints[owner])
    verts = verts + rng.normal(0.0, LIMB_RADIUS, (NUM_VERTS, 3))
    for vid, (joint, offset) in SPECIAL_VERTICES.items():
        verts[vid] = joints[joint] + np.asarray(offset)
    verts = _f32(verts)
    for j in range(NUM_JOINTS):
        idx = _core_indices(j)
        half = rng.normal(0.0, CORE_RADIUS, (CORE_PER_JOINT // 2, 3))
        verts[idx[0::2]] = _f32(joints[j] + half)
        verts[idx[1::2]] = _f32(joints[j] - half)
    return verts


def _core_regressor(rows: tuple[tuple[int, ...], ...]) -> np.ndarray:
    reg = np.zeros((len(rows), NUM_VERTS))
    for r, joints in enumerate(rows):
        for j in joints:
            reg[r, _core_indices(j)] = 1.0 / (CORE_PER_JOINT * len(joints))
    return reg


def _weights(owner: np.ndarray) -> np.ndarray:
    parents = np.asarray(PARENTS)[owner]
    rows = np.arange(NUM_VERTS)
    w = np.zeros((NUM_VERTS, NUM_JOINTS))
    w[rows, owner] = np.where(parents < 0, 1.0, OWN_WEIGHT)
    child = parents >= 0
    w[rows[child], parents[child]] = 1.0 - OWN_WEIGHT
    return w


def _faces(rng: np.random.Generator, owner: np.ndarray) -> np.ndarray:
    """Triangles between vertices of the same body part (3 distinct vertices each)."""
    part = np.arange(NUM_FACES) % NUM_JOINTS
    faces = np.empty((NUM_FACES, 3), dtype=np.int64)
    for j in range(NUM_JOINTS):
        group = np.flatnonzero(owner == j)
        rows = np.flatnonzero(part == j)
        picks = np.argsort(rng.random((rows.size, group.size)), axis=1)[:, :3]
        faces[rows] = group[picks]
    return faces


def make_smpl_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic SMPL arrays, deterministic for ``seed``.

    Returns v_template (6890,3), shapedirs (6890,3,10), posedirs (6890,3,207),
    J_regressor (24,6890), weights (6890,24), f (13776,3) int64, kintree_table (2,24) int64,
    J_regressor_extra (9,6890), J_regressor_h36m (17,6890); floats are float64.
    """
    rng = np.random.default_rng(seed)
    owner = _owners()
    v_template = _template(rng, owner)
    shapedirs = rng.normal(0.0, 0.004, (NUM_VERTS, 3, NUM_BETAS))
    shapedirs[:, :, 0] = 0.03 * (v_template - DEFAULT_REST_JOINTS[0])  # beta 0: body size
    part_dirs = rng.normal(0.0, 0.01, (NUM_JOINTS, 3, NUM_BETAS))
    shapedirs[:, :, 1:] += part_dirs[owner][:, :, 1:]
    posedirs = rng.normal(0.0, 0.001, (NUM_VERTS, 3, NUM_POSE_BASIS))
    kintree = np.array([[ROOT_PARENT, *PARENTS[1:]], list(range(NUM_JOINTS))], dtype=np.int64)
    return {
        "v_template": v_template,
        "shapedirs": _f32(shapedirs),
        "posedirs": _f32(posedirs),
        "J_regressor": _core_regressor(tuple((j,) for j in range(NUM_JOINTS))),
        "weights": _f32(_weights(owner)),
        "f": _faces(rng, owner),
        "kintree_table": kintree,
        "J_regressor_extra": _core_regressor(EXTRA_JOINTS),
        "J_regressor_h36m": _core_regressor(tuple((j,) for j in H36M_FROM_SMPL)),
    }
