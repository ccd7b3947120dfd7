"""Simulated operating characteristics of the methods on trials like the evidence's
(``metasynth simulate``): scenarios (``scenarios``), the batched fits and their sums
(``kernels``), the seeded loop (``run``) and the result (``result``)."""
