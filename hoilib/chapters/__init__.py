"""One module per chapter (what its notebook calls), the explorer and the plots."""
