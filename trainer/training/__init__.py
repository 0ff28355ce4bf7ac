"""The training stage: the loop and what it drives, one job a module.

``loop`` (``Trainer``: epochs, validation, weight averaging, early stopping, exact resume),
``losses`` (class-weighted BCE, smoothing, mixup, the auxiliary head), ``schedule`` (optimizer,
warm-up and decay, reduce-on-plateau), ``checkpoints`` (atomic writes, ``load_checkpoint``),
``history`` (``EpochRecord``, ``history.csv``), ``predict`` (logits of a model on a dataset),
``devices`` (``--device``, ``--workers``), ``precision`` (autocast, the fp16 gradient scaler),
``distributed`` (torchrun / DDP) and ``tensorboard_log`` (optional TensorBoard logs).
"""
