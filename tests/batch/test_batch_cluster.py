"""Two Ray nodes on one machine (``ray.cluster_utils.Cluster``, 1 CPU each): the videos are
spread over both nodes, and an input only the driver's machine can see is reported with the
worker node that could not read it."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from batch_support import leftovers, template

from glot_blender.core.motion_clip import read_clip
from inference_server.batch.inputs import collect_items
from inference_server.batch.runner import BatchSettings, run_batch

pytestmark = pytest.mark.slow
#: a descriptor number no Ray worker process has open (they hold a few dozen)
DRIVER_ONLY_FD = 987


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    # RAY_TMPDIR: Ray's test cluster writes its address file there, not into /tmp/ray; a
    # private (0700) folder around it, since Ray opens its own folders to everyone
    private = tempfile.mkdtemp(prefix="glot-ray-test-")
    (Path(private) / "ray").mkdir()
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = private
    cluster = None
    try:
        cluster = Cluster(initialize_head=True,
                          head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=True,
                 logging_level=logging.ERROR)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        if before is None:
            os.environ.pop("RAY_TMPDIR")
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(private, ignore_errors=True)


def test_work_spreads_over_both_nodes_and_a_driver_only_input_names_the_node(
        two_nodes, shoot: Path, synthetic_models: Path, tmp_path: Path) -> None:
    import ray

    # A path only this (driver) process can read: a link into its own open descriptor, as a
    # file on the head node's local disk is for workers on other machines.
    fd = os.open(shoot / "a.mp4", os.O_RDONLY)
    os.dup2(fd, DRIVER_ONLY_FD)
    os.close(fd)
    local = tmp_path / "local-only.mp4"
    local.symlink_to(f"/proc/self/fd/{DRIVER_ONLY_FD}")
    try:
        assert local.is_file()  # this process sees it
        out = tmp_path / "out"
        items = collect_items([str(shoot / "a.mp4"), str(shoot / "day2" / "b.mp4"), str(local)],
                              out)
        summary = run_batch(items, template(synthetic_models),
                            BatchSettings(workers=2, write_fbx=False))
    finally:
        os.close(DRIVER_ONLY_FD)
    a, b, only = summary.results
    assert (a.status, b.status, only.status) == ("done", "done", "failed"), summary.results
    node_ids = {n["NodeID"][:8] for n in ray.nodes() if n["Alive"]}
    assert len(node_ids) == 2
    used = {a.node.rsplit("node ", 1)[1].rstrip(")"), b.node.rsplit("node ", 1)[1].rstrip(")")}
    assert used == node_ids  # one video on each node
    assert f"{local} does not exist on worker node" in only.reason
    assert only.node in only.reason and "shared storage" in only.reason
    assert read_clip(out / "a.npz").track_ids == [1] and not leftovers(out)
