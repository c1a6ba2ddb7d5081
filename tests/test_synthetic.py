"""The synthetic benchmark: determinism, label ranges, exact flow (photometric and label consistency,
forward/backward agreement, hand-built scenes with analytic flow), the VSPW-layout writer and CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from mpvss_core.data.camera import Intrinsics, Pose, rotation
from mpvss_core.data.layers import Layer, billboard, constant_label
from mpvss_core.data.render import Lighting, Scene, exact_flow, render_frame
from mpvss_core.data.synthetic import SPLITS, render_clip
from mpvss_core.labels import SYNTH_CLASSES

SIZE = (128, 256)


@pytest.fixture(scope="module")
def clip():
    return render_clip(900_001, num_frames=8, size=SIZE)


def _bilinear(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(
        img, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def test_interface_shapes_and_ranges(clip):
    t, (h, w) = 8, SIZE
    assert clip.frames.shape == (t, h, w, 3) and clip.frames.dtype == np.uint8
    assert clip.labels.shape == (t, h, w) and np.issubdtype(clip.labels.dtype, np.integer)
    assert clip.class_names == SYNTH_CLASSES and len(SYNTH_CLASSES) >= 14
    assert clip.labels.max() < len(SYNTH_CLASSES)  # every pixel is labelled, no ignore needed
    assert clip.labelled.all()
    flow, valid = clip.flow(3, 1)
    assert flow.shape == (h, w, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
    assert valid.shape == (h, w) and valid.dtype == bool
    zero, all_valid = clip.flow(2, 2)
    assert not zero.any() and all_valid.all()
    with pytest.raises(IndexError):
        clip.flow(0, 8)


def test_same_seed_same_bytes():
    a = render_clip(123, num_frames=3, size=(64, 128))
    b = render_clip(123, num_frames=3, size=(64, 128))
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    fa, va = a.flow(2, 0)
    fb, vb = b.flow(2, 0)
    assert fa.tobytes() == fb.tobytes() and va.tobytes() == vb.tobytes()
    c = render_clip(124, num_frames=3, size=(64, 128))
    assert a.frames.tobytes() != c.frames.tobytes()


def test_scenes_are_street_scenes(clip):
    """Every clip shows the street's backbone classes, and dynamic classes appear across seeds."""
    present = {SYNTH_CLASSES[i] for i in np.unique(clip.labels)}
    assert {"road", "sidewalk", "sky", "building", "car", "pole"} <= present
    seen = set(present)
    for seed in SPLITS["val"].seeds[:4]:
        seen |= {SYNTH_CLASSES[i] for i in np.unique(render_clip(seed, num_frames=1, size=SIZE).labels)}
    assert len(seen) >= 15, sorted(set(SYNTH_CLASSES) - seen)


@pytest.mark.parametrize("src,dst", [(5, 4), (1, 2), (7, 2)])
def test_warping_by_exact_flow_reproduces_frame(clip, src, dst):
    """Warping frame dst into frame src by clip.flow(src, dst) reproduces frame src at valid pixels.

    Measured on this clip (128x256): mean absolute error 1-3 grey levels per channel, median < 1.5;
    the residual is texture detail that fades with distance (band limiting), bilinear resampling
    and edge pixels, not flow error (see test_forward_backward_agree)."""
    flow, valid = clip.flow(src, dst)
    assert valid.mean() > 0.3
    warped = _bilinear(clip.frames[dst].astype(np.float32), flow)
    err = np.abs(warped - clip.frames[src].astype(np.float32)).mean(-1)[valid]
    gap = abs(src - dst)
    assert err.mean() < (2.5 if gap == 1 else 4.5), err.mean()
    assert np.median(err) < (1.0 if gap == 1 else 2.5), np.median(err)
    # Without the flow, the same comparison is far worse: the flow explains the motion.
    still = np.abs(clip.frames[dst].astype(np.float32) - clip.frames[src]).mean(-1)[valid]
    assert still.mean() > 2 * err.mean()


@pytest.mark.parametrize("src,dst", [(5, 4), (0, 5), (7, 1)])
def test_warping_labels_is_consistent(clip, src, dst):
    flow, valid = clip.flow(src, dst)
    h, w = SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    lab = cv2.remap(clip.labels[dst], xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_NEAREST)
    agree = (lab == clip.labels[src])[valid].mean()
    assert agree > 0.995, agree  # measured 99.8-99.98 %: only class borders inside one plane differ


