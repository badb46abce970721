"""The data: worlds (HOI-Synth, HICO-DET), the HICO-format reader, pairs, crops, splits."""
