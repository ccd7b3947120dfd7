"""Models: pooled analyses (``pool``), their batched kernels (``engine``), the analyses
of a fitted model (``robustness``), Bayesian (``bayes``) and sequential (``sequential``)
methods. Import the module you need; nothing is imported here, to keep start-up light."""
