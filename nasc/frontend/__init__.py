"""Front ends: the .nas language (lark) and YAML, both producing the same IR."""
