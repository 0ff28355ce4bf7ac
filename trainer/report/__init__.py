"""The report stage: what an exported model pair does, measured through the viewer's own code.

``command`` is ``cxr-train report`` (its parser and run); ``sections`` chooses the images (a
split of the run that trained the model, checked against the card's split hash), runs the pair
through ``viewer.core.inference.Predictor`` and measures them (AUROC with TTA, localisation,
subgroups, expert labels, from ``trainer.evaluation``); ``markdown`` writes ``report.md``.
``gallery`` draws a run's ``gallery.png``: test images with the exported pair's Grad-CAM.
"""
