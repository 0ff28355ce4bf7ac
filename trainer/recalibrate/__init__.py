"""``cxr-train calibrate``: recalibrate an exported pair on a site's own labelled images.

``command`` (the parser), ``run`` (the steps), ``score`` (the original pair on the images: raw
logits, probabilities, OOD scores), ``fit`` (calibration, thresholds, OOD threshold on the fit
part), ``holdout`` (original against new on the held-out part, paired patient bootstrap),
``graph`` (where the calibration sits in the ONNX graphs, and the rewritten graphs), ``write``
(the new pair beside the original, checked) and ``table`` (the Markdown tables).
"""
