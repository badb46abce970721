"""A diffusion model over text embeddings, and the bridge that moves vision features into its distribution."""
