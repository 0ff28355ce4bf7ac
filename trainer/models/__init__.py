"""The models stage: the network every architecture shares, and starting weights for it.

``archs`` is the registry of ``--arch`` (each architecture's trunk and Grad-CAM layer) and the
place a new architecture plugs in: one ``@register`` builder (see its docstring). ``network``
is ``CxrNet``, that trunk under the one head the export relies on (Grad-CAM layer, global
average pooling, one linear layer), over grey input normalised inside the model. ``weights``
loads a user's weights file into it (``--weights``).

Model importers plug in beside ``weights.py``: it is today's importer, of a state-dict file in
the layouts of torchvision, ``nn.DataParallel``, CheXNet-style wrappers, pre-0.3 DenseNet and
this trainer, mapped onto a registered architecture by key names and refused unless the whole
trunk fits (``load_weights(model, path) -> LoadReport``). An importer of another project's
model (its own key names, labels or head) is a module here that produces the same thing, a
``CxrNet`` of a registered architecture with its weights loaded, after which evaluation and
export are the trainer's own (``trainer.pipeline.finish``).
"""
