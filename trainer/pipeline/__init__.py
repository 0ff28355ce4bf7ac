"""The run from folder to model pair, as named steps over the stages' packages.

``run`` is ``cxr-train train`` (``train_run``) and ``cxr-train export`` (``export_checkpoint``);
both start with ``prepare.prepare_data`` (find, split, cache) and end in ``finish.finish``:
calibrate and choose thresholds on validation, measure on test, write the predictions and
metrics, export the ONNX pair with its card, draw the gallery.

Output folder::

    config.yaml / config.json   the resolved configuration
    split.csv, {train,val,test}_list.txt   every image with its patient and split; the lists
    train.log, history.csv/.json  what happened, epoch by epoch
    checkpoints/last.pt         resumable state;  best.pt: best weights;  model.pt: the chosen ones
    predictions_val.csv, predictions_test.csv   in cxr-viewer batch columns
    metrics.json                test AUROCs with intervals, micro AUROC, PR-AUC, operating points,
                                ECE before/after calibration, thresholds, calibration, split
    evaluation.md, roc_curves.png  the test figures beside the published AUROCs; the ROC curves
    NAME.onnx, NAME.gradcam.onnx, export_checks.json, gallery.png
    cache/                      preprocessed pixels (unless --cache-dir)
"""
