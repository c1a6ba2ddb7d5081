"""`mpvss eval` and `mpvss infer`, in-process: happy paths, and clear errors (exit 2, no traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mpvss_cli import main
from mpvss_core.checkpoints.bundle import write_bundle_index
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.data.writer import write_split
from mpvss_core.io import probe_video, write_label_png, write_video
from tests.engine_helpers import small_clip

REQUIRED = {
    "method",
    "interval",
    "miou",
    "wiou",
    "mvc8",
    "mvc16",
    "per_class_iou",
    "flow_epe",
    "gflops_key",
    "gflops_nonkey",
    "gflops_avg",
    "fps",
    "num_frames",
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "cache" / "results"))


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split("val", root, num_clips=1, num_frames=6, size=(64, 128), progress=False)
    return root


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, small_clip(num_frames=6).frames, fps=10)
    return path


def _frames_folder(root, label_size=(64, 128), labelled=(0, 1, 2, 3, 4, 5)):
    clip = small_clip(num_frames=6)
    (root / "frames").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(root / "frames" / f"{i:03d}.png")
        if i in labelled:
            label = np.zeros(label_size, np.uint8) if label_size != (64, 128) else clip.labels[i]
            write_label_png(root / "labels" / f"{i:03d}.png", label)
    return root


def _fails(capsys, argv, message):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert err.startswith("mpvss: error: ")


def test_eval_writes_the_json_and_reads_back_on_rerun(synth_root, tmp_path, capsys):
    out = tmp_path / "out.json"
    argv = [
        "eval",
        "--model",
        "tiny",
        "--data",
        "synthetic:val",
        "--data-root",
        str(synth_root),
        "--method",
        "copy,query_flow",
        "--interval",
        "3",
        "--max-clips",
        "1",
        "--json",
        str(out),
        "--quiet",
        "--tables",
        str(tmp_path / "tables"),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "query_flow" in printed and "random weights" in printed
    data = json.loads(out.read_text())["results"]
    assert [d["method"] for d in data] == ["copy", "query_flow"]
    for d in data:
        assert set(d) >= REQUIRED and d["interval"] == 3 and d["num_frames"] == 6
        assert 0 <= d["miou"] <= 100 and len(d["per_class_iou"]) == 18 and d["flow_epe"] > 0
    assert (tmp_path / "tables" / "copy_K3_per_frame.csv").is_file()
    assert main([*argv[:8], "copy", *argv[9:]]) == 0
    assert "read back" in capsys.readouterr().out
    single = json.loads(out.read_text())
    assert single["method"] == "copy" and single == data[0]


def test_eval_sparse_labels_on_a_frames_folder(tmp_path, capsys):
    folder = _frames_folder(tmp_path / "clip", labelled=(4,))
    out = tmp_path / "o.json"
    argv = [
        "eval",
        "--model",
        "tiny",
        "--data",
        str(folder),
        "--method",
        "per_frame",
        "--before-labelled",
        "2",
        "--json",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    s = json.loads(out.read_text())
    assert s["num_frames"] == 1 and s["before_labelled"] == 2 and s["flow_epe"] is None


def test_infer_writes_an_overlay_video_and_label_pngs(video, tmp_path, capsys):
    out, labels = tmp_path / "over.mp4", tmp_path / "labels"
    argv = [
        "infer",
        str(video),
        "--model",
        "tiny",
        "--method",
        "bi_optical_flow",
        "--interval",
        "4",
        "--out",
        str(out),
        "--labels-dir",
        str(labels),
        "--quiet",
    ]
    assert main(argv) == 0
    info = probe_video(out)
    assert info.num_frames == 6 and info.width == 128 and info.height > 64 and info.codec == "h264"  # legend
    assert sorted(p.name for p in labels.iterdir()) == [f"{i:05d}.png" for i in range(6)]
    assert "6 frames (2 key frames" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "nope"], "unknown method 'nope'"),
        (["--method", "copy", "--interval", "0"], "positive integer"),
        (["--method", "copy", "--interval", "-3"], "positive integer"),
        (["--method", "copy", "--max-clips", "0"], "positive integer"),
    ],
)
def test_argument_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--model", "tiny", "--data", "synthetic:val", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data(tmp_path, capsys):
    _fails(
        capsys,
        ["eval", "--model", "tiny", "--data", str(tmp_path / "nothing"), "--method", "copy"],
        "does not exist",
    )
    _fails(capsys, ["eval", "--model", "tiny", "--data", "synthetic:abc", "--method", "copy"], "synthetic:")
    _fails(
        capsys,
        ["infer", str(tmp_path / "none.mp4"), "--model", "tiny", "--out", str(tmp_path / "o.mp4")],
        "does not exist",
    )


def test_corrupt_video(tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    _fails(
        capsys, ["eval", "--model", "tiny", "--data", str(bad), "--method", "copy", "--quiet"], "broken.mp4"
    )
    _fails(capsys, ["infer", str(bad), "--model", "tiny", "--out", str(tmp_path / "o.mp4")], "broken.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_mismatched_label_sizes(tmp_path, capsys):
    folder = _frames_folder(tmp_path / "clip", label_size=(32, 32))
    _fails(
        capsys,
        ["eval", "--model", "tiny", "--data", str(folder), "--method", "copy", "--quiet"],
        "label map '000.png' is 32x32 but its frame",
    )


def test_learned_method_without_weights_refuses(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    save_checkpoint(build_model("tiny"), bundle / "segmenter")
    write_bundle_index(bundle, "segmenter", {})
    folder = _frames_folder(tmp_path / "clip")
    _fails(
        capsys,
        ["eval", "--model", str(bundle), "--data", str(folder), "--method", "query_flow", "--quiet"],
        "no trained weights for method 'query_flow'",
    )


def test_other_user_errors(tmp_path, video, capsys):
    _fails(
        capsys,
        ["eval", "--model", "nonexistent_model", "--data", "synthetic:val", "--method", "copy"],
        "model 'nonexistent_model' does not exist",
    )
    _fails(capsys, ["infer", str(video), "--model", "tiny", "--out", str(tmp_path / "o.gif")], "--out")
    _fails(
        capsys,
        ["infer", str(video), "--model", "tiny", "--out", str(tmp_path / "o.mp4"), "--alpha", "2"],
        "--alpha",
    )
