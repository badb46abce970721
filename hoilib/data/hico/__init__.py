"""Official HICO-DET class lists and zero-shot splits, shipped as package data."""
