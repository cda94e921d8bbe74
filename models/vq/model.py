"""RVQVAE: the per-person motion VQ-VAE of InterMask, with the official state-dict layout.

Each person is coded separately into a 2D token map of 5 "spatial" rows x T//4 columns, flattened
row-major (token index = row * (T//4) + t). State-dict keys: `encoder.*`, `decoder.*`,
`quantizer.layers.<q>.codebook`, so an official `best_fid.tar['vq_model']` loads with strict=True.

Input layouts (what `preprocess` accepts):
- InterHuman: (B, T, 262) z-scored features -> (B, 12, 22, T) with per-joint
  [position 3, velocity 3, 6D rotation 6] (a zero rotation for the root); the 4 foot contacts are
  dropped, and `postprocess` writes them back as 0 (the dataset mean after de-normalisation).
- Inter-X: (B, T, 56, 6) raw "smpl" representation -> (B, 6, 56, T).
"""
import torch
import torch.nn as nn

from models.vq.config import VQConfig
from models.vq.encdec import TOKEN_ROWS, Decoder, Encoder, vq_layout
from models.vq.residual_vq import ResidualVQ

TRAIN_TEMPERATURE = 0.5   # Gumbel temperature of the official training-mode assignment


class RVQVAE(nn.Module):
    """Per-person VQ-VAE built from a VQConfig (models/vq/config.py); `cfg.gcn_all_frames` is the graph
    quirk switch (False = official edges)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.dataset_name = cfg.dataset_name
        layout = vq_layout(self.dataset_name)
        self.joints_num = layout["joints_num"]
        self.input_dim = input_dim = cfg.input_dim
        self.code_dim = code_dim = cfg.code_dim
        self.nb_code = nb_code = cfg.nb_code
        if code_dim != cfg.output_emb_width:
            raise ValueError(f"code_dim ({code_dim}) must equal output_emb_width ({cfg.output_emb_width})")
        if self.dataset_name == "interhuman" and input_dim != 12:
            raise ValueError(f"InterHuman VQ input_dim must be 12 (pos 3, vel 3, rot6d 6), got {input_dim}")
        common = dict(dataset_name=self.dataset_name, input_dim=input_dim, output_emb_width=cfg.output_emb_width,
                      down_t=cfg.down_t, stride_t=cfg.stride_t, width=cfg.width, depth=cfg.depth,
                      dilation_growth_rate=cfg.dilation_growth_rate, activation=cfg.vq_act, norm=cfg.vq_norm,
                      gcn_all_frames=bool(cfg.gcn_all_frames))
        self.encoder = Encoder(**common)
        self.decoder = Decoder(**common)
        self.quantizer = ResidualVQ(
            num_quantizers=int(cfg.num_quantizers), shared_codebook=bool(cfg.shared_codebook),
            quantize_dropout_prob=float(cfg.quantize_dropout_prob),
            quantize_dropout_cutoff_index=0, nb_code=nb_code, code_dim=code_dim, mu=float(cfg.mu))

    # ---- layouts -----------------------------------------------------------------------------------
    def preprocess(self, x):
        """(B, T, 262) or (B, T, 56, 6) -> (B, C, J, T) float."""
        if self.dataset_name == "interhuman":
            if x.dim() != 3 or x.shape[-1] < 258:
                raise ValueError(f"InterHuman VQ input must be (B, T, 262), got {tuple(x.shape)}")
            b, t = x.shape[:2]
            pos = x[..., 0:66].reshape(b, t, 22, 3)
            vel = x[..., 66:132].reshape(b, t, 22, 3)
            rot = x[..., 132:258].reshape(b, t, 21, 6)
            rot = torch.cat([torch.zeros_like(rot[:, :, :1]), rot], dim=2)               # (B, T, 22, 6)
            feats = torch.cat([pos, vel, rot], dim=-1)                                   # (B, T, 22, 12)
            return feats.permute(0, 3, 2, 1).float()                                     # (B, 12, 22, T)
        if x.dim() != 4 or x.shape[2] != self.joints_num or x.shape[3] != self.input_dim:
            raise ValueError(f"Inter-X VQ input must be (B, T, {self.joints_num}, {self.input_dim}), "
                             f"got {tuple(x.shape)}")
        return x.permute(0, 3, 2, 1).float()                                             # (B, 6, 56, T)

    def postprocess(self, x):
        """(B, C, J, T) -> (B, T, 262) with contacts 0, or (B, T, 56, 6)."""
        x = x.permute(0, 3, 2, 1)                                                        # (B, T, J, C)
        if self.dataset_name != "interhuman":
            return x.contiguous()
        b, t = x.shape[:2]
        pos = x[..., 0:3].reshape(b, t, 66)
        vel = x[..., 3:6].reshape(b, t, 66)
        rot = x[:, :, 1:, 6:12].reshape(b, t, 126)
        contacts = torch.zeros(b, t, 4, dtype=x.dtype, device=x.device)
        return torch.cat([pos, vel, rot, contacts], dim=-1)                              # (B, T, 262)

    # ---- API ---------------------------------------------------------------------------------------
    def encode_latent(self, x):
        """x (input layout) -> encoder output (B, code_dim, 5, T//4), before quantisation."""
        return self.encoder(self.preprocess(x))

    @torch.no_grad()
    def encode(self, x):
        """x -> (code_idx (B, 5*(T//4), Q) nearest codes, codes (Q, B, code_dim, 5*(T//4))).

        Deterministic and side-effect free (no EMA update), whatever the module's mode."""
        z = self.encode_latent(x)                                                        # (B, D, 5, T')
        return self.quantizer.quantize(z.flatten(2).float())

    def forward(self, x, temperature=TRAIN_TEMPERATURE):
        """x -> (recon (B, 4*(T//4), ...) in the input layout, commit_loss, perplexity).

        In training the assignment is Gumbel-perturbed at `temperature` (official 0.5) and the EMA
        codebook is updated; in eval mode it is the nearest code."""
        z = self.encode_latent(x)                                                        # (B, D, 5, T')
        b, d, rows, cols = z.shape
        with torch.autocast(device_type=z.device.type, enabled=False):
            z_q, _, commit_loss, perplexity = self.quantizer(z.flatten(2).float(), sample_codebook_temp=temperature)
        out = self.decoder(z_q.view(b, d, rows, cols))
        return self.postprocess(out), commit_loss, perplexity

    def forward_decoder(self, ids):
        """ids (B, n, Q) or (B, n) codebook indices, n = 5*T' -> motion (B, 4*T', ...)."""
        if ids.dim() == 2:
            ids = ids.unsqueeze(-1)
        b, n, _ = ids.shape
        if n % TOKEN_ROWS:
            raise ValueError(f"token count {n} is not a multiple of {TOKEN_ROWS} rows")
        codes = self.quantizer.get_codes_from_indices(ids).sum(dim=0)                    # (B, n, D)
        z = codes.permute(0, 2, 1).reshape(b, self.code_dim, TOKEN_ROWS, n // TOKEN_ROWS)
        return self.postprocess(self.decoder(z))

    # ---- resume helpers ----------------------------------------------------------------------------
    def quantizer_state(self):
        """EMA statistics and init flag of every codebook (not in the official state dict)."""
        return self.quantizer.ema_state()

    def load_quantizer_state(self, states):
        self.quantizer.load_ema_state(states)
