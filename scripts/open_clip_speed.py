"""open_clip's own training loop (open_clip_train.train.train_one_epoch) on a fixed batch: the peer
figure next to `wit-train speed` (same model config, batch, precision and device; no data pipeline).

Usage: python scripts/open_clip_speed.py [--model ViT-B-32] [--batch 256] [--warmup 5] [--steps 20]
       [--device cuda] [--precision amp_bf16]
Prints one line: "open_clip speed: MODEL PRECISION batch B on DEVICE: S samples/s (T ms/step ...)".
"""
import argparse
import logging
import math
import time
from types import SimpleNamespace

import torch
import open_clip
from open_clip_train.train import train_one_epoch


class FixedBatches:
    """An open_clip data loader stand-in: the same pinned host batch, `count` times."""

    def __init__(self, images, texts, count):
        self.images, self.texts, self.num_batches = images, texts, count
        self.num_samples = count * images.shape[0]

    def __iter__(self):
        for _ in range(self.num_batches):
            yield self.images, self.texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="amp_bf16")
    cli = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    device = torch.device(cli.device)
    model = open_clip.create_model(cli.model, pretrained=None, output_dict=True).to(device)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    images = torch.randn(cli.batch, 3, size, size)
    texts = torch.randint(1, 49406, (cli.batch, 77))
    texts[:, 0], texts[:, 20], texts[:, 21:] = 49406, 49407, 0
    if device.type == "cuda":
        images, texts = images.pin_memory(), texts.pin_memory()
    # open_clip_train.main's parameter groups: no weight decay on gains, biases and the logit scale.
    exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if exclude(n, p) and p.requires_grad], "weight_decay": 0.0},
            {"params": [p for n, p in named if not exclude(n, p) and p.requires_grad], "weight_decay": 0.2},
        ],
        lr=1e-4, betas=(0.9, 0.98), eps=1e-6,
    )
    loss = open_clip.ClipLoss()
    args = SimpleNamespace(
        device=str(device), precision=cli.precision, distill=False, accum_freq=1, skip_scheduler=True,
        grad_clip_norm=None, horovod=False, log_every_n_steps=10**9, world_size=1, rank=0, local_rank=0,
        batch_size=cli.batch, wandb=False, save_logs=False,
    )

    def epoch(count, number):
        data = {"train": SimpleNamespace(set_epoch=lambda e: None, dataloader=FixedBatches(images, texts, count))}
        train_one_epoch(model, data, loss, number, optimizer, None, None, None, args)

    epoch(cli.warmup, 0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    epoch(cli.steps, 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(
        f"open_clip speed: {cli.model} {cli.precision} batch {cli.batch} on {device}: "
        f"{cli.batch * cli.steps / elapsed:.1f} samples/s ({1000 * elapsed / cli.steps:.1f} ms/step over "
        f"{cli.steps} steps), open_clip {open_clip.__version__}, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
