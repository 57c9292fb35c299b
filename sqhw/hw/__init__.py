"""Hardware numbers: board files, synthesis and place-and-route wrappers."""
