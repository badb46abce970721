"""Running the book: profiles through papermill, sweeps, results, the HTML build."""
