"""Inpainters: each fills a frame's masked pixels and leaves every other pixel bit-exact."""
