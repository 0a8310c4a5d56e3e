"""The dev stack: the umbrella `anima` command, local process launchers, the demo, the terminal
chat, in-process adapters for tests. Services never import it."""
