"""The inner maximisations of adversarial training, and TRADES' loss.

PGD-AT (Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083, eq. 2.1) trains on the
project's own PGD (`attacks.pgd`), started wherever the recipe says. TRADES (Zhang et al., ICML
2019, https://arxiv.org/abs/1901.08573, eq. 5 and Algorithm 1) minimises

    CE(f(x), y) + β · KL(softmax f(x) ‖ softmax f(x'))   with  x' ≈ argmax_{‖x'−x‖∞≤ε} KL(…),

the inner maximum found by signed-gradient ascent on the KL, projected onto the ε-ball and
[0, 1]; the KL is summed over classes and averaged over the batch, as in the authors' code.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from saliency_service.attacks._linf import project_linf
from saliency_service.attacks.pgd import pgd_from


def pgd_examples(model: nn.Module, images: Tensor, labels: Tensor, start: Tensor, eps: float,
                 step_size: float, steps: int) -> Tensor:
    """PGD on the cross-entropy from `start`: `steps` signed steps of `step_size`, projected.

    Shape:
        images, start: (N, C, H, W) in [0, 1]; labels: (N,). Returns (N, C, H, W).
    """
    budget = torch.full((len(images),), eps, device=images.device)
    return pgd_from(model, images, labels, targets=None, start=start, eps=budget,
                    alpha=step_size, steps=steps).detach()


def trades_examples(model: nn.Module, images: Tensor, start: Tensor, eps: float,
                    step_size: float, steps: int) -> Tensor:
    """x' maximising KL(f(x) ‖ f(x')) by `steps` signed-gradient steps from `start`.

    Shape:
        images, start: (N, C, H, W) in [0, 1]. Returns (N, C, H, W).
    """
    budget = torch.full((len(images),), eps, device=images.device)
    with torch.no_grad():
        clean = F.softmax(model(images), dim=1)
    adversarial = start.detach()
    for _ in range(steps):
        with torch.enable_grad():
            leaf = adversarial.requires_grad_(True)
            divergence = kl_divergence(clean, F.log_softmax(model(leaf), dim=1)).sum()
            (gradient,) = torch.autograd.grad(divergence, leaf)
        adversarial = project_linf(adversarial.detach() + step_size * gradient.sign(), images,
                                   budget).detach()
    return adversarial


def kl_divergence(target: Tensor, log_prediction: Tensor) -> Tensor:
    """Σ_c p_c (log p_c − log q_c) for each row, with 0·log 0 = 0.

    Shape:
        target (p), log_prediction (log q): (N, K); returns (N,).
    """
    terms = torch.where(target > 0, target * (torch.log(target.clamp_min(1e-30)) - log_prediction),
                        0.0)
    return terms.sum(dim=1)


def trades_loss(clean_logits: Tensor, adversarial_logits: Tensor, labels: Tensor,
                beta: float) -> Tensor:
    """CE(f(x), y) + β·mean KL(softmax f(x) ‖ softmax f(x')), gradients through both terms.

    Shape:
        clean_logits, adversarial_logits: (N, K); labels: (N,); returns ().
    """
    natural = F.cross_entropy(clean_logits, labels)
    robust = kl_divergence(F.softmax(clean_logits, dim=1),
                           F.log_softmax(adversarial_logits, dim=1)).mean()
    return natural + beta * robust
