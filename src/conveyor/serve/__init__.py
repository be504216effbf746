"""What a model's service uses from conveyor at run time: the sampled inference log that
`conveyor monitor drift` reads, and the Prometheus metrics deploy/monitoring's rules read.
Imports stay light (`bentoml build` imports the service)."""

# The modules a service imports.
__all__ = ["inference_log", "metrics"]
