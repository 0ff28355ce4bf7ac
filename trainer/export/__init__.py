"""The export stage: a trained network as the model pair the viewer runs, with its card.

``graphs`` (what ``NAME.onnx`` and ``NAME.gradcam.onnx`` compute, ``model_id_of``), ``pair``
(``export_pair``: write both with the card, check, or remove them), ``checks`` (onnx.checker,
the viewer's ``ModelPair.open``, ONNX Runtime vs PyTorch, the sidecar vs autograd and
pytorch-grad-cam), ``card`` (the card fields the trainer knows), ``randomisation`` (the Grad-CAM
maps' parameter-randomisation sanity check: recorded, never refuses the export) and ``int8`` (the
int8 copy of a pair: quantisation, and the exporter's measured ``--int8`` variant).
"""
