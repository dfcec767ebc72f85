"""Stage 0: each domain's environment described as API specs."""
