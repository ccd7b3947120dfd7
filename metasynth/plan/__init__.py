"""The analysis specification: the option table (``options``), the spec it generates
(``spec``), the one function that resolves table defaults, presets, the plan file and
overrides into a spec (``resolve``), and the plan file's schema (``file``)."""
