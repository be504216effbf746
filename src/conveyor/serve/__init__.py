"""What a model's service uses from conveyor at run time: the sampled inference log that
`conveyor monitor drift` reads, the Prometheus metrics deploy/monitoring's rules read, and a
bounded endpoint label on BentoML's own request metrics.
Imports stay light (`bentoml build` imports the service)."""

# The modules a service imports.
__all__ = ["endpoint_labels", "inference_log", "metrics"]