@pytest.mark.parametrize("a,b", [(4, 5), (2, 4), (6, 3)])
def test_forward_backward_agree(clip, a, b):
    """f_ab(p) + f_ba(p + f_ab(p)) = 0 wherever both are valid and the bilinear neighbourhood of
    p + f_ab(p) lies on the same surface (measured: mean ~1e-3 px, max < 0.1 px)."""
    from mpvss_core.data.synthetic import SyntheticRender

    r = SyntheticRender(900_001, 8, SIZE)
    f, v = r.flow(a, b)
    g, vg = r.flow(b, a)
    h, w = SIZE
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs + f[..., 0], ys + f[..., 1]
    x0 = np.clip(np.floor(px), 0, w - 2).astype(int)
    y0 = np.clip(np.floor(py), 0, h - 2).astype(int)
    own_a, own_b = r.buffers[a].owner, r.buffers[b].owner
    same = np.ones_like(v)
    for dy in (0, 1):
        for dx in (0, 1):
            same &= (own_b[y0 + dy, x0 + dx] == own_a) & vg[y0 + dy, x0 + dx]
    back = np.stack([_bilinear(g[..., k], f) for k in range(2)], -1)
    e = np.linalg.norm(f + back, axis=-1)[v & same]
    assert (v & same).mean() > 0.3
    assert e.mean() < 0.01 and np.percentile(e, 99) < 0.05, (e.mean(), np.percentile(e, 99))


# --- hand-built scenes with analytic flow -----------------------------------------------------------


def _scene(layers: list[Layer], poses: list[Pose], size=(60, 80)) -> Scene:
    K = Intrinsics(f=50.0, cx=(size[1] - 1) / 2, cy=(size[0] - 1) / 2, size=size)
    lit = Lighting(
        exposure=1.0, tint=np.ones(3, np.float32), haze_colour=np.zeros(3, np.float32), haze_distance=1e9
    )
    for layer in layers:
        layer.shade = 1.0

    def sky(az, el, fp):
        return np.full((len(az), 3), 0.5, np.float32)

    return Scene(K=K, poses=poses, layers=layers, sky_label=10, sky_albedo=sky, lighting=lit)


def _grey(u, v, fp):
    return np.full((len(u), 3), 0.4, np.float32)


def _wall(z: float, velocity=(0.0, 0.0, 0.0), half=100.0, cls=2) -> Layer:
    """A fronto-parallel rectangle at depth z, centred on the optical axis (v from -half to half)."""
    layer = billboard("wall", np.array([0.0, 0.0, z]), (-half, half, -half, half), constant_label(cls), _grey,
                      velocity=np.array(velocity, float))  # fmt: skip
    return layer


def _flow(scene: Scene, src: int, dst: int):
    bufs = {t: render_frame(scene, t) for t in (src, dst)}
    return exact_flow(scene, bufs[src], src, bufs[dst], dst), bufs


def test_forward_motion_towards_a_wall_is_a_pure_expansion():
    """Camera 1 m closer to a wall at 10 m: a point seen at x in frame 1 (depth 9) is at
    cx + (x - cx) * 9/10 in frame 0, so flow(1 -> 0) = (x - cx)(0.9 - 1), likewise for y."""
    eye = np.eye(3)
    poses = [Pose(C=np.zeros(3), R=eye), Pose(C=np.array([0.0, 0.0, 1.0]), R=eye)]
    scene = _scene([_wall(10.0)], poses)
    (flow, valid), _ = _flow(scene, 1, 0)
    h, w = scene.K.size
    ys, xs = np.mgrid[0:h, 0:w]
    expect = np.stack([(xs - scene.K.cx) * -0.1, (ys - scene.K.cy) * -0.1], -1)
    np.testing.assert_allclose(flow, expect, atol=1e-4)
    assert valid.all()  # contraction: everything stays in view
    (back, bvalid), _ = _flow(scene, 0, 1)  # expansion: the border leaves the frame
    np.testing.assert_allclose(back, np.stack([(xs - scene.K.cx) / 9, (ys - scene.K.cy) / 9], -1), atol=1e-4)
    inside = (np.abs(xs + back[..., 0] - scene.K.cx) <= scene.K.cx + 0.5) & (
        np.abs(ys + back[..., 1] - scene.K.cy) <= scene.K.cy + 0.5
    )
    assert (bvalid == inside).mean() > 0.99 and not bvalid.all()


