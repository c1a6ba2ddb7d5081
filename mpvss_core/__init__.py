"""MPVSS Studio core library: model, propagation methods, evaluation, data and I/O (no Streamlit; it
never imports `analysis`, `app` or `mpvss_cli`).

The four front doors (docs/architecture.md §3), each concept in one place:

    from mpvss_core.methods import METHODS, method_spec        # the method table (no torch)
    from mpvss_core.spec import resolve_model                  # a model string, resolved once
    from mpvss_core.predictor import VideoPredictor            # init_video / propagate / predict_frame
    from mpvss_core.evaluation.runner import run_evaluation    # the scorer, cached by content

    spec = resolve_model("default")
    predictor = VideoPredictor(spec, "query_flow")
    state = predictor.init_video("clip.mp4", schedule=5)
    for r in predictor.propagate(state):
        r.index, r.is_key, r.key_index, r.labels

What it holds (docs/architecture.md §1): the packages `methods/` (the table, the propagators, the DIS
engine), `modeling/` (the networks, tensors only), `checkpoints/` (the formats on disk),
`evaluation/` (scorer, datasets, costs and FLOP counting, results store), `metrics/`, `data/` (the
benchmark and the readers), `io/` (untrusted files in, atomic outputs out), `viz/`, `train/`; and, at
the top, the two front doors `spec.py` and `predictor.py` and what every package shares: `config.py`,
`errors.py`, `labels.py`, `schedules.py`, `frame_result.py`, `distributed.py`.

This package's namespace stays empty on purpose: importing the model pulls in torch and transformers
(seconds), and the command line builds its parsers from the light modules alone.
"""

__version__ = "0.1.0"
