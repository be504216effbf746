"""The model of this project: a small tabular regression, from data to a served BentoML model."""
