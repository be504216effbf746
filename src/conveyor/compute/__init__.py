"""Where the data stages run: in this process (pandas/polars) or on Spark (params.yaml
`compute:`). The session is started here, once per process, with its usage errors checked first."""

__all__ = ["params", "session"]
