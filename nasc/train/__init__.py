"""The training backend: data, augmentation, trainer, checkpoints, run logging, configs.

It trains any `nn.Module` whose forward returns logits (or `(logits, aux_logits)` in training
mode) and that may have a `drop_path_prob` attribute; it does not depend on the IR.

    config.py      YAML configs: include, --set overrides, toy/full, pydantic sections (register_section)
    synthetic.py   the built-in seeded synthetic dataset (10 classes, 32x32 RGB)
    readers.py     CIFAR pickles (restricted unpickler), MNIST IDX, image folders (torchvision)
    datasets.py    the dataset registry (built-ins + `nasc.datasets` plugins): NAME[:PATH] -> uint8 tensors
    augment.py     vectorised crop/flip/cutout on the device, driven by a torch.Generator
    data.py        DeviceData, stratified_split, resumable BatchStream, eval_batches, build_data
    optim.py       build_optimizer (sgd/adam/adamw)
    schedule.py    LRSchedule: cosine/step/multistep/constant with warmup, per epoch or per step
    precision.py   AMP: bf16 autocast on CPU, fp16 + GradScaler or bf16 on CUDA
    distributed.py torchrun/DDP setup, rank-aware reductions
    trainer.py     Trainer (fit/evaluate/train_step) and the Callback hooks (pre_step for DARTS)
    checkpoint.py  Checkpoint: nested-loop states in one atomically written file
    runlog.py      StructuredLog (JSONL, append-only) and read_log
    rundir.py      RunDir: config.yaml, log.txt, log.jsonl, metrics.jsonl, tb/, checkpoints/
    events.py      progress events emitted by the library (the CLI renders them)
    runner.py      train_model: what `nasc train` runs

The package import is torch-free; import the submodules you need.
"""
