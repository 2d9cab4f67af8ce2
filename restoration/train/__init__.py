"""Training: the detector, the inpainter, the latent fine-tune, checkpoints."""
