"""Evaluation: the scorer over FrameResult streams, what `--data` names, costs, and the results store.

    data = resolve_data("synthetic:val", max_clips=4)                     # datasets.py
    result = run_evaluation(spec, data, "query_flow", ScheduleSpec(5))    # runner.py (cached)
    result = evaluate(predictor, data, 5)                                 # evaluate.py (no cache)

`scorer.py` holds every metric convention and the one warm-up rule; `costs.py` the FLOP and timing
summaries; `store.py` the results store (content-keyed, atomic).
"""
