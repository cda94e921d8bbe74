"""Inter-X's text-motion matching evaluator (the T2M-style model of Guo et al. trained by the Inter-X
authors). Module and key names follow the released `text_mot_match/model/finest.tar`:
{'movement_encoder': ..., 'text_encoder': ..., 'motion_encoder': ..., 'epoch': int}.

Embeddings are NOT normalised (unlike InterCLIP); the Inter-X protocol uses emb_scale 1, divide_by 1.
"""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

# sizes the official wrapper hard-codes (dim_movement_enc_hidden / latent come from opt.txt)
FULL_SIZES = {"dim_pose": 672, "dim_word": 300, "dim_pos_ohot": 15, "dim_text_hidden": 512,
              "dim_motion_hidden": 1024, "dim_coemb_hidden": 512,
              "dim_movement_enc_hidden": 512, "dim_movement_latent": 512, "unit_length": 4}


class MovementConvEncoder(nn.Module):
    """(B, T, dim_pose) -> two Conv1d(k4, s2, p1) + Dropout + LeakyReLU(0.2) -> Linear: (B, T//4, latent)."""

    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, x):  # (B, T, dim_pose)
        h = self.main(x.permute(0, 2, 1)).permute(0, 2, 1)  # (B, T//4, latent)
        return self.out_net(h)


class _BiGRUHead(nn.Module):
    """Shared tail: bidirectional GRU from a learned initial state over packed sequences, then
    [last forward | last backward] -> Linear, LayerNorm, LeakyReLU(0.2), Linear."""

    def _init_head(self, hidden_size, output_size):
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size), nn.LeakyReLU(0.2),
            nn.Linear(hidden_size, output_size))
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size)))

    def _run(self, x, lengths):  # x (B, L, H), lengths (B,)
        h0 = self.hidden.repeat(1, x.shape[0], 1)  # (2, B, H)
        packed = pack_padded_sequence(x, lengths.cpu().long(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed, h0)  # (2, B, H)
        return self.output_net(torch.cat([last[0], last[1]], dim=-1))  # (B, out)


class TextEncoderBiGRUCo(_BiGRUHead):
    def __init__(self, word_size, pos_size, hidden_size, output_size):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self._init_head(hidden_size, output_size)

    def forward(self, word_embs, pos_onehot, cap_lens):
        """word_embs (B, 37, 300), pos_onehot (B, 37, 15), cap_lens (B,) -> (B, coemb)."""
        x = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        return self._run(x, cap_lens)


class MotionEncoderBiGRUCo(_BiGRUHead):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self._init_head(hidden_size, output_size)

    def forward(self, movements, m_lens):
        """movements (B, T//4, latent), m_lens (B,) in units of 4 frames -> (B, coemb)."""
        return self._run(self.input_emb(movements), m_lens)


class InterXMatchingModel(nn.Module):
    """The three encoders of finest.tar, built from a sizes dict (FULL_SIZES keys)."""

    def __init__(self, sizes=None):
        super().__init__()
        s = dict(FULL_SIZES)
        s.update(sizes or {})
        self.sizes = s
        self.unit_length = int(s["unit_length"])
        self.movement_encoder = MovementConvEncoder(s["dim_pose"], s["dim_movement_enc_hidden"],
                                                    s["dim_movement_latent"])
        self.text_encoder = TextEncoderBiGRUCo(s["dim_word"], s["dim_pos_ohot"], s["dim_text_hidden"],
                                               s["dim_coemb_hidden"])
        self.motion_encoder = MotionEncoderBiGRUCo(s["dim_movement_latent"], s["dim_motion_hidden"],
                                                   s["dim_coemb_hidden"])

    def load_checkpoint_dict(self, ckpt):
        """Strict load of the three entries of an official finest.tar dict."""
        for name in ("movement_encoder", "text_encoder", "motion_encoder"):
            if name not in ckpt:
                raise KeyError(f"Inter-X evaluator checkpoint has no entry {name!r} (keys: {sorted(ckpt)})")
            getattr(self, name).load_state_dict(ckpt[name], strict=True)
        return self

    @staticmethod
    def prepare_motion(motions):
        """(B, T, 56, 12) [p1 6D | p2 6D] rows + [t1, v1, t2, v2] -> (B, T, 672) with both translation
        velocities zeroed (the evaluator was trained on [translation, 0, 0, 0])."""
        m = motions.clone()
        m[:, :, -1, 3:6] = 0
        m[:, :, -1, 9:12] = 0
        return m.reshape(m.shape[0], m.shape[1], -1)
