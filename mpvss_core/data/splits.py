"""The fixed splits of the built-in synthetic benchmark: lists of seeds, with their clips' length and size.

Kept apart from the renderer (`data.synthetic`) so that naming a split (`synthetic:val`,
`data.readers.detect_source`) does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SIZE = (256, 512)
DEFAULT_FRAMES = 30


@dataclass(frozen=True)
class Split:
    """A fixed split of the benchmark: clips `seed_base + i` for i < num_clips."""

    name: str
    seed_base: int
    num_clips: int
    num_frames: int = DEFAULT_FRAMES
    size: tuple[int, int] = DEFAULT_SIZE

    @property
    def seeds(self) -> list[int]:
        return [self.seed_base + i for i in range(self.num_clips)]


# Sizes are argued in docs/benchmark.md: 2,400 training frames give a tiny
# Mask2Former ~10 epochs-worth of distinct crops in a few CPU hours; 480 validation frames keep a
# full evaluation of one method under a few minutes on 2 cores.
SPLITS: dict[str, Split] = {
    "train": Split("train", seed_base=100_000, num_clips=80),
    "val": Split("val", seed_base=900_000, num_clips=16),
}
