"""Benchmark: the on-device data path (synthetic generation, augmentation, batch streaming).

    python benchmarks/bench_data.py                    # CPU, 1 thread, batch 96
    python benchmarks/bench_data.py --threads 2 --batch 256 --device cuda

Reports, as medians over `--repeat` runs:
- generation time of the built-in dataset (5000 train images);
- augmentation (crop 4 + flip + cutout 16) of one batch, vectorised (`nasc.train.augment`) vs a
  per-sample Python loop doing the same work (the torchvision-style reference);
- throughput of `BatchStream.next_batch()` (gather + augment + normalise), images per second.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from nasc.train.augment import Augment
    from nasc.train.data import BatchStream, DeviceData
    from nasc.train.synthetic import make_synthetic

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen_s = _median_time(lambda: make_synthetic(5000, seed=0), max(1, args.repeat // 2))
    images, labels = make_synthetic(5000, seed=0)
    data = DeviceData.create(images, labels, (0.5,) * 3, (0.25,) * 3, 10, device)
    aug = Augment(crop_padding=4, flip=True, cutout=16)
    batch = data.images[: args.batch]
    g = torch.Generator(device=device).manual_seed(0)

    def vectorised() -> torch.Tensor:
        return aug.erase(data.normalise(aug.geometric(batch, g)), g)

    def per_sample() -> torch.Tensor:
        out = []
        for img in batch:
            padded = F.pad(img, (4, 4, 4, 4))
            oy, ox = (int(v) for v in torch.randint(0, 9, (2,), generator=g, device=device))
            img = padded[:, oy:oy + 32, ox:ox + 32]
            if float(torch.rand(1, generator=g, device=device)) < 0.5:
                img = img.flip(2)
            x = (img.float() / 255 - 0.5) / 0.25
            cy, cx = (int(v) for v in torch.randint(0, 32, (2,), generator=g, device=device))
            x[:, max(cy - 8, 0):min(cy + 8, 32), max(cx - 8, 0):min(cx + 8, 32)] = 0
            out.append(x)
        return torch.stack(out)

    vec_s = _median_time(vectorised, args.repeat * 4)
    loop_s = _median_time(per_sample, args.repeat)
    stream = BatchStream(data, args.batch, seed=0, augment=aug)
    n_batches = 20
    stream_s = _median_time(lambda: [stream.next_batch() for _ in range(n_batches)], args.repeat)
    print(f"device {device}, {args.threads} thread(s), batch {args.batch}")
    print(f"generate builtin 5000 images: {gen_s * 1e3:8.1f} ms")
    print(f"augment one batch, vectorised: {vec_s * 1e3:8.2f} ms")
    print(f"augment one batch, per-sample loop: {loop_s * 1e3:8.2f} ms  ({loop_s / vec_s:.0f}x slower)")
    print(f"BatchStream: {n_batches * args.batch / stream_s:,.0f} images/s")


if __name__ == "__main__":
    main()
