"""Learning-rate schedules of the trainers: what the lr of each iteration is.

An iteration `it` counts optimiser steps from 1. `before(it)` sets and returns the lr the step uses;
`after(it)` advances what follows the step. `state_dict()` is what a checkpoint stores under
"scheduler" (None: nothing stored).
"""
import torch


class WarmupMultiStep:
    """The official VQ-VAE / transformer schedule: for it < W the lr is lr * (it + 1) / (W + 1) (so the
    warm-up peaks at lr * W / (W + 1)), then MultiStepLR (gamma, milestones at fractions of the
    schedule's `total` iterations). `step_in_warm_up`: the MultiStepLR counter also advances during
    the warm-up (transformer); without it it starts at it = W (VQ-VAE), so its decays land W - 1
    iterations later."""

    def __init__(self, optimizer, lr, warm_up_iter, total, milestones, gamma, step_in_warm_up):
        self.optimizer, self.lr, self.warm_up_iter = optimizer, lr, warm_up_iter
        self.step_in_warm_up = step_in_warm_up
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=[int(f * total) for f in milestones], gamma=gamma)

    def before(self, it):
        if it < self.warm_up_iter:
            lr = self.lr * (it + 1) / (self.warm_up_iter + 1)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
        return self.optimizer.param_groups[0]["lr"]

    def after(self, it):
        if self.step_in_warm_up or it >= self.warm_up_iter:
            self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()


class LinearWarmup:
    """lr * min(1, it / W): a linear warm-up over W iterations, then constant (the evaluator's)."""

    def __init__(self, optimizer, lr, warm_up_iter):
        self.optimizer, self.lr, self.warm_up_iter = optimizer, lr, warm_up_iter

    def before(self, it):
        lr = self.lr * min(1.0, it / max(self.warm_up_iter, 1))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def after(self, it):
        pass

    def state_dict(self):
        return None
