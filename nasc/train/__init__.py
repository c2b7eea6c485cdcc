"""The training backend: data, augmentation, trainer, checkpoints, run logging, configs."""
