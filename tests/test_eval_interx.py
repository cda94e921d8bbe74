"""eval.py on a small Inter-X-format dataset (h5 motions, processed texts, word vectors) with a tiny
GRU evaluator in the official finest.tar layout: VQ reconstruction protocol end to end, batch and
scaling of the Inter-X protocol."""
import os
import pickle

import h5py
import numpy as np
import torch
import yaml

WORDS = ["sos", "eos", "unk", "two", "people", "wave", "hug", "walk", "slowly", "quickly", "the", "hand"]


def _write_interx(root, n_clips=14, seed=0):
    rng = np.random.default_rng(seed)
    for sub in ("motions", "splits", "texts_processed", "glove"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = [f"G001T000A{i:03d}R000" for i in range(n_clips)]
    with h5py.File(os.path.join(root, "motions", "test.h5"), "w") as h5:
        for cid in ids:
            T = int(rng.integers(30, 90))
            t = np.linspace(0, 1, T)[:, None, None]
            h5[cid] = (0.3 * np.sin(2 * np.pi * t * rng.uniform(0.5, 2) + rng.uniform(0, 6, (1, 56, 6)))).astype(np.float32)
    for cid in ids:
        verb = ["wave", "hug", "walk"][int(rng.integers(3))]
        with open(os.path.join(root, "texts_processed", f"{cid}.txt"), "w") as f:
            f.write(f"two people {verb} slowly#two/NUM people/NOUN {verb}/VERB slowly/ADV#0.0#0.0\n")
    with open(os.path.join(root, "splits", "test.txt"), "w") as f:
        f.write("".join(i + "\n" for i in ids))
    np.save(os.path.join(root, "glove", "hhi_vab_data.npy"), rng.normal(0, 0.4, (len(WORDS), 300)).astype(np.float32))
    with open(os.path.join(root, "glove", "hhi_vab_words.pkl"), "wb") as f:
        pickle.dump(WORDS, f)
    with open(os.path.join(root, "glove", "hhi_vab_idx.pkl"), "wb") as f:
        pickle.dump({w: i for i, w in enumerate(WORDS)}, f)


def test_interx_vq_protocol(tmp_path):
    import eval as eval_script
    from models.evaluator.interx_matching import InterXMatchingModel
    from models.vq.build import build_vq
    from models.vq.config import VQConfig
    from utils.files import atomic_torch_save
    torch.set_num_threads(1)
    data, ckpt = str(tmp_path / "interx"), tmp_path / "ck"
    _write_interx(data)
    torch.manual_seed(0)
    ev = InterXMatchingModel({"dim_movement_enc_hidden": 16, "dim_movement_latent": 8, "dim_text_hidden": 8,
                              "dim_motion_hidden": 8, "dim_coemb_hidden": 8})
    os.makedirs(ckpt / "hhi" / "Comp_v6_KLD01")
    with open(ckpt / "hhi" / "Comp_v6_KLD01" / "opt.txt", "w") as f:
        f.write("------------ Options -------------\ndataset_name: hhi\nunit_length: 4\n\n-------------- End ----------------\n")
    atomic_torch_save({"movement_encoder": ev.movement_encoder.state_dict(), "text_encoder": ev.text_encoder.state_dict(),
                       "motion_encoder": ev.motion_encoder.state_dict(), "epoch": 0},
                      str(ckpt / "hhi" / "text_mot_match" / "model" / "finest.tar"))
    vq_cfg = dict(dataset_name="interx", nb_code=16, code_dim=8, output_emb_width=8, width=8, depth=1)
    run = ckpt / "interx" / "vq_x"
    os.makedirs(run / "model")
    with open(run / "opt.yaml", "w") as f:
        yaml.safe_dump(dict(vq_cfg, name="vq_x"), f)
    sd = build_vq(VQConfig.from_options(vq_cfg)).state_dict()
    sd["quantizer.layers.0.codebook"] = torch.randn_like(sd["quantizer.layers.0.codebook"])
    atomic_torch_save({"vq_model": sd}, str(run / "model" / "best_fid.tar"))
    args = ["--dataset_name", "interx", "--name", "vq_x", "--use_trans", "False", "--checkpoints_dir", str(ckpt),
            "--data_root", data, "--replication_times", "2", "--diversity_times", "3", "--batch_size", "4",
            "--log_time", "False", "--device", "cpu"]
    res = eval_script.main(args)["evaluation_best_fid.log"]
    log = open(run / "eval" / "evaluation_best_fid.log").read()
    assert "---> [ground truth] MM Distance: " in log and "---> [best_fid.tar] FID: " in log
    assert "finest.tar sha256" in log
    # Inter-X scaling (1, 1): Diversity is the plain mean distance, R-precision pools of --batch_size
    top = res["R_precision"]["ground truth"][0]
    assert np.all(np.isclose(top * 24, np.round(top * 24)))  # mean over 2 replications of hits / (3 x 4)
    eval_script.main(args)
    assert open(run / "eval" / "evaluation_best_fid.log").read() == log
