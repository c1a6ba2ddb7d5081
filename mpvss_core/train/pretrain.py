"""FlowNet-style flow pre-training, and starting a flow module from another model's (our addition).

The paper's optical-flow baselines are FlowNets pre-trained on synthetic flow; the official MPVSS code
starts its flow module from random weights and trains it through the segmentation loss alone. On a CPU
budget a stage-1 step is dominated by Mask2Former on the key frames, so a flow module learns slowly
there. Pre-training (`mpvss train flow --method pixel_flow --pretrain-flow`) trains only the motion
encoder and the pixel-wise flow decoder, on the exact flow of the synthetic pairs (end-point error,
`dense_flow_loss`), without running the segmenter at all; the heads keep the segmenter's stage-0
weights. The result is a complete pixel_flow model (a FlowNet baseline), and `--init-flow` starts a
later stage 1 from it:

    loaded, kept = init_flow_from(model, "query_flow", "runs/flownet/last")  # whole submodules that fit

For `query_flow` only the encoder matches (its pixel decoder reads the transformer's refined tokens,
whose channels differ), so only the encoder is taken; for `pixel_flow` the whole flow module is.

A query-based method's `--pretrain-flow` trains its whole flow module instead (`query_pretrain.py`).
"""

from __future__ import annotations

from torch import Tensor, nn

from mpvss_core.errors import InputError
from mpvss_core.methods.table import method_spec
from mpvss_core.modeling.flow_loss import dense_flow_loss
from mpvss_core.modeling.mpvss import MPVSS

__all__ = ["FlowPretrainStep", "flow_groups", "init_flow_from"]


def flow_groups(model: MPVSS) -> dict[str, nn.Module]:
    """The flow module's submodules that are taken over (or not) as a whole, by name."""
    decoder = model.flow.decoder
    groups: dict[str, nn.Module | None] = {
        "encoder": model.flow.encoder,
        "transformer": decoder.transformer,
        "query_flow_head": decoder.query_flow_head,
        "pixel_decoder": decoder.pixel_decoder,
        "fusion": decoder.fusion,
    }
    return {name: m for name, m in groups.items() if m is not None}


def init_flow_from(model: MPVSS, method: str, source: str) -> tuple[list[str], list[str]]:
    """Copy into `model`'s flow module every submodule of `source`'s whose tensors all match in name and
    shape (a submodule is never half-copied).

    Args:
        model: the stage-1 model about to train; method: the method it trains.
        source: a model spec with a trained flow module (a run folder, checkpoint or bundle); of a
            bundle, the entry of the same method if it has one, else its pixel_flow entry.
    Returns:
        (names of the submodules copied, names left at their initialisation).
    Raises:
        InputError: `source` has no trained flow module, or no submodule of it fits.
    """
    from mpvss_core.spec import resolve_model

    spec = resolve_model(source)
    # methods running their own flow module (not per_frame, nor bi_pixel_flow's borrowed one)
    learned = [m for m in spec.methods if method_spec(m).weights == m and "flow" in spec.entry(m).trained]
    if not learned:
        raise InputError(f"--init-flow {source!r}: it has no trained flow module")
    name = method if method in learned else ("pixel_flow" if "pixel_flow" in learned else learned[0])
    src = flow_groups(spec.load(name))
    loaded, kept = [], []
    for group, module in flow_groups(model).items():
        theirs = src.get(group)
        ours = module.state_dict()
        if theirs is not None and _same_shapes(ours, theirs.state_dict()):
            module.load_state_dict(theirs.state_dict(), strict=True)
            loaded.append(group)
        else:
            kept.append(group)
    if not loaded:
        raise InputError(f"--init-flow {source!r}: no part of its {name} flow module fits a {method} one")
    return loaded, kept


def _same_shapes(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)


class FlowPretrainStep(nn.Module):
    """Pre-training forward + loss: the pixel-wise flow of (target, key) against the exact flow."""

    def __init__(self, model: MPVSS) -> None:
        super().__init__()
        if model.flow.decoder.pixel_decoder is None or model.flow.decoder.transformer is not None:
            raise InputError(
                "FlowPretrainStep trains a pixel-wise flow alone (FlowNet-style): a query-based flow module "
                "is pre-trained by query_pretrain.QueryFlowPretrainStep"
            )
        self.flow = model.flow

    def forward(self, keys: Tensor, targets: Tensor, flow: Tensor, flow_valid: Tensor) -> tuple[Tensor, dict]:
        """keys, targets Bx3xHxW RGB 0..255; exact flow target -> key Bx2xHxW and its validity BxHxW
        -> (loss, parts)."""
        out = self.flow.decoder(self.flow.encoder(targets, keys))
        loss = dense_flow_loss(out.pixel_flow, flow, flow_valid)
        return loss, {"loss_flow": float(loss.detach())}
