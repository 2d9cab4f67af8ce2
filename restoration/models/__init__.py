"""The networks: U-Net builders and schedules, safetensors weights, the weights registry, the latent model."""
