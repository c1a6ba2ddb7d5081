"""Training data: frames and (key, target) pairs of a VSPW-layout dataset, with augmentation.

    ds = FrameDataset.open("data/synth", "train")          # the synthetic benchmark's train split
    rng = step_rng(seed=0, step=12, rank=0)
    images, labels = ds.frame_batch(rng, batch=4, aug=AugConfig())      # Bx3xHxW float, BxHxW long
    pairs = ds.pair_batch(rng, batch=4, aug=AugConfig(), max_gap=10)   # .keys .targets .labels
    pairs = ds.pair_batch(rng, 4, AugConfig(), with_flow=True)          # + .flow .flow_valid (exact)

Sampling follows the official data mappers (docs/method-notes.md §1.12): stage 0 takes one random labelled
frame of a random clip that has one; stage 1 picks t uniformly, t' uniformly in [t-10, t+10] \\ {t}
clipped to the clip, and uses the earlier frame as the key and the later one as the target (gaps
1..10, always forward; `reverse` > 0 swaps that share of the pairs, our addition for the
bi-directional methods, whose next key frame comes after the target). On a clip with sparse labels
(Cityscapes: one labelled frame per 30-frame snippet) the pair is drawn from its labelled frames
directly: a random labelled target t >= 1 and a gap uniform in 1..min(10, t), key = t - gap; so any
mix of dense and sparse clips never retries.

Sources (`FrameDataset.open`): a VSPW-layout root (the synthetic benchmark's written splits), a
Cityscapes root (`leftImg8bit_sequence/` + `gtFine/`, read lazily, labelIds -> train ids), or any
other `--data` the evaluation reads (a folder of videos or frame folders, one video, a zip): those
clips are decoded once into memory, so the label-free adaptation runs on your own footage. Both
frames of a pair get the *same* augmentation (scale, crop, flip, colour), as the official per-clip
counters do. Every random draw of a step comes from `step_rng(seed, step, rank)`, so a run resumed at
step s sees exactly the samples an uninterrupted run would, and DDP ranks draw disjoint streams with no
sampler state to save (the role DistributedSampler plays for epoch-based loaders).

With `with_flow=True` a pair also carries the exact flow from the target to the key frame, chained
from the clip's stored per-frame flows (`flow/<t>.png`, written by the synthetic benchmark; see
`pair_flow.py`) and put through the same augmentation (resized flows are rescaled, flips negate dx).

Raw label ids are mapped as VSPW's evaluator does: 0 -> 255 (ignore), 1..K -> 0..K-1, 255 -> 255.

Class balance (`BalanceConfig`, off by default; not in the paper's recipe): stage 0 can draw frames
by *repeat-factor sampling* (Gupta et al., LVIS, CVPR 2019): with f_c the fraction of labelled
training frames that contain class c, a frame's weight is max over its classes of
max(1, sqrt(t / f_c)), so frames showing rare classes are drawn more often; and with probability
`focus` the random crop is placed so that it contains a random pixel of the frame's rarest class
(small objects are otherwise often cropped away). The statistics are read once from the label PNGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers import Source, detect_source
from mpvss_core.data.readers.common import list_images
from mpvss_core.data.readers.vspw import list_vspw_clips
from mpvss_core.data.writer import read_kitti_flow
from mpvss_core.errors import InputError
from mpvss_core.io import read_image_rgb, read_label_png
from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.train.augment import AugConfig, augment, pooled_rng
from mpvss_core.train.pair_flow import SceneFlows, chain_flows

__all__ = ["AugConfig", "BalanceConfig", "ClipFrames", "FrameDataset", "PairBatch", "augment", "step_rng"]


def step_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The random stream of one training step of one DDP rank (stateless, hence resumable)."""
    return np.random.default_rng([int(seed), int(step), int(rank)])


@dataclass(frozen=True)
class BalanceConfig:
    """Class-balanced stage-0 sampling (see the module docstring); the defaults switch it off."""

    threshold: float = 0.0  # t of repeat-factor sampling; 0 = uniform frames (the official sampler)
    focus: float = 0.0  # probability of a crop placed on a pixel of the frame's rarest class

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"class-balance threshold must be within 0..1, got {self.threshold}")
        if not 0.0 <= self.focus <= 1.0:
            raise InputError(f"rare-class crop probability must be within 0..1, got {self.focus}")

    @property
    def active(self) -> bool:
        return self.threshold > 0 or self.focus > 0


