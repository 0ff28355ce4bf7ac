"""The data stage: which images a run learns from, how they are split, and their pixels.

Torch-free (an import-linter contract and a test keep them so): ``labels`` (``Sample``,
``LabelledImages``, the target matrices, the ``DatasetReader`` interface), ``nih`` (the NIH
ChestX-ray14 reader), ``split`` (patient-disjoint splits and ``split.csv``), ``sources``,
``cache`` and ``augment`` (the pixels, always from ``viewer.core.preprocess``). Torch:
``datasets`` (the ``TrainImages``/``EvalImages`` datasets that feed the model).

A new dataset reader plugs in as a module beside ``nih.py``: a function with the signature of
``labels.DatasetReader`` (data folder, label file, views, image limit -> ``LabelledImages``,
one ``Sample`` per labelled image with its findings in the model's label names and its patient
id, which the split keeps together). ``trainer.pipeline.prepare.prepare_data`` takes the reader
as its ``reader`` argument (``nih.load_labelled_images`` by default); everything after it (split,
cache, training, evaluation, export) works on ``LabelledImages`` alone.
"""
