"""Running chapters: the papermill runner, kernels, run locks, memory and disk budgets, preflight,
prepare (stages ahead of the chapters, on many processes or GPUs), sweeps and the control search."""
