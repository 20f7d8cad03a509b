"""Multi-step jobs behind the CLI and the one executor they map work with."""
