"""GloVe word vectors and part-of-speech one-hots for the Inter-X evaluator's text side.

Files (Inter-X release, `data/InterX/glove/`): `<prefix>_data.npy` (V, 300) vectors,
`<prefix>_words.pkl` (list of V words), `<prefix>_idx.pkl` (dict word -> row); prefix `hhi_vab`.

Lookup rule (T2M convention, which the evaluator was trained with): a token is "word/POS". A word in
the vocabulary gets its vector and the one-hot of its POS, unless the word is in one of the "VIP"
lists, whose class then replaces the POS; an unknown POS tag maps to OTHER. A word outside the
vocabulary gets the 'unk' vector and OTHER.
"""
import os
import pickle

import numpy as np

from utils.files import require_file

POS_enumerator = {
    "VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
    "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14,
}

Loc_list = ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back",
            "backward", "up", "down", "straight", "curve")
Body_list = ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee",
             "shoulder", "thigh")
Obj_List = ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball",
            "basketball")
Act_list = ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance",
            "jump", "turn", "stumble", "dance", "stop", "sit", "lift", "lower", "raise", "wash", "stand",
            "kneel", "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate",
            "spin", "spread", "climb")
Desc_list = ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad",
             "happily", "angrily", "sadly")

VIP_dict = {"Loc_VIP": Loc_list, "Body_VIP": Body_list, "Obj_VIP": Obj_List, "Act_VIP": Act_list,
            "Desc_VIP": Desc_list}

HOW = "download the Inter-X release (its glove/ folder) into data/InterX/glove (see prepare/download_evaluator.sh)"


class WordVectorizer:
    def __init__(self, glove_dir, prefix="hhi_vab"):
        data = require_file(os.path.join(glove_dir, f"{prefix}_data.npy"), HOW)
        words = require_file(os.path.join(glove_dir, f"{prefix}_words.pkl"), HOW)
        idx = require_file(os.path.join(glove_dir, f"{prefix}_idx.pkl"), HOW)
        vectors = np.load(data)  # (V, 300)
        with open(words, "rb") as f:
            self.words = pickle.load(f)
        with open(idx, "rb") as f:
            self.word2idx = pickle.load(f)
        self.word2vec = {w: vectors[self.word2idx[w]] for w in self.words}
        if "unk" not in self.word2vec:
            raise ValueError(f"{words}: the vocabulary has no 'unk' entry")

    @staticmethod
    def _get_pos_ohot(pos):
        vec = np.zeros(len(POS_enumerator))  # float64 as the official (cast by the loader)
        vec[POS_enumerator.get(pos, POS_enumerator["OTHER"])] = 1
        return vec

    def __len__(self):
        return len(self.word2vec)

    def __getitem__(self, item):
        """"word/POS" -> (word_vec (300,), pos_onehot (15,))."""
        word, pos = item.split("/")
        if word in self.word2vec:
            word_vec = self.word2vec[word]
            vip_pos = next((k for k, v in VIP_dict.items() if word in v), None)
            pos_vec = self._get_pos_ohot(vip_pos if vip_pos is not None else pos)
        else:
            word_vec = self.word2vec["unk"]
            pos_vec = self._get_pos_ohot("OTHER")
        return word_vec, pos_vec


def wrap_tokens(tokens, max_text_len=35):
    """The Inter-X loader's caption wrapping: sos + tokens + eos padded with unk to max_text_len + 2, or
    the first max_text_len tokens wrapped. Returns (tokens (max_text_len+2,), sent_len)."""
    if len(tokens) < max_text_len:
        tokens = ["sos/OTHER"] + list(tokens) + ["eos/OTHER"]
        sent_len = len(tokens)
        tokens = tokens + ["unk/OTHER"] * (max_text_len + 2 - sent_len)
    else:
        tokens = ["sos/OTHER"] + list(tokens[:max_text_len]) + ["eos/OTHER"]
        sent_len = len(tokens)
    return tokens, sent_len


def embed_tokens(vectorizer, tokens):
    """Wrapped tokens -> word_embs (L, 300) float32, pos_onehot (L, 15) float32."""
    pairs = [vectorizer[t] for t in tokens]
    word = np.stack([p[0] for p in pairs]).astype(np.float32)
    pos = np.stack([p[1] for p in pairs]).astype(np.float32)
    return word, pos
