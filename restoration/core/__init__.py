"""One frame's restore: compute choice, the method registry, detect-then-fill shared by every caller."""
