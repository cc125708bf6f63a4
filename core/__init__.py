"""What the simulation workers and the trainer share. Imports nothing of the project's other packages."""
