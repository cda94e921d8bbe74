"""Fetch the files the models need (internet required; nothing else in the project downloads).

    python prepare/download_models.py                 # everything below
    python prepare/download_models.py --clip          # CLIP ViT-L/14@336px -> <ckpt>/clip/ViT-L-14-336px.pt
    python prepare/download_models.py --pretrained    # official InterMask checkpoints -> <ckpt>/<dataset>/...
    python prepare/download_models.py --stats         # official normalisation statistics -> data/stats/

* CLIP: the weights file `clip-anytorch` knows for "ViT-L/14@336px" (checked against its SHA-256). It is
  the frozen text tower of `--text_encoder clip` (the official one); `--text_encoder minilm` needs nothing.
* Pretrained: the official Google-Drive folder of the InterMask release (vq_default, trans_default under
  interhuman/ and interx/), fetched with `gdown` (in requirements.txt).
* Stats: global_mean.npy / global_std.npy of the official repository (InterGen's statistics).
Each part reports one line: where the files are, or why they could not be fetched.
"""
import argparse
import os
import shutil
import sys
import tempfile
import urllib.request

PRETRAINED_FOLDER_ID = "1WCFR7Opc5S3cke26cjEhdvSOH_CXL2Ut"  # the official release's Drive folder
STATS_URLS = ["https://raw.githubusercontent.com/gohar-malik/InterMask/{branch}/data/stats/{name}"]
CLIP_NAME = "ViT-L/14@336px"


class FetchError(RuntimeError):
    pass


def fetch_clip(checkpoints_dir):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import clip
    from clip.clip import _MODELS, _download
    root = os.path.join(checkpoints_dir, "clip")
    url = _MODELS[CLIP_NAME]
    target = os.path.join(root, os.path.basename(url))
    if os.path.isfile(target):
        return f"CLIP already present: {target}"
    os.makedirs(root, exist_ok=True)
    try:
        path = _download(url, root)  # verifies the SHA-256 in the URL
    except Exception as e:  # offline, HTTP error, checksum mismatch
        raise FetchError(f"could not fetch CLIP {CLIP_NAME} from {url} ({type(e).__name__}: {e}); "
                         f"put the file at {target} by hand") from e
    del clip
    return f"CLIP weights in {path}"


def fetch_pretrained(checkpoints_dir):
    try:
        import gdown
    except ImportError as e:
        raise FetchError("the official checkpoints are on Google Drive: `pip install gdown` and rerun, or download "
                         f"https://drive.google.com/drive/folders/{PRETRAINED_FOLDER_ID} into {checkpoints_dir}") from e
    tmp = tempfile.mkdtemp(prefix=".download_", dir=checkpoints_dir if os.path.isdir(checkpoints_dir) else None)
    try:
        got = gdown.download_folder(id=PRETRAINED_FOLDER_ID, output=tmp, quiet=False)
        if not got:
            raise FetchError(f"gdown fetched nothing from Drive folder {PRETRAINED_FOLDER_ID} (offline or quota?)")
        moved = []
        for dirpath, dirnames, _ in os.walk(tmp):
            for d in list(dirnames):
                if d in ("interhuman", "interx", "eval_model", "hhi"):
                    dest = os.path.join(checkpoints_dir, d)
                    _merge(os.path.join(dirpath, d), dest)
                    moved.append(dest)
                    dirnames.remove(d)
        if not moved:
            raise FetchError(f"unexpected layout of Drive folder {PRETRAINED_FOLDER_ID}: see {tmp}")
        return "official checkpoints in " + ", ".join(moved)
    except FetchError:
        raise
    except Exception as e:
        raise FetchError(f"could not fetch Drive folder {PRETRAINED_FOLDER_ID} ({type(e).__name__}: {e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge(src, dest):
    """Move the tree src into dest without deleting files already in dest."""
    for dirpath, _, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        os.makedirs(os.path.join(dest, rel), exist_ok=True)
        for f in files:
            os.replace(os.path.join(dirpath, f), os.path.join(dest, rel, f))


def fetch_stats(stats_dir):
    os.makedirs(stats_dir, exist_ok=True)
    done = []
    for name in ("global_mean.npy", "global_std.npy"):
        target = os.path.join(stats_dir, name)
        if os.path.isfile(target):
            done.append(target)
            continue
        errors = []
        for branch in ("main", "master"):
            url = STATS_URLS[0].format(branch=branch, name=name)
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    data = r.read()
                with open(target + ".part", "wb") as f:
                    f.write(data)
                os.replace(target + ".part", target)
                done.append(target)
                break
            except Exception as e:
                errors.append(f"{url}: {type(e).__name__}")
        else:
            raise FetchError(f"could not fetch {name} ({'; '.join(errors)}); or compute your own with "
                             "`python prepare/compute_stats.py`")
    return "statistics in " + ", ".join(done)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoints_dir", default="./checkpoints")
    p.add_argument("--stats_dir", default=os.path.join("data", "stats"))
    p.add_argument("--clip", action="store_true", help="CLIP ViT-L/14@336px weights only")
    p.add_argument("--pretrained", action="store_true", help="the official InterMask checkpoints only")
    p.add_argument("--stats", action="store_true", help="the official normalisation statistics only")
    a = p.parse_args(argv)
    parts = [k for k in ("clip", "pretrained", "stats") if getattr(a, k)] or ["clip", "pretrained", "stats"]
    os.makedirs(a.checkpoints_dir, exist_ok=True)
    jobs = {"clip": lambda: fetch_clip(a.checkpoints_dir), "pretrained": lambda: fetch_pretrained(a.checkpoints_dir),
            "stats": lambda: fetch_stats(a.stats_dir)}
    failed = 0
    for part in parts:
        try:
            print(f"{part}: {jobs[part]()}")
        except FetchError as e:
            print(f"download_models.py: {part}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
