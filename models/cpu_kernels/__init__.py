"""The CPU-only fast paths, in one place. Each one computes what the plain torch call computes (the same
distribution for the dropout masks, the same values up to float summation order for the layout) and is
taken only on CPU tensors; other devices use torch's own kernels.

- activation_dropout.py  nn.Dropout with a bulk-drawn 16-bit mask (every activation dropout of both models)
- attention_dropout.py   attention with attention-weight dropout, chunked, mask regenerated in backward
                         (the transformer's attention in training mode)
- channels_last.py       channels-last feature maps for the VQ-VAE's convolutions
"""
