"""Video consistency mVC_n (docs/method-notes.md §3.3), as the MRCFA `VC_perclip.py` script computes it
(the VSPW benchmark's script differs only in which short clips it skips: `VC_SKIP_RULES`).

`window_vc` scores one window of n frames, `video_consistency` one clip (windows vectorised with
cumulative change counts), and `VideoConsistencyAccumulator` / `pool_video_consistency` pool all
windows of many clips, which is the benchmark number (not a mean of per-clip means). Clips with
L <= `VC_MIN_LENGTH` frames are skipped, as in the MRCFA script (the default rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

VC_MIN_LENGTH = 16  # MRCFA `VC_perclip.py`: clips with L <= 16 are skipped, for VC8 as well as VC16
# Which clips mVC_n skips: "mrcfa" (the default, as MRCFA and the numbers the paper compares with)
# skips L <= 16 for every n; "vspw" (the VSPW benchmark's `VC_perclip.py`) skips only L <= n.
VC_SKIP_RULES = ("mrcfa", "vspw")


def vc_min_length(n: int, rule: str = "mrcfa") -> int:
    """The `min_length` of mVC_n under a skip rule of `VC_SKIP_RULES` (clips with L <= it are skipped)."""
    if rule not in VC_SKIP_RULES:
        raise ValueError(f"unknown VC skip rule {rule!r}; expected one of {VC_SKIP_RULES}")
    return VC_MIN_LENGTH if rule == "mrcfa" else int(n)


def _as_label_stack(x: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    arr = np.stack([np.asarray(f) for f in x]) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 3:
        raise ValueError(f"{what} must be TxHxW (or a list of HxW), got shape {arr.shape}")
    return arr


def window_vc(
    gts_window: np.ndarray | Sequence[np.ndarray], preds_window: np.ndarray | Sequence[np.ndarray]
) -> float:
    """VC of one window of n frames.

    G = pixels whose GT equals the window's first GT in every frame (the ignore id counts as a label:
    an always-ignored pixel is in G), P = the same for the prediction, VC = |G & P| / |G|.

    Args:
        gts_window: nxHxW (or list of HxW) GT ids.
        preds_window: nxHxW predicted ids.

    Returns:
        VC in [0, 1]; NaN if no pixel has a constant GT.
    """
    g = _as_label_stack(gts_window, "gts_window")
    p = _as_label_stack(preds_window, "preds_window")
    if g.shape != p.shape:
        raise ValueError(f"GT window {g.shape} and prediction window {p.shape} differ")
    gc = (g == g[0]).all(axis=0)
    pc = (p == p[0]).all(axis=0)
    n_g = int(gc.sum())
    if n_g == 0:
        return float("nan")
    return float((gc & pc).sum() / n_g)


def _window_starts(length: int, n: int, skip_last_window: bool) -> int:
    """Number of window starts: range(L - n) as the reference (last window excluded) or range(L - n + 1)."""
    return max(0, length - n + (0 if skip_last_window else 1))


def _clip_window_vcs(
    gts: np.ndarray, preds: np.ndarray, n: int, skip_last_window: bool, chunk: int = 1 << 18
) -> np.ndarray:
    """VC of every window of one clip, vectorised.

    "Equal to the first frame of the window in all n frames" is the same as "no change between any two
    consecutive frames of the window", so per pixel a cumulative count of changes answers every window
    with one subtraction. Pixels are processed in chunks to bound memory on long, large clips.
    """
    length = gts.shape[0]
    nw = _window_starts(length, n, skip_last_window)
    if nw == 0:
        return np.zeros(0)
    g = gts.reshape(length, -1)
    p = preds.reshape(length, -1)
    starts = np.arange(nw)
    stable_gt = np.zeros(nw, np.int64)
    stable_both = np.zeros(nw, np.int64)
    for lo in range(0, g.shape[1], chunk):
        gs, ps = g[:, lo : lo + chunk], p[:, lo : lo + chunk]
        cg = np.zeros(gs.shape, np.int32)
        cp = np.zeros(ps.shape, np.int32)
        np.cumsum(gs[1:] != gs[:-1], axis=0, out=cg[1:])
        np.cumsum(ps[1:] != ps[:-1], axis=0, out=cp[1:])
        # Window i covers frames i..i+n-1: it is constant iff no change between frame i and i+n-1.
        gconst = cg[starts + n - 1] == cg[starts]
        pconst = cp[starts + n - 1] == cp[starts]
        stable_gt += gconst.sum(axis=1)
        stable_both += (gconst & pconst).sum(axis=1)
    out = np.full(nw, np.nan)
    has = stable_gt > 0
    out[has] = stable_both[has] / stable_gt[has]
    return out


def _check_vc_args(n: int, min_length: int) -> None:
    if int(n) < 1:
        raise ValueError(f"window length n must be >= 1, got {n}")
    if int(min_length) < 0:
        raise ValueError(f"min_length must be >= 0, got {min_length}")


def video_consistency(
    gts: np.ndarray | Sequence[np.ndarray],
    preds: np.ndarray | Sequence[np.ndarray],
    n: int,
    min_length: int = VC_MIN_LENGTH,
    skip_last_window: bool = True,
    per_window: bool = False,
) -> float | np.ndarray:
    """VC_n of ONE clip (docs/method-notes.md §3.3).

    Conventions, as the VSPW / MRCFA `VC_perclip.py` scripts:
    - a clip with L <= `min_length` frames is skipped (16 by default, for every n, as MRCFA does);
    - window starts i = 0 .. L-n-1, i.e. Python `range(L - n)`: the last possible window (starting at
      L-n) is excluded; `skip_last_window=False` includes it;
    - VC_i = |G & P| / |G| with G the pixels whose GT is constant over frames i..i+n-1 (the ignore id
      included: a pixel ignored in all n frames is in G) and P those whose prediction is constant; a
      window with empty G is NaN;
    - VC does not check correctness, only that predictions stay put where the GT does. GT frames must
      be densely labelled: an unlabelled (all-ignore) frame would make every pixel look constant.

    Args:
        gts: TxHxW (or list of HxW) GT ids, frames in temporal order.
        preds: TxHxW predicted ids, same shape.
        n: window length in frames (8 and 16 in the paper).
        min_length: clips with L <= min_length are skipped (use 0 to keep every clip).
        skip_last_window: exclude the window starting at L-n (reference behaviour).
        per_window: return the array of VC_i instead of their mean.

    Returns:
        The clip's nanmean of VC_i (NaN if the clip is skipped or has no usable window), or with
        `per_window=True` a float64 array of VC_i (empty if skipped). To pool many clips as the paper
        does, use `VideoConsistencyAccumulator`, not a mean of these per-clip means.
    """
    _check_vc_args(n, min_length)
    g = _as_label_stack(gts, "gts")
    p = _as_label_stack(preds, "preds")
    if g.shape != p.shape:
        raise ValueError(f"GT stack {g.shape} and prediction stack {p.shape} differ")
    too_short = g.shape[0] <= min_length
    vcs = np.zeros(0) if too_short else _clip_window_vcs(g, p, int(n), skip_last_window)
    if per_window:
        return vcs
    return _nanmean(vcs)


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    if x.size == 0 or np.isnan(x).all():
        return float("nan")
    return float(np.nanmean(x))


class VideoConsistencyAccumulator:
    """mVC_n pooled over many clips: nanmean over all windows of all clips (not a mean of clip means).

    Same conventions as `video_consistency` (skip clips with L <= `min_length`, `range(L - n)` window
    starts unless `skip_last_window=False`).

    Attributes:
        per_window: one float64 array of VC_i per clip seen (empty for skipped clips), in update order.
        clip_names: the names passed to `update` (or None), aligned with `per_window`.
    """

    def __init__(self, n: int, min_length: int = VC_MIN_LENGTH, skip_last_window: bool = True) -> None:
        _check_vc_args(n, min_length)
        self.n = int(n)
        self.min_length = int(min_length)
        self.skip_last_window = bool(skip_last_window)
        self.per_window: list[np.ndarray] = []
        self.clip_names: list[str | None] = []

    def reset(self) -> None:
        self.per_window.clear()
        self.clip_names.clear()

    def update(
        self,
        gts: np.ndarray | Sequence[np.ndarray],
        preds: np.ndarray | Sequence[np.ndarray],
        name: str | None = None,
    ) -> np.ndarray:
        """Add one clip (TxHxW GT and prediction stacks). Returns its VC_i array (empty if skipped)."""
        vcs = video_consistency(gts, preds, self.n, self.min_length, self.skip_last_window, per_window=True)
        self.per_window.append(vcs)
        self.clip_names.append(name)
        return vcs

    def merge(self, other: VideoConsistencyAccumulator) -> VideoConsistencyAccumulator:
        if (other.n, other.min_length, other.skip_last_window) != (
            self.n,
            self.min_length,
            self.skip_last_window,
        ):
            raise ValueError("cannot merge VC accumulators with different n / min_length / skip_last_window")
        self.per_window.extend(other.per_window)
        self.clip_names.extend(other.clip_names)
        return self

    @property
    def windows(self) -> np.ndarray:
        """All VC_i of all clips, concatenated (float64, NaN for windows with empty G)."""
        return np.concatenate(self.per_window) if self.per_window else np.zeros(0)

    @property
    def num_windows(self) -> int:
        return int(sum(len(v) for v in self.per_window))

    @property
    def num_clips(self) -> int:
        """Clips that contributed at least one window."""
        return int(sum(len(v) > 0 for v in self.per_window))

    @property
    def num_skipped(self) -> int:
        """Clips that contributed no window (too short)."""
        return int(sum(len(v) == 0 for v in self.per_window))

    def value(self) -> float:
        """mVC_n in [0, 1]: nanmean over all pooled windows; NaN if there is none."""
        return _nanmean(self.windows)

    mean = value

    def per_clip(self) -> np.ndarray:
        """float64 per-clip nanmean of VC_i, NaN for skipped clips (for tables; not the benchmark number)."""
        return np.asarray([_nanmean(v) for v in self.per_window], np.float64)


def pool_video_consistency(
    clips: Iterable[tuple[np.ndarray | Sequence[np.ndarray], np.ndarray | Sequence[np.ndarray]]],
    n: int,
    min_length: int = VC_MIN_LENGTH,
    skip_last_window: bool = True,
) -> float:
    """mVC_n over (gts, preds) pairs, one per clip, pooled as the paper does (see the accumulator)."""
    acc = VideoConsistencyAccumulator(n, min_length, skip_last_window)
    for gts, preds in clips:
        acc.update(gts, preds)
    return acc.value()
