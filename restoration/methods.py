"""The detectors and inpainters a restoration can use, and which are the defaults.

Kept free of heavy imports so that command-line help and flow signatures can name the defaults
without loading torch.
"""

# The diffusion pair is the default: on the benchmark (benchmarks/RESULTS.md) its detection F1 is higher
# at every level on every clip, and its in-mask PSNR in 11 of 12 cells. The classical pair is the fast
# fallback.
DEFAULT_DETECTOR = "diffedit"
DEFAULT_INPAINTER = "palette"

# name -> what it is, as the provenance records it
DETECTORS = {
    "diffedit": "DiffEdit mask from a class-conditional diffusion model, verifying temporal proposals",
    "temporal": "classical: motion-compensated spike detector (Kokaram SDIp)",
    "sd-diffedit": "text DiffEdit with a Stable Diffusion folder ('damaged film photo' vs 'film photo'), GPU",
}
INPAINTERS = {
    "palette": "Palette-style conditional diffusion inpainting with warped neighbours, DDIM",
    "temporal_median": "classical: motion-compensated temporal median, Telea where no neighbour is valid",
    "sd-inpaint": "Stable Diffusion inpainting (or legacy latent masking) on crops around the damage, GPU",
}
# The methods that run the latent backend (restoration.latent): they need a weights folder.
LATENT_METHODS = ("sd-diffedit", "sd-inpaint")
