"""HOI-Synth: the procedurally generated world the book runs on by default."""
