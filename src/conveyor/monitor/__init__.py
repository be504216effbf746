"""Monitoring: drift of production inputs and predictions against the training reference, the
markdown/JSON/PNG report, and the decision about the one `drift` GitHub issue.

Statistics come from scipy (``scipy.stats.ks_2samp``, ``scipy.stats.wasserstein_distance``,
``scipy.special.rel_entr`` for PSI); numeric PSI bins are numpy quantile edges of the reference.
"""

# The modules the CLI uses; stats and frames are drift's own.
__all__ = ["config", "drift", "drift_report", "issue", "plots"]
