"""Reusable widgets of the app: plots, the hyperparameter form, the gradient readout, the prompt."""
