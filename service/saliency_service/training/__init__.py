"""Training and fine-tuning with robustness recipes: plain functions over a model, a data set and
a recipe (no gRPC), used by the `saliency-train` command (train_cli.py).

recipes.py: the recipes (standard, noise, SAT, PGD-AT, TRADES and their combinations, FGSM-RS);
perturbations.py: where a recipe's perturbation starts (the SAT rule); inner.py: the inner
maximisations and TRADES' loss; steps.py: one step; loop.py: epochs, checkpoints
(checkpoint.py) and the progress bar (progress.py); data.py, folder.py: data sets with weak
saliency from masks and boxes; teacher.py: saliency from a teacher through the explainers;
evaluation.py: clean, PGD and AutoAttack accuracy; model_folder.py: the model folder written.
"""