@dataclass
class ClipFrames:
    """One clip: frame files and, per frame, its mask file and its flow file (t -> t-1) or None; or a
    clip already in memory (`loaded`, decoded from a video or frames folder).

    `lut` maps the mask files' raw ids to class ids (None: VSPW's raw-1, 0 and 255 ignored).
    """

    name: str
    frames: list[Path] | list[int]
    masks: list[Path | None] | list[bool | None]
    flows: list[Path | None] = field(default_factory=list)
    lut: np.ndarray | None = None
    loaded: Clip | None = None

    @property
    def has_flow(self) -> bool:
        return len(self.flows) == len(self.frames) and all(f is not None for f in self.flows[1:])

    @property
    def labelled(self) -> list[int]:
        return [i for i, m in enumerate(self.masks) if m is not None]


def _label_lut(num_classes: int) -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    lut[1 : num_classes + 1] = np.arange(num_classes, dtype=np.uint8)
    return lut


class FrameDataset:
    """Clips of a VSPW-layout dataset, read frame by frame on demand (nothing is held in memory)."""

    def __init__(
        self, clips: list[ClipFrames], num_classes: int, root: Path | None = None, cache: bool = False
    ) -> None:
        if not clips:
            raise InputError("the training dataset has no clips")
        self.clips = clips
        self.num_classes = num_classes
        self.root = root
        self._lut = _label_lut(num_classes)
        # Decoded frames kept in memory (the synthetic train split is ~1.3 GB decoded): on a CPU run,
        # decoding JPEG + PNG is ~10% of a step.
        self.cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] | None = {} if cache else None
        # per-frame flows, float16 when cached (~0.5 MB a frame at 256x512; < 0.01 px lost at |flow| < 32)
        self.flow_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = {} if cache else None
        self._balance: _Balance | None = None
        self.scene_flows = SceneFlows()  # flows of pairs with the key after the target (rendered)

    @classmethod
    def open(
        cls,
        root: str | Path,
        split: str | None,
        num_classes: int,
        max_clips: int | None = None,
        cache: bool = False,
    ) -> FrameDataset:
        """Clips of `root` (see the module docstring for the sources; `data.readers.detect_source`
        tells them apart).

        `split` selects `<root>/<split>.txt` of a VSPW root, the split folder of a Cityscapes root
        (default train); None or "" takes every clip of a VSPW root. A split whose file or folder is
        missing is an InputError, as in evaluation.
        """
        src = detect_source(root, split)
        if src.kind in ("synthetic_split", "synthetic_seed"):
            raise InputError(
                f"'{src.text}': training reads written clips; write the benchmark once with "
                f"`mpvss data synth --split {src.split or 'train'} --out data/synth` and train on data/synth"
            )
        root = Path(root)
        if src.kind == "cityscapes_root":
            clips = _cityscapes_clips(root, src.split or "train", num_classes, max_clips)
            return cls(clips, num_classes, root, cache)
        if src.kind != "vspw_root":
            return cls(_footage_clips(src, max_clips), num_classes, root, cache)
        clip_dirs = list_vspw_clips(root, src.split)[:max_clips]
        clips = []
        for d in clip_dirs:
            frames = list_images(d / "origin")
            masks = {p.stem: p for p in list_images(d / "mask")}
            flows = {p.stem: p for p in list_images(d / "flow")} if (d / "flow").is_dir() else {}
            if frames:
                stems = [f.stem for f in frames]
                per_mask, per_flow = [masks.get(s) for s in stems], [flows.get(s) for s in stems]
                clips.append(ClipFrames(d.name, frames, per_mask, per_flow))
        return cls(clips, num_classes, root, cache)

    # --- reading -------------------------------------------------------------------------------------
    def read(self, clip: int, frame: int, with_label: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(HxWx3 uint8 RGB, HxW uint8 class ids with 255 = ignore, or None)."""
        if self.cache is not None:
            if (clip, frame) not in self.cache:
                self.cache[(clip, frame)] = self._read(clip, frame, True)
            image, label = self.cache[(clip, frame)]
            return image, label if with_label else None
        return self._read(clip, frame, with_label)

    def _read(self, clip: int, frame: int, with_label: bool) -> tuple[np.ndarray, np.ndarray | None]:
        c = self.clips[clip]
        if c.loaded is not None:
            image = c.loaded.frames[frame]
            if not with_label or c.masks[frame] is None:
                return image, None
            label = c.loaded.labels_at_frame_size(frame)  # training pairs a frame with its own pixels
            return image, np.where(label < self.num_classes, label, IGNORE_INDEX).astype(np.uint8)
        image = read_image_rgb(c.frames[frame])
        mask = c.masks[frame] if with_label else None
        if mask is None:
            return image, None
        raw = read_label_png(mask)
        if raw.shape != image.shape[:2]:
            (h, w), (fh, fw) = raw.shape, image.shape[:2]
            raise InputError(f"mask '{mask}' is {w}x{h}, its frame is {fw}x{fh}")
        return image, (self._lut if c.lut is None else c.lut)[raw]

    @property
    def has_flow(self) -> bool:
        """Every clip stores its per-frame exact flows (the synthetic benchmark's written splits do)."""
        return all(c.has_flow for c in self.clips)

    def read_flow(self, clip: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact flow from `frame` to `frame - 1`: (HxWx2 float, HxW bool validity)."""
        path = self.clips[clip].flows[frame] if frame < len(self.clips[clip].flows) else None
        if path is None:
            raise InputError(f"clip {self.clips[clip].name} has no flow file for frame {frame}")
        if self.flow_cache is None:
            return read_kitti_flow(path)
        if (clip, frame) not in self.flow_cache:
            flow, valid = read_kitti_flow(path)
            self.flow_cache[(clip, frame)] = (flow.astype(np.float16), valid)
        return self.flow_cache[(clip, frame)]

    def pair_flow(self, clip: int, key: int, target: int) -> tuple[Tensor, Tensor]:
        """Exact flow target -> key (2xHxW float, HxW bool): chained over the frames between when the
        key comes first; rendered from the clip's scene when it comes after the target (the stored
        flows point back only: t -> t-1; `pair_flow.SceneFlows`)."""
        if key < target:
            return chain_flows([self.read_flow(clip, t) for t in range(target, key, -1)])
        return self.scene_flows.flow(self.clips[clip].name, self.clips[clip].frames[0], target, key)

    # --- class statistics ----------------------------------------------------------------------------
    def class_presence(self) -> tuple[list[tuple[int, int]], np.ndarray]:
        """(labelled (clip, frame) pairs, NxK bool: which classes each of them shows), read once."""
        frames = [(c, f) for c, clip in enumerate(self.clips) for f in clip.labelled]
        present = np.zeros((len(frames), self.num_classes), bool)
        for n, (c, f) in enumerate(frames):
            _, label = self.read(c, f)
            ids = np.unique(label)
            present[n, ids[ids < self.num_classes]] = True
        return frames, present

    def balance_stats(self, threshold: float) -> _Balance:
        """Repeat factors of the labelled frames for threshold t (computed once per dataset and t)."""
        if self._balance is None or self._balance.threshold != threshold:
            frames, present = self.class_presence()
            self._balance = _Balance.from_presence(frames, present, threshold)
        return self._balance

    # --- sampling --------------------------------------------------------------------------------------
    def sample_frame(self, rng: np.random.Generator, labelled: bool = True) -> tuple[int, int]:
        """(clip, frame) of a random labelled frame of a random clip that has one."""
        usable = [c for c, clip in enumerate(self.clips) if (clip.labelled if labelled else clip.frames)]
        if not usable:
            raise InputError("no labelled frames found in the training clips")
        c = usable[int(rng.integers(len(usable)))]
        choices = self.clips[c].labelled if labelled else range(len(self.clips[c].frames))
        return c, int(choices[int(rng.integers(len(choices)))])

    def sample_pair(
        self, rng: np.random.Generator, max_gap: int = 10, labelled: bool = True, reverse: float = 0.0
    ) -> tuple[int, int, int]:
        """(clip, key frame, target frame) with key < target, target labelled when `labelled` (see the
        module docstring: the official sampler on densely labelled clips, labelled targets on sparse).

        `reverse` > 0 (our addition): on densely labelled clips, that share of the pairs has the key
        frame AFTER the target (the same two frames, roles swapped), the direction a bi-directional
        method's next key frame needs. At 0 nothing extra is drawn, so the stream is the official one.
        """
        usable = self._pair_clips(labelled)
        if not usable:
            raise InputError(
                "no clip with two frames and a labelled frame after its first one found"
                if labelled
                else "no clip with two frames found"
            )
        c = usable[int(rng.integers(len(usable)))]
        clip = self.clips[c]
        n = len(clip.frames)
        if labelled and len(clip.labelled) < n:  # sparse labels: a labelled target, a gap before it
            targets = [t for t in clip.labelled if t >= 1]
            target = targets[int(rng.integers(len(targets)))]
            gap = 1 + int(rng.integers(min(max_gap, target)))
            return c, target - gap, target
        t = int(rng.integers(n))
        lo, hi = max(0, t - max_gap), min(n - 1, t + max_gap)
        others = [u for u in range(lo, hi + 1) if u != t]
        u = others[int(rng.integers(len(others)))]
        if reverse > 0 and rng.random() < reverse:
            return c, max(t, u), min(t, u)
        return c, min(t, u), max(t, u)

    def _pair_clips(self, labelled: bool) -> list[int]:
        """Clips a pair can come from: two frames, and (labelled) a labelled frame after the first."""
        if not hasattr(self, "_pairable"):
            self._pairable: dict[bool, list[int]] = {}
        if labelled not in self._pairable:
            self._pairable[labelled] = [
                c
                for c, clip in enumerate(self.clips)
                if len(clip.frames) >= 2 and (not labelled or any(t >= 1 for t in clip.labelled))
            ]
        return self._pairable[labelled]

    # --- batches ------------------------------------------------------------------------------------
    def frame_batch(
        self,
        rng: np.random.Generator,
        batch: int,
        aug: AugConfig,
        balance: BalanceConfig | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Bx3xHxW float RGB 0..255 images and BxHxW int64 labels (stage 0).

        With an active `balance`, frames are drawn by their repeat factors and some crops are placed on
        the frame's rarest class (module docstring); otherwise a uniform clip, then a uniform frame.
        """
        images, labels = [], []
        stats = self.balance_stats(balance.threshold) if balance is not None and balance.active else None
        for _ in range(batch):
            if stats is not None and balance is not None and balance.threshold > 0:
                c, f = stats.frames[int(rng.choice(len(stats.frames), p=stats.probs))]
            else:
                c, f = self.sample_frame(rng)
            image, label = self.read(c, f)
            focus = None
            if stats is not None and balance is not None and rng.random() < balance.focus:
                focus = stats.focus_pixel(label, rng)
            (img,), lab, _ = augment([image], label, aug, rng, focus=focus)
            images.append(img)
            labels.append(lab)
        return torch.stack(images), torch.stack(labels)

    def pair_batch(
        self,
        rng: np.random.Generator,
        batch: int,
        aug: AugConfig,
        max_gap: int = 10,
        labelled: bool = True,
        with_flow: bool = False,
        reverse: float = 0.0,
        aug_pool: tuple[int, int] | None = None,
    ) -> PairBatch:
        """`batch` (key, target) pairs with the target's labels and, on request, the exact flow;
        `reverse`: the share with the key after the target (`sample_pair`); `aug_pool` (seed, N): each
        pair augmented with one of N fixed draws of its key frame (`augment.pooled_rng`), named
        in `key_ids`."""
        if with_flow and not self.has_flow:
            raise InputError(
                "exact-flow supervision needs per-frame flow files (<clip>/flow/<frame>.png, as the "
                "synthetic benchmark writes them); this dataset has none"
            )
        keys, targets, labels, flows, valids, ids = [], [], [], [], [], []
        for _ in range(batch):
            c, k, t = self.sample_pair(rng, max_gap, labelled, reverse)
            key_img, _ = self.read(c, k, with_label=False)
            tgt_img, label = self.read(c, t, with_label=labelled)
            flow = self.pair_flow(c, k, t) if with_flow else None
            aug_rng, draw = (rng, -1) if aug_pool is None else pooled_rng(aug_pool[0], c, k, rng, aug_pool[1])
            ids.append((c, k, draw))
            (ki, ti), lab, aug_flow = augment([key_img, tgt_img], label, aug, aug_rng, flow)
            keys.append(ki)
            targets.append(ti)
            labels.append(lab)
            if aug_flow is not None:
                flows.append(aug_flow[0])
                valids.append(aug_flow[1])
        return PairBatch(
            torch.stack(keys),
            torch.stack(targets),
            torch.stack(labels) if labelled else None,
            torch.stack(flows) if with_flow else None,
            torch.stack(valids) if with_flow else None,
            ids if aug_pool is not None else None,
        )


@dataclass
class _Balance:
    """Repeat-factor statistics of a dataset's labelled frames (see the module docstring)."""

    threshold: float
    frames: list[tuple[int, int]]
    probs: np.ndarray  # N, sums to 1
    class_factor: np.ndarray  # K: max(1, sqrt(t / f_c)), 0 for classes never seen

    @classmethod
    def from_presence(cls, frames: list[tuple[int, int]], present: np.ndarray, threshold: float) -> _Balance:
        if not frames:
            raise InputError("class balance needs labelled training frames")
        freq = present.mean(0)  # f_c
        factor = np.zeros(present.shape[1])
        seen = freq > 0
        t = threshold if threshold > 0 else 1.0  # focus-only: rank classes by rarity all the same
        factor[seen] = np.maximum(1.0, np.sqrt(t / freq[seen]))
        if threshold > 0:
            weights = np.where(present, factor[None], 0.0).max(1)
            weights = np.maximum(weights, 1.0)  # a frame of only ignored pixels keeps weight 1
        else:
            weights = np.ones(len(frames))
        return cls(threshold, frames, weights / weights.sum(), factor)

    def focus_pixel(self, label: np.ndarray | None, rng: np.random.Generator) -> tuple[int, int] | None:
        """A random pixel (y, x) of the rarest class in `label` (the largest class factor), or None."""
        if label is None:
            return None
        ids = np.unique(label)
        ids = ids[ids < len(self.class_factor)]
        if not len(ids):
            return None
        rarest = int(ids[np.argmax(self.class_factor[ids])])
        ys, xs = np.nonzero(label == rarest)
        n = int(rng.integers(len(ys)))
        return int(ys[n]), int(xs[n])


@dataclass
class PairBatch:
    """Stage-1 batch: keys, targets Bx3xHxW float RGB 0..255 (key earlier); target labels BxHxW int64
    (None when unlabelled); exact flow target -> key Bx2xHxW float and its validity BxHxW bool (None
    unless requested)."""

    keys: Tensor
    targets: Tensor
    labels: Tensor | None
    flow: Tensor | None = None
    flow_valid: Tensor | None = None
    key_ids: list[tuple[int, int, int]] | None = None  # (clip, key frame, augmentation draw) with a pool


def _cityscapes_clips(root: Path, split: str, num_classes: int, max_clips: int | None) -> list[ClipFrames]:
    """Every snippet of a Cityscapes split, read lazily (frames and gtFine labelIds by file)."""
    from mpvss_core.data.readers.cityscapes import cityscapes_snippet_files, labelid_lut

    lut = labelid_lut(num_classes)
    clips = []
    for name, frames, labels in cityscapes_snippet_files(root, split)[:max_clips]:
        clips.append(ClipFrames(name, frames, labels, [], lut))
    return clips


def _footage_clips(src: Source, max_clips: int | None) -> list[ClipFrames]:
    """Any other source `--data` reads (folders of videos / frames, a video, a zip): decoded once."""
    from mpvss_core.evaluation.datasets import resolve_data

    clips = []
    for entry in resolve_data(src.text, max_clips=max_clips).entries:
        clip = entry.load()
        labelled = [bool(x) or None for x in clip.labelled]  # True where a label map exists
        clips.append(
            ClipFrames(clip.name, list(range(clip.num_frames)), [x or None for x in labelled], loaded=clip)
        )
    return clips
