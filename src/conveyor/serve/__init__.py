"""What a model's service uses from conveyor at run time: the sampled inference log that
`conveyor monitor drift` reads. Imports stay light (`bentoml build` imports the service)."""
