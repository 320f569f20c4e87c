"""arq workers: thin job functions that call core."""
