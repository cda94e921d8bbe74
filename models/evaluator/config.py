"""EvaluatorConfig: which evaluator network to load and from where; the InterCLIP architecture of a new
evaluator from train_evaluator.py's options.

Built once from options: `EvaluatorConfig.from_options(mapping)` takes the command line as a dict
(`vars(opt)`) of eval.py or of a trainer's --do_eval. Only dataset_name, eval_model_dir and
checkpoints_dir are read. The files themselves are unchanged: eval_model.yaml and interclip.ckpt
(InterHuman), Comp_v6_KLD01/opt.txt and text_mot_match/model/finest.tar (Inter-X), see build.py.
"""
import os
from dataclasses import dataclass
from typing import Mapping

from models.evaluator.interclip import evaluator_config

INTERCLIP_INPUT_DIM = 258  # InterCLIP's per-frame input after the contacts are dropped (2 x 129)


@dataclass(frozen=True)
class EvaluatorConfig:
    dataset_name: str   # "interhuman" -> InterCLIP; "interx" -> the Inter-X matching model
    model_dir: str      # folder of the evaluator's files (eval_model.yaml + interclip.ckpt, or hhi/)

    @property
    def interx(self) -> bool:
        return self.dataset_name == "interx"

    @classmethod
    def from_options(cls, options: Mapping) -> "EvaluatorConfig":
        """--eval_model_dir, else <checkpoints_dir>/eval_model (InterHuman) or <checkpoints_dir>/hhi
        (Inter-X); checkpoints_dir defaults to ./checkpoints when the options have none."""
        dataset_name = options["dataset_name"]
        model_dir = options.get("eval_model_dir")
        if not model_dir:
            sub = "hhi" if dataset_name == "interx" else "eval_model"
            model_dir = os.path.join(options.get("checkpoints_dir", "./checkpoints"), sub)
        return cls(dataset_name=dataset_name, model_dir=model_dir)


def interclip_config_from_options(options: Mapping) -> dict:
    """train_evaluator.py's architecture options -> the InterCLIP config dict (eval_model.yaml keys),
    with the official defaults for what the command line does not set."""
    return evaluator_config({
        "NUM_LAYERS": options["num_layers"], "NUM_HEADS": options["num_heads"], "DROPOUT": options["dropout"],
        "INPUT_DIM": INTERCLIP_INPUT_DIM, "LATENT_DIM": options["latent_dim"], "FF_SIZE": options["ff_size"],
        "ACTIVATION": "gelu", "TEXT_ENCODER": options["text_encoder"],
        "TEXT_LATENT_DIM": options["text_latent_dim"], "TEXT_NUM_LAYERS": options["text_num_layers"],
        "TEXT_NUM_HEADS": options["text_num_heads"], "EMB_DIM": options["emb_dim"]})
