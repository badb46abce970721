"""Models: CLIP loading and the small CLIP, features, EZ-HOI, the text diffusion model."""