def test_sideways_object_occludes_and_reveals_the_background():
    """A 2 m wide panel at 5 m moves +0.5 m/frame in front of a static wall at 20 m: on the panel
    flow(1 -> 0) = -f * 0.5 / 5 = -5 px; wall pixels hidden by the panel in frame 0 are invalid."""
    eye = np.eye(3)
    poses = [Pose(C=np.zeros(3), R=eye)] * 2
    panel = _wall(5.0, velocity=(0.5, 0.0, 0.0), half=1.0, cls=13)
    scene = _scene([_wall(20.0), panel], poses)
    (flow, valid), bufs = _flow(scene, 1, 0)
    on_panel = bufs[1].label == 13
    assert on_panel.sum() > 100
    np.testing.assert_allclose(flow[on_panel], np.tile([-5.0, 0.0], (on_panel.sum(), 1)), atol=1e-4)
    wall = bufs[1].label == 2
    np.testing.assert_allclose(flow[wall], 0.0, atol=1e-5)
    hidden_in_0 = wall & (bufs[0].label == 13)
    assert hidden_in_0.sum() > 50
    assert not valid[hidden_in_0].any()  # occluded in the destination
    assert valid[wall & ~hidden_in_0].all()


def test_camera_pan_moves_the_sky_by_the_rotation_only():
    """A pure yaw of 0.02 rad: a sky direction at the image centre moves by f * tan(0.02) px."""
    poses = [
        Pose(C=np.zeros(3), R=rotation(0.0, 0.0, 0.0)),
        Pose(C=np.array([0.0, 0.0, 3.0]), R=rotation(0.02, 0, 0)),
    ]
    scene = _scene([], poses, size=(61, 81))
    (flow, valid), _ = _flow(scene, 1, 0)
    c = flow[30, 40]
    assert c[0] == pytest.approx(50.0 * np.tan(0.02), abs=1e-4) and abs(c[1]) < 1e-5
    # Turned right in frame 1: its right edge was outside frame 0 (about 1 px further right).
    assert not valid[:, -1].any() and valid[:, 0].all()
    np.testing.assert_array_equal(valid[30], np.arange(81) + flow[30, :, 0] < 80.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_frames"):
        render_clip(0, num_frames=0)
    with pytest.raises(ValueError, match="size"):
        render_clip(0, num_frames=1, size=(8, 8))


# --- writer, reader round trip and CLI --------------------------------------------------------------


def test_written_split_reads_back_and_resumes(tmp_path):
    from mpvss_core.data.readers import list_vspw_clips, read_vspw_clip
    from mpvss_core.data.writer import read_kitti_flow, write_split

    out = tmp_path / "val"
    dirs = write_split("val", out, num_clips=1, num_frames=3, size=(64, 128), progress=False)
    assert [d.name for d in list_vspw_clips(out, "val")] == [d.name for d in dirs]
    ref = render_clip(SPLITS["val"].seeds[0], num_frames=3, size=(64, 128))
    got = read_vspw_clip(dirs[0])
    assert got.class_names == SYNTH_CLASSES
    np.testing.assert_array_equal(got.labels, ref.labels)  # palette PNG + VSPW id shift are lossless
    assert np.abs(got.frames.astype(int) - ref.frames).mean() < 2.0  # JPEG quality 95
    f_disk, v_disk = read_kitti_flow(dirs[0] / "flow" / "00002.png")
    f_ref, v_ref = ref.flow(2, 1)
    np.testing.assert_array_equal(v_disk, v_ref)
    assert np.abs(f_disk - f_ref).max() <= 1 / 128 + 1e-6
    f_any, v_any = got.flow(0, 2)  # any pair, recomputed from scene.json
    np.testing.assert_array_equal(f_any, ref.flow(0, 2)[0])
    # Resumable: a finished clip is not rewritten; a half-written one is redone.
    stamp = (dirs[0] / "scene.json").stat().st_mtime_ns
    (out / "data" / ".partial-synth_900001").mkdir()
    write_split("val", out, num_clips=2, num_frames=3, size=(64, 128), progress=False)
    assert (dirs[0] / "scene.json").stat().st_mtime_ns == stamp
    assert not (out / "data" / ".partial-synth_900001").exists()
    assert json.loads((out / "data" / "synth_900001" / "scene.json").read_text())["seed"] == 900_001


def test_parallel_rendering_writes_the_same_files(tmp_path):
    from mpvss_core.data.writer import write_split

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    write_split("val", tmp_path / "one", num_clips=2, num_frames=2, size=(32, 64), progress=False)
    write_split("val", tmp_path / "two", 2, 2, (32, 64), progress=False, workers=2)
    assert files(tmp_path / "one") == files(tmp_path / "two")


def test_cli_data_synth_and_bad_arguments(tmp_path, capsys):
    from mpvss_cli import main

    assert main(["data", "synth", "--split", "val", "--out", str(tmp_path), "--clips", "1",
                 "--frames", "2", "--size", "32x64", "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "data" / "synth_900000" / "mask" / "00001.png").is_file()
    for bad in (["--split", "test"], ["--clips", "0"], ["--size", "12"], ["--workers", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["data", "synth", "--split", "val", "--out", str(tmp_path), *bad])
        assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
