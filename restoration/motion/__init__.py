"""Motion compensation: optical flow, warping, occlusion and cut checks, neighbour choice."""
