"""The evaluation package: the official text-to-motion protocol, given its models as objects.

    protocol.py        run_protocol: replications, metric passes, summary (eval.py's core); input checks
    sources.py         motion sources: VQ reconstruction and transformer generation of a GT chunk
    items.py           per-dataset item layouts (text, length, persons, collate, generated item)
    generated.py       one generation pass over the GT set; GT and generated evaluator batches
    metrics.py         MM Distance / R-precision, FID, Diversity, MultiModality passes over loaders
    during_training.py evaluate_motions: FID and R-precision of a model's outputs (trainers' --do_eval)
    log.py             the official log lines, the '# ' header, the replication table and its summary
    visuals.py         --save_vis: GT and generated keypoints/videos of the first samples

The evaluator wrapper, the VQ-VAE and the generator are built by the caller (eval.py, the training
scripts) and handed in; nothing here imports models/ or options/.
"""
