#!/usr/bin/env bash
# Fetch the official evaluators.
#
#   bash prepare/download_evaluator.sh [interhuman|interx] [CHECKPOINTS_DIR]
#
# interhuman (default): InterGen's InterCLIP evaluator, the two files the official InterMask script
#   fetches from Google Drive, into CHECKPOINTS_DIR/eval_model/ (default ./checkpoints):
#     eval_model.yaml  (Drive id 13NzdH-9xSOhrOCEVY8lmYrSzebZNv5xz)
#     interclip.ckpt   (Drive id 1bJv5lTP7otJleaBYZ2byjru_k_wCsGvH, about 600 MB)
#   eval.py then finds them with its defaults (or pass --eval_model_dir).
# interx: Inter-X's text-motion matching evaluator is distributed with the Inter-X dataset release
#   (not by InterMask). This only checks that its files are where eval.py looks and says what is missing:
#     CHECKPOINTS_DIR/hhi/Comp_v6_KLD01/opt.txt
#     CHECKPOINTS_DIR/hhi/text_mot_match/model/finest.tar
#     data/InterX/glove/hhi_vab_{data.npy,words.pkl,idx.pkl}   (word vectors, also from the release)
#
# Exits non-zero, with a one-line reason, when offline or when a file cannot be obtained.
set -euo pipefail

DATASET="${1:-interhuman}"
CKPT="${2:-./checkpoints}"

fail() { echo "download_evaluator.sh: $*" >&2; exit 1; }

fetch_drive() {  # fetch_drive <drive id> <output file>
  local id="$1" out="$2" tmp="$2.part"
  if command -v gdown >/dev/null 2>&1; then
    gdown --quiet "$id" -O "$tmp" || { rm -f "$tmp"; fail "gdown could not fetch Drive id $id (offline or quota?)"; }
  else
    curl -fL --retry 2 --connect-timeout 15 -o "$tmp" \
      "https://drive.usercontent.google.com/download?id=${id}&export=download&confirm=t" \
      || { rm -f "$tmp"; fail "could not download Drive id $id to $out (offline? retry later, or fetch it by hand)"; }
  fi
  if head -c 512 "$tmp" | grep -qi "<html"; then
    rm -f "$tmp"; fail "Google Drive returned a web page instead of $out (quota or changed link); fetch id $id by hand"
  fi
  mv "$tmp" "$out"
}

case "$DATASET" in
  interhuman)
    command -v curl >/dev/null 2>&1 || command -v gdown >/dev/null 2>&1 || fail "needs curl or gdown"
    curl -fsI --connect-timeout 10 https://drive.google.com >/dev/null 2>&1 \
      || fail "no connection to drive.google.com (offline?). Files needed in $CKPT/eval_model/: eval_model.yaml, interclip.ckpt"
    mkdir -p "$CKPT/eval_model"
    [ -s "$CKPT/eval_model/eval_model.yaml" ] || fetch_drive 13NzdH-9xSOhrOCEVY8lmYrSzebZNv5xz "$CKPT/eval_model/eval_model.yaml"
    [ -s "$CKPT/eval_model/interclip.ckpt" ] || fetch_drive 1bJv5lTP7otJleaBYZ2byjru_k_wCsGvH "$CKPT/eval_model/interclip.ckpt"
    echo "InterCLIP evaluator in $CKPT/eval_model/"
    ;;
  interx)
    missing=0
    for f in "$CKPT/hhi/Comp_v6_KLD01/opt.txt" "$CKPT/hhi/text_mot_match/model/finest.tar" \
             data/InterX/glove/hhi_vab_data.npy data/InterX/glove/hhi_vab_words.pkl data/InterX/glove/hhi_vab_idx.pkl; do
      if [ ! -s "$f" ]; then echo "missing $f" >&2; missing=1; fi
    done
    [ "$missing" = 0 ] || fail "Inter-X's evaluator comes with the Inter-X dataset release (request access from its authors); put its files at the paths above"
    echo "Inter-X evaluator files present under $CKPT/hhi/"
    ;;
  *) fail "unknown dataset '$DATASET' (interhuman or interx)" ;;
esac
