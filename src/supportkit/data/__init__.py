"""Reading files into examples (validated, with line numbers), and later tokenization and splits."""
