"""Training and the landscape pipeline on the test device give what the CPU gives.

The device-sensitive paths are tested where they live (engine, maps, grids, run files, the
explorer, torchrun), each on ``$TRAJVIZ_TEST_DEVICE``; these tests add what only a second
device can show: the same inputs give the same paths and grid on it as on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from _landscape import mnist_root

import trajviz
from trajviz.landscape import (
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    load_dataset,
    plane_surface,
    train,
)


def small_mnist():
    d = load_dataset("mnist", data_dir=mnist_root())
    return type(d)(d.name, d.train_x[:800], d.train_y[:800], d.test_x[:200], d.test_y[:200],
                   d.meta)


def test_training_on_the_device_follows_the_cpu_path(device):
    data = small_mnist()
    cfg = TrainConfig(iterations=20, batch_size=50, record_every=5)
    runs = {}
    for dev in (torch.device("cpu"), device):
        d = data.to(dev)
        runs[dev.type] = train(build_model("mlp", seed=3).to(dev), "sgd:lr=0.1,adam",
                               (d.train_x, d.train_y), (d.test_x, d.test_y), config=cfg,
                               progress=False)
    cpu, dev = runs["cpu"], runs[device.type]
    for a, b in zip(cpu.trajectories, dev.trajectories, strict=True):
        assert b.params.device.type == "cpu"  # recorded paths come back to the host
        torch.testing.assert_close(b.params, a.params, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b.train_loss, a.train_loss, rtol=1e-4)


def test_landscape_pipeline_on_the_device_matches_the_cpu(device):
    data = small_mnist()
    kw = dict(optimizers="sgd:lr=0.1", train_config=TrainConfig(iterations=10, record_every=5),
              plane=PlaneConfig(size=5, samples=300, directions="random"), progress=False)
    cpu = compute_landscape(build_model("mlp", seed=0), data, device="cpu", **kw)
    dev = compute_landscape(build_model("mlp", seed=0), data, device=device, **kw)
    assert dev.grid.meta["device"].startswith(device.type)
    np.testing.assert_allclose(dev.grid.loss, cpu.grid.loss, rtol=1e-4, atol=1e-5)
    # the slice as a surface: the engine races on it on the device
    s = plane_surface(build_model("mlp", seed=0), dev.grid.plane, data.train_x[:300],
                      data.train_y[:300])
    run = trajviz.run(s, "sgd:lr=0.5,adam:lr=0.05", steps=5, starts=[[0.5, 0.5]],
                      device=device, progress=False)
    assert run.meta["device"] == str(device) and np.isfinite(run.positions).all()
    ref = trajviz.run(s, "sgd:lr=0.5,adam:lr=0.05", steps=5, starts=[[0.5, 0.5]],
                      device="cpu", progress=False)
    np.testing.assert_allclose(run.positions, ref.positions, rtol=1e-4, atol=1e-5)
