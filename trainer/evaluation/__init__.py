"""The evaluation stage: what a model's scores are worth, measured the ways the literature does.

``metrics`` (AUROC with patient-bootstrap intervals, micro AUROC, PR-AUC, operating points,
the calibration error), ``thresholds`` and ``threshold_rules`` (each label's threshold by a
rule, the validation ROC of the card),
``calibrate`` (per-label temperature/Platt scaling, baked into the exported graph),
``predictions`` (predictions CSVs: a run's, and ``cxr-train evaluate`` on anyone's),
``published`` and ``roc_plot`` (the comparison table and the ROC curves of a run), and what
``cxr-train report`` adds: ``localize`` (Wang et al.'s boxes, the pointing game), ``subgroups``,
``expert_labels`` (Google 2019) and ``tta`` (test-time augmentation).
"""
