"""An EZ-HOI-style model on frozen CLIP: text prompts, text adapter, descriptor attention, pair fusion."""
